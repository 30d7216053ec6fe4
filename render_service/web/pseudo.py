"""Where Chromium laid out the text that CSS generates (`content` of `::before`, `::after`,
`::marker`).

Generated text is no DOM text node: the probe's ranges cannot measure it, yet it is painted
like any other text. DevTools' DOM snapshot lists every pseudo-element's text boxes, in document
coordinates, from the browser's own layout (page scripts cannot reach it). The probe adds each
pseudo-element's computed style and measures it as text of its own.
"""

from __future__ import annotations

from playwright.sync_api import CDPSession

from render_service.web.tagging import TAG_ATTR

PSEUDO_TYPES = frozenset({"before", "after", "marker"})


def pseudo_text(cdp: CDPSession) -> list[dict]:
    """`{"host", "which", "rects"}` per pseudo-element of a tagged element that shows text:
    the host's tag index, the pseudo-element (`"after"`), its text boxes as `[x0, y0, x1, y1]`."""
    snapshot = cdp.send("DOMSnapshot.captureSnapshot", {"computedStyles": []})
    strings = snapshot["strings"]
    page = snapshot["documents"][0]  # the main frame; frames inside are not measured
    nodes, layout, boxes = page["nodes"], page["layout"], page["textBoxes"]
    kinds = dict(zip(nodes["pseudoType"]["index"], nodes["pseudoType"]["value"]))
    found: dict[tuple[int, str], list[list[float]]] = {}
    for at, (x, y, width, height) in zip(boxes["layoutIndex"], boxes["bounds"]):
        node = layout["nodeIndex"][at]
        which = strings[kinds[node]] if node in kinds else None
        if which not in PSEUDO_TYPES:
            continue
        host = _tag_index(strings, nodes["attributes"][nodes["parentIndex"][node]])
        if host is not None:
            found.setdefault((host, which), []).append([x, y, x + width, y + height])
    return [
        {"host": host, "which": which, "rects": rects} for (host, which), rects in found.items()
    ]


def _tag_index(strings: list[str], attributes: list[int]) -> int | None:
    """The host's tag index; None for an element a script made (or retagged): not measured."""
    names = [strings[i] for i in attributes[::2]]
    if TAG_ATTR not in names:
        return None
    value = strings[attributes[2 * names.index(TAG_ATTR) + 1]]
    return int(value) if value.isdigit() else None
