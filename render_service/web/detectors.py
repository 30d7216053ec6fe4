"""Defect detectors for rendered HTML: each reads a `Layout` and returns `Finding`s.

A finding names the elements that cause it and, per element, the CSS properties whose
declarations decide it; the renderer turns those into source lines with `CssTracer`. Tolerances
are in CSS pixels and stand for sub-pixel rounding, not for tuning.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter
from typing import Any

from render_service.contrast import Color, contrast_ratio, from_255, over, painted_text
from render_service.geometry import area, intersection, outside, overlaps, union
from render_service.types import BBox
from render_service.web.layout import Layout, parse_color

EPS = 2.0  # px; less than this is rounding, not a visible defect
MOVES_X = ("left", "right", "margin-left", "margin-right", "transform", "width", "min-width")
MOVES_Y = ("top", "bottom", "margin-top", "margin-bottom", "transform", "height", "min-height")
CLIP_X = ("overflow-x", "width", "max-width")
CLIP_Y = ("overflow-y", "height", "max-height")
TEXT_WIDTH = ("font-size", "white-space", "letter-spacing")


@dataclasses.dataclass(frozen=True)
class Finding:
    """A defect before tracing: `causes` pairs tag indices with the CSS properties to trace
    (none: the element is named, its markup line blamed, but no declaration of it)."""

    kind: str
    severity: float
    bbox: BBox | None
    message: str
    causes: tuple[tuple[int, tuple[str, ...]], ...]
    # Drop the finding unless an author declaration (not a browser default) decides it.
    needs_author_css: bool = False


def _describe(e: dict[str, Any]) -> str:
    return f"<{e['tag']}>"


def clipped_content(layout: Layout) -> list[Finding]:
    """Content cut by an ancestor's (or, for text, its own) `overflow: hidden` box: cut text is
    `clipped_text`, cut images and painted boxes `overflow`. One finding per container and kind;
    containers too small to show anything (visually-hidden idioms) are left alone."""
    groups: dict[tuple[str, int], list[tuple[dict, BBox]]] = {}
    for e in layout.snapshot["elements"]:
        for kind, painted, include_self in (
            ("clipped_text", layout.text_box(e), True),
            ("overflow", e["box"] if layout.visible(e) and layout.paints_box(e) else None, False),
        ):
            if painted is None or area(painted) == 0:
                continue
            for clip in layout.clippers(e["i"], include_self):
                frame = clip["box"]
                if frame[2] - frame[0] < 4 or frame[3] - frame[1] < 4:
                    break
                cut_x, cut_y = layout.clips(clip)
                left, top, right, bottom = outside(painted, frame)
                if (cut_x and max(left, right) > EPS) or (cut_y and max(top, bottom) > EPS):
                    groups.setdefault((kind, clip["i"]), []).append((e, painted))
                    break
    findings = []
    for (kind, clip_index), cut in groups.items():
        if kind == "overflow":
            # A cut button or badge whose text is cut too is one defect: clipped text.
            text_cut = {e["i"] for e, _ in groups.get(("clipped_text", clip_index), ())}
            cut = [(e, box) for e, box in cut if e["i"] not in text_cut]
            if not cut:
                continue
        clip = layout.elements[clip_index]
        painted = union(box for _, box in cut)
        hidden = area(painted) - area(intersection(painted, clip["box"]))
        what = "text" if kind == "clipped_text" else "content"
        left, top, right, bottom = outside(painted, clip["box"])
        across, down = max(left, right) > EPS, max(top, bottom) > EPS
        # The box's size on the axis it cuts decides; a text's size only when it is cut
        # sideways (a line that does not wrap), a box's placement when it is cut at all.
        causes = [(clip_index, (CLIP_X if across else ()) + (CLIP_Y if down else ()))] + [
            (
                e["i"],
                (TEXT_WIDTH if across else ()) if kind == "clipped_text" else MOVES_X + MOVES_Y,
            )
            for e, _ in cut
        ]
        findings.append(
            Finding(
                kind,
                min(1.0, hidden / max(area(painted), 1.0)),
                painted,
                f"{what} of {', '.join(sorted({_describe(e) for e, _ in cut}))} is cut off by "
                f"the overflow: hidden box of {_describe(clip)}; give the box room or the "
                f"{what} less size",
                tuple(causes),
            )
        )
    return findings


def _clipped(layout: Layout, index: int) -> bool:
    return next(layout.clippers(index, include_self=False), None) is not None


def _outermost(layout: Layout, offenders: list[dict]) -> list[dict]:
    """Offenders without an offending ancestor: where the problem starts."""
    chosen = {e["i"] for e in offenders}
    return [e for e in offenders if not any(a["i"] in chosen for a in layout.ancestors(e["i"]))]


def page_overflow(layout: Layout, width: float) -> list[Finding]:
    """Web pages: content wider than the viewport (a horizontal scrollbar)."""
    if layout.snapshot["scrollWidth"] <= width + 1:
        return []
    # Boxes, not only painted ones: an invisible wide box makes the scrollbar all the same.
    reach = {
        e["i"]: union([e["box"], *e["textRects"]])
        for e in layout.snapshot["elements"]
        if layout.visible(e) and area(e["box"]) + len(e["textRects"]) > 0
    }
    offenders = [
        layout.elements[i]
        for i, box in reach.items()
        if box[2] > width + EPS and not _clipped(layout, i)
    ]
    return [
        Finding(
            "overflow",
            min(1.0, (reach[e["i"]][2] - width) / width),
            reach[e["i"]],
            f"{_describe(e)} reaches {reach[e['i']][2] - width:.0f}px past the {width:.0f}px "
            "viewport and makes the page scroll sideways; narrow it or let it wrap",
            ((e["i"], _overflow_causes(e, width)),),
        )
        for e in _outermost(layout, offenders)
    ]


def _overflow_causes(e: dict, width: float) -> tuple[str, ...]:
    """What makes an element reach past the viewport: its own size when the box alone is
    wider than the page (its width or minimum width, or, where the content would fit, the
    padding around it), a line of its text that runs past its box, or else where it is put (a
    flex item's basis pushes the items after it along)."""
    box = e["box"]
    causes: tuple[str, ...] = ()
    if box[2] - box[0] > width + EPS:
        content_fits = box[2] - box[0] - e.get("paddingX", 0) <= width + EPS
        causes += ("padding-left", "padding-right") if content_fits else ("width", "min-width")
    if any(r[2] > box[2] + EPS for r in e["textRects"]):
        causes += TEXT_WIDTH
    return causes or (*MOVES_X, "flex-basis")


def off_canvas(layout: Layout, canvas: BBox, whole_canvas: bool) -> list[Finding]:
    """Painted content past the canvas edge. Slides (`whole_canvas`) own all four edges and
    every element; a web page scrolls right and down, so only content cut at its left or top
    edge counts there, and wholly hidden content is the usual skip-link idiom, not a defect.
    Siblings that leave the canvas together (a list too long for the slide) are one finding."""
    offenders = []
    for e in layout.snapshot["elements"]:
        box = layout.extent(e)
        if box is None or area(box) == 0 or _clipped(layout, e["i"]):
            continue
        left, top, right, bottom = outside(box, canvas)
        past = max(left, top, right, bottom) if whole_canvas else max(left, top)
        if past > EPS and (whole_canvas or overlaps(box, canvas)):
            offenders.append(e)
    edge = (
        f"the {canvas[2]:.0f}x{canvas[3]:.0f} canvas" if whole_canvas else "the page's left or top"
    )
    by_parent: dict[int, list[dict]] = {}
    for e in _outermost(layout, offenders):
        by_parent.setdefault(e["parent"], []).append(e)
    findings = []
    for group in by_parent.values():
        box = union(layout.extent(e) for e in group)
        shown = area(intersection(box, canvas))
        causes = []
        for e in group:
            left, top, right, bottom = outside(layout.extent(e), canvas)
            moves = (MOVES_X if max(left, right) > EPS else ()) + (
                MOVES_Y if max(top, bottom) > EPS else ()
            )
            causes.append((e["i"], moves))
        findings.append(
            Finding(
                "off_canvas",
                1.0 - shown / area(box),
                box,
                f"{', '.join(sorted({_describe(e) for e in group}))} lies "
                f"{100 * (1 - shown / area(box)):.0f}% outside {edge}; move, shrink or shorten it",
                tuple(causes),
            )
        )
    return findings


def text_overlaps(layout: Layout) -> list[Finding]:
    """Text of two unrelated elements drawn over each other. Line boxes include leading, so the
    shared region must cover a quarter of the smaller font's size in height and half of it in
    width, and both elements must be hit where they meet (painted there, not clipped away),
    unless hit testing passes through one (`pointer-events: none`)."""
    findings = []
    for pair in layout.snapshot["overlaps"]:
        a, b = layout.elements[pair["a"]], layout.elements[pair["b"]]
        if not (layout.visible(a) and layout.visible(b)):
            continue
        x0, y0, x1, y1 = pair["rect"]
        size = min(a["fontSize"], b["fontSize"])
        if y1 - y0 < 0.25 * size or x1 - x0 < 0.5 * size:
            continue
        if not all(layout.tag_of(x["i"]) in pair["stack"] or not x["hittable"] for x in (a, b)):
            continue
        causes = _displacements(layout, a, b)
        if not any(props for _, props in causes):
            moves = ("position", *MOVES_X, *MOVES_Y, "line-height")
            causes = ((a["i"], moves), (b["i"], moves))
        findings.append(
            Finding(
                "text_overlap",
                min(1.0, (y1 - y0) / size),
                (x0, y0, x1, y1),
                f"text of {_describe(a)} and {_describe(b)} is drawn on top of each other; "
                "separate them",
                ((a["i"], ()), (b["i"], ()), *causes),
            )
        )
    return findings


_SIDES = ("top", "right", "bottom", "left")


def _displacements(layout: Layout, a: dict, b: dict) -> tuple[tuple[int, tuple[str, ...]], ...]:
    """The unusual placements that can put two texts on each other: line-heights below the
    font size, negative margins, offsets of positioned boxes and transforms, on the two
    elements and their ancestors below the one they share."""
    shared = {x["i"] for x in layout.ancestors(a["i"])} & {x["i"] for x in layout.ancestors(b["i"])}
    found = []
    for e in (a, b):
        chain = [e, *(x for x in layout.ancestors(e["i"]) if x["i"] not in shared)]
        for x in chain:
            props: tuple[str, ...] = ()
            if x is e and 0 < x["lineHeight"] < x["fontSize"]:
                props += ("line-height",)
            props += tuple(f"margin-{side}" for side, m in zip(_SIDES, x["margins"]) if m < -EPS)
            if x["position"] != "static":
                props += _SIDES
            if x["transformed"]:
                props += ("transform",)
            if props:
                found.append((x["i"], props))
    return tuple(found)


def overprinted_lines(layout: Layout) -> list[Finding]:
    """Wrapped lines of one text printed over each other: consecutive lines whose tops are
    less than 0.8 of the font size apart (a line-height well below 1), so one line's
    descenders run into the next one's capitals. Measured by the lines' pitch, not by how much
    their rectangles share: those are as tall as the font's ascent plus descent, which ranges
    from about 1.05 to 1.4 font sizes, so at `line-height: 1` some fonts' rectangles share a
    third of a line while nothing touches."""
    findings = []
    for e in layout.text_elements():
        rects, size = e["textRects"], e["fontSize"]
        pitches = [
            abs(b[1] - a[1])
            for a, b in itertools.pairwise(rects)
            if min(a[2], b[2]) - max(a[0], b[0]) >= 0.5 * size
        ]
        pitch = min(pitches, default=size)
        if pitch >= 0.8 * size:
            continue
        findings.append(
            Finding(
                "text_overlap",
                min(1.0, (size - pitch) / size),
                layout.text_box(e),
                f"the wrapped lines of {_describe(e)} are printed over each other (lines "
                f"{pitch:.0f}px apart for {size:.0f}px text); raise its line-height",
                ((e["i"], ("line-height",)),),
            )
        )
    return findings


# The strongest pixel of a text reaches at least this share of its colour's difference from
# the ground: antialiasing fades thin stems (measured on Chromium here, every installed family
# and weight: 0.53 for 7px DejaVu Sans ExtraLight, 0.75 from 10px, 1 for most text from 12px).
# A text shown fainter than that is painted in another colour than CSS declares.
HONEST_REACH = 0.5
# What changes the colour a text is painted in, beyond its own colour declarations.
REPAINT = ("opacity", "filter", "mix-blend-mode")


def low_contrast(layout: Layout) -> list[Finding]:
    """WCAG AA text contrast (4.5:1, or 3:1 for text of 24px, or 18.66px bold).

    First as axe-core's color-contrast rule computes it from CSS: the text's colour
    (`-webkit-text-fill-color` over `color`, faded by the opacity of the element and its
    ancestors) over the backgrounds painted under it, composited down to the page canvas.
    Then from the screenshot, inside the text's line boxes on a plain ground: where the text is
    shown fainter than antialiasing explains (a filter, a blend mode, a veil painted over it),
    or where CSS cannot say (a transparent fill, a colour space the parser does not read, a
    background image, text that hit testing passes through), the pixels decide."""
    findings = []
    for e in layout.text_elements():
        fill, ground, owner = _declared(layout, e)
        declared = contrast_ratio(fill, ground) if fill is not None and ground is not None else None
        shown = painted_text(layout.pixels, _uncut_lines(layout, e), fill)
        repainted = shown is not None and (declared is None or shown.reach < HONEST_REACH)
        ratio = shown.ratio if repainted else declared
        large = e["fontSize"] >= 24 or (e["fontSize"] >= 18.66 and e["fontWeight"] >= 700)
        need = 3.0 if large else 4.5
        if ratio is None or ratio >= need:
            continue
        causes = [(e["i"], ("color", "-webkit-text-fill-color", "opacity"))]
        if repainted:
            causes = [(e["i"], ("color", "-webkit-text-fill-color", *REPAINT, "background-clip"))]
            causes += [(a["i"], REPAINT) for a in layout.ancestors(e["i"]) if a["repaints"]]
            causes += [(i, ("background-color", "opacity")) for i in e.get("above", ())]
        if owner is not None:
            causes.append((owner, ("background-color",)))
        findings.append(
            Finding(
                "low_contrast",
                (need - ratio) / need,
                layout.text_box(e),
                f"text of {_describe(e)} has contrast {ratio:.2f}:1 against its background, "
                f"below the {need:g}:1 needed; darken or lighten one of them",
                tuple(causes),
            )
        )
    return findings


def _uncut_lines(layout: Layout, e: dict) -> list[BBox]:
    """The text's line boxes that no clipping box cuts: the screenshot shows them whole. A cut
    line (clipped text, a visually-hidden label) shows the ground where its glyphs were cut
    away, which is not a faint colour."""
    clips = list(layout.clippers(e["i"], include_self=True))

    def cut(line: BBox, clip: dict) -> bool:
        left, top, right, bottom = outside(line, clip["box"])
        across, down = layout.clips(clip)
        return (across and max(left, right) > EPS) or (down and max(top, bottom) > EPS)

    return [r for r in e["textRects"] if not any(cut(r, clip) for clip in clips)]


def _declared(layout: Layout, e: dict) -> tuple[Color | None, Color | None, int | None]:
    """The text's colour and what lies beneath it as CSS declares them (0-1 channels; None
    where CSS cannot say), and the tagged element whose background shows beneath it."""
    fill = parse_color(e["fill"])
    if fill is not None:
        fill = (*fill[:3], fill[3] * e["alpha"])
    fill = from_255(fill) if fill is not None and fill[3] > 0 else None
    layers = e.get("layers")
    if not layers or any(layer["image"] for layer in layers):
        return fill, None, None
    colors = [parse_color(layer["color"]) for layer in layers]
    if any(c is None for c in colors):
        return fill, None, None
    ground = from_255(layout.canvas_color())
    for color in reversed(colors):
        ground = over(from_255(color), ground)
    owner = next((lay["i"] for lay, c in zip(layers, colors) if c[3] > 0 and lay["i"] >= 0), None)
    return fill, ground, owner


def _groups(items: list[dict], axis: int) -> list[list[dict]]:
    """Connected runs of items side by side along `axis` (0: a row, 1: a column): overlapping
    by more than half of the smaller size across the axis and not overlapping along it."""
    across = 1 - axis
    linked: dict[int, set[int]] = {e["i"]: set() for e in items}
    for m, a in enumerate(items):
        for b in items[m + 1 :]:
            pa, pb = a["box"], b["box"]
            shared = min(pa[across + 2], pb[across + 2]) - max(pa[across], pb[across])
            smaller = min(pa[across + 2] - pa[across], pb[across + 2] - pb[across])
            apart = min(pa[axis + 2], pb[axis + 2]) - max(pa[axis], pb[axis]) <= 1
            if shared > 0.5 * smaller and apart:
                linked[a["i"]].add(b["i"])
                linked[b["i"]].add(a["i"])
    seen, groups = set(), []
    by_index = {e["i"]: e for e in items}
    for e in items:
        if e["i"] in seen or not linked[e["i"]]:
            continue
        stack, group = [e["i"]], []
        seen.add(e["i"])
        while stack:
            i = stack.pop()
            group.append(by_index[i])
            for j in linked[i] - seen:
                seen.add(j)
                stack.append(j)
        groups.append(group)
    return groups


def _anchors(e: dict, axis: int) -> dict[str, float]:
    """Edges an item of a row (axis 0) or column (axis 1) may be aligned by."""
    box = e["box"]
    lo, hi = box[1 - axis], box[3 - axis]
    anchors = {"start": lo, "center": (lo + hi) / 2, "end": hi}
    if axis == 0 and e["textRects"]:
        anchors["baseline"] = e["textRects"][0][3] - 0.2 * e["fontSize"]
    return anchors


_FLOW_BLOCKS = frozenset({"block", "flex", "grid", "list-item", "table", "flow-root"})
_STRETCH = frozenset({"normal", "stretch"})


def _stretched(layout: Layout, e: dict, axis: int) -> bool:
    """Whether the item's far edge across the axis is its container's: a block filling its
    container's width (columns), a flex or grid item stretched to its row's height (rows)."""
    parent = layout.elements.get(e["parent"])
    if parent is None or e["position"] not in ("static", "relative"):
        return False
    align = e["alignSelf"] if e["alignSelf"] != "auto" else parent["alignItems"]
    flex = parent["display"] in ("flex", "inline-flex")
    grid = parent["display"] in ("grid", "inline-grid")
    if axis == 0:
        return align in _STRETCH and (grid or (flex and parent["flexDirection"].startswith("row")))
    if grid or (flex and parent["flexDirection"].startswith("column")):
        return align in _STRETCH
    return e["display"] in _FLOW_BLOCKS and not flex


def misalignment(layout: Layout) -> list[Finding]:
    """Siblings laid out as a row whose tops, centers, bottoms and baselines all disagree, or as
    a column whose lefts, centers and rights all disagree. The items off the most common line
    are reported when they nearly meet it (off by less than half the smallest item's size), and
    only where an author declaration places them (not browser defaults)."""
    findings = []
    for siblings in layout.children.values():
        items = [
            layout.elements[i]
            for i in siblings
            if layout.visible(layout.elements[i])
            and area(layout.elements[i]["box"]) > 0
            and layout.elements[i]["display"] not in ("inline", "contents")
        ]
        # Placed boxes line up with placed boxes, flowing ones with flowing ones.
        placed = [e for e in items if e["position"] in ("absolute", "fixed")]
        flowing = [e for e in items if e["position"] not in ("absolute", "fixed")]
        findings += _misaligned(layout, placed) + _misaligned(layout, flowing)
        findings += _staggered(layout, flowing)
    return findings


_OFF_START = frozenset({"center", "end", "flex-end", "self-end", "safe center", "unsafe center"})


def _staggered(layout: Layout, items: list[dict]) -> list[Finding]:
    """Cards (text in a painted box) of different heights side by side in a flex or grid row
    that places them by their centers or bottoms: their tops, the edge a row of cards is read
    by, are staggered. Traced to the container's align-items and the cards' align-self. Boxes
    under 2.5 lines of their text tall are chips and badges, which are centered by design."""
    cards = [
        e
        for e in items
        if layout.paints_box(e) and not e["replaced"] and layout.has_text(e["i"])
        and e["box"][3] - e["box"][1] >= 2.5 * e["fontSize"]
        and (parent := layout.elements.get(e["parent"])) is not None
        and (parent["display"] in ("grid", "inline-grid")
             or (parent["display"] in ("flex", "inline-flex")
                 and parent["flexDirection"].startswith("row")))
    ]  # fmt: skip
    findings = []
    for row in _groups(cards, 0):
        aligns = {
            e["alignSelf"]
            if e["alignSelf"] != "auto"
            else layout.elements[e["parent"]]["alignItems"]
            for e in row
        }
        if not aligns & _OFF_START:
            continue
        tops = [e["box"][1] for e in row]
        spread = max(tops) - min(tops)
        if spread <= EPS:
            continue
        tallest = max(row, key=lambda e: e["box"][3] - e["box"][1])
        findings.append(
            Finding(
                "misalignment",
                min(1.0, spread / max(tallest["box"][3] - tallest["box"][1], 1.0)),
                union(e["box"] for e in row),
                f"the tops of {len(row)} {_describe(row[0])} cards in a row differ by up to "
                f"{spread:.0f}px: they are aligned by their {'/'.join(sorted(aligns & _OFF_START))}"
                " while their heights differ; align them to the start (or stretch them)",
                ((row[0]["parent"], ("align-items",)), *((e["i"], ("align-self",)) for e in row)),
                needs_author_css=True,
            )
        )
    return findings


# Per axis (0: rows, 1: columns): the edge named in messages and the properties that move an
# item across the axis.
_ALIGN_AXES = (
    ("top", "row", ("top", "bottom", "margin-top", "transform", "align-self", "vertical-align")),
    ("left", "column", ("left", "right", "margin-left", "transform", "align-self")),
)


def _misaligned(layout: Layout, items: list[dict]) -> list[Finding]:
    findings = []
    for axis, (edge, line, moves) in enumerate(_ALIGN_AXES):
        for group in _groups(items, axis):
            anchors = [_anchors(e, axis) for e in group]
            names = set.intersection(*(set(a) for a in anchors))
            if all(_stretched(layout, e, axis) for e in group):
                names -= {"end"}  # shared because the container sets it, not aligned by choice
            spreads = {
                name: max(a[name] for a in anchors) - min(a[name] for a in anchors)
                for name in names
            }
            best = min(spreads, key=spreads.get)
            tolerance = EPS + (
                0.15 * max(e["fontSize"] for e in group) if best == "baseline" else 0
            )
            if spreads[best] <= tolerance:
                continue
            values = [round(a[best]) for a in anchors]
            common, count = Counter(values).most_common(1)[0]
            smallest = min(max(e["box"][3 - axis] - e["box"][1 - axis], 1.0) for e in group)
            for e, value in zip(group, values):
                if count > 1 and abs(value - common) <= EPS:
                    continue
                off = abs(value - common) if count > 1 else spreads[best]
                size = max(e["box"][3 - axis] - e["box"][1 - axis], 1.0)
                if off > 0.5 * smallest:
                    continue  # not a near miss: a box this far off the line sits elsewhere
                findings.append(
                    Finding(
                        "misalignment",
                        min(1.0, off / size),
                        tuple(e["box"]),
                        f"{_describe(e)} is {off:.0f}px off the {edge} line of the other "
                        f"{len(group) - 1} items in its {line}; align it with them",
                        ((e["i"], moves),),
                        needs_author_css=True,
                    )
                )
    return findings
