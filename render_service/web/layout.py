"""The probe's snapshot of a rendered page, with the geometry questions every detector asks.

`probe.js` gathers facts in the browser in one call; this module answers, in plain Python,
which elements paint something, what clips them, and what their colors are. The screenshot
comes along, for what only its pixels can tell.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import numpy as np

from render_service.geometry import area, intersection, union
from render_service.types import BBox

_RGBA = re.compile(r"rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)(?:\s*[,/]\s*([\d.]+%?))?\s*\)")
# Elements whose own box never clips content: overflow on <html>/<body> belongs to the viewport.
_VIEWPORT_TAGS = frozenset({"html", "body"})
CLIPPING = frozenset({"hidden", "clip"})


def parse_color(css: str) -> tuple[float, float, float, float] | None:
    """`rgb(r, g, b)` / `rgba(r, g, b, a)` as computed by the browser; None for other spaces."""
    match = _RGBA.fullmatch(css.strip())
    if not match:
        return None
    r, g, b, a = match.groups()
    alpha = 1.0 if a is None else float(a[:-1]) / 100 if a.endswith("%") else float(a)
    return float(r), float(g), float(b), alpha


class Layout:
    """Elements of one rendered page by tag index, in document order, then the text of their
    pseudo-elements (`host`: the element whose `::before`, `::after` or `::marker` it is)."""

    def __init__(self, snapshot: dict[str, Any], pixels: np.ndarray, slide: BBox | None = None):
        """`pixels`: the page's screenshot (RGB, document pixels from the top-left corner).
        `slide`: the canvas of an HTML slide. A box covering all of it is the slide itself
        (the usual `.slide { overflow: hidden }` wrapper), so what it cuts is off the canvas,
        not clipped inside the page."""
        self.snapshot = snapshot
        self.pixels = pixels
        self.slide = slide
        self.elements: dict[int, dict[str, Any]] = {e["i"]: e for e in snapshot["elements"]}
        # Laid-out children; a pseudo-element's text is measured as text, not as a row's item.
        self.children: dict[int, list[int]] = {}
        for e in snapshot["elements"]:
            if "host" not in e:
                self.children.setdefault(e["parent"], []).append(e["i"])

    def ancestors(self, index: int) -> Iterator[dict[str, Any]]:
        parent = self.elements[index]["parent"]
        while parent >= 0:
            yield self.elements[parent]
            parent = self.elements[parent]["parent"]

    def tag_of(self, index: int) -> int:
        """The tagged element that paints it: itself, or a pseudo-element's host (hit testing
        reports the host, and the host's markup made it)."""
        return self.elements[index].get("host", index)

    def encloses(self, outer: int, index: int) -> bool:
        """Whether `outer`'s own line boxes may span the text of `index`: an ancestor's do, its
        inline children's text runs inside them; a host's never span its pseudo-elements'."""
        if self.elements[index].get("host") == outer:
            return False
        return any(a["i"] == outer for a in self.ancestors(index))

    def paints_box(self, e: dict[str, Any]) -> bool:
        """The element's box itself is visible: an image or control, or a painted background."""
        if e["replaced"] or e["backgroundImage"]:
            return True
        color = parse_color(e["background"])
        return color is not None and color[3] > 0

    def visible(self, e: dict[str, Any]) -> bool:
        return e["rendered"] and e["opacity"] > 0.05 and e["tag"] not in _VIEWPORT_TAGS

    def text_box(self, e: dict[str, Any]) -> BBox | None:
        return union(e["textRects"]) if self.visible(e) and e["textRects"] else None

    def extent(self, e: dict[str, Any]) -> BBox | None:
        """What the element itself paints: its own text, and its box when that is painted."""
        if not self.visible(e):
            return None
        parts = list(e["textRects"])
        if self.paints_box(e) and area(e["box"]) > 0:
            parts.append(e["box"])
        return union(parts) if parts else None

    def clips(self, e: dict[str, Any]) -> tuple[bool, bool]:
        """Whether the element's box cuts its content horizontally, vertically."""
        if e["tag"] in _VIEWPORT_TAGS:
            return False, False
        if self.slide is not None and intersection(e["box"], self.slide) == tuple(self.slide):
            return False, False
        return e["overflowX"] in CLIPPING, e["overflowY"] in CLIPPING

    def clippers(self, index: int, include_self: bool) -> Iterator[dict[str, Any]]:
        """Elements, nearest first, whose box clips this element's painting."""
        chain = ([self.elements[index]] if include_self else []) + list(self.ancestors(index))
        for e in chain:
            if e["position"] == "fixed":
                return
            if any(self.clips(e)):
                yield e

    def has_text(self, index: int) -> bool:
        """Whether the element or one of its descendants shows text."""
        e = self.elements[index]
        return bool(e["textRects"]) or any(self.has_text(i) for i in self.children.get(index, ()))

    def canvas_color(self) -> tuple[float, float, float, float]:
        return parse_color(self.snapshot["canvasColor"]) or (255.0, 255.0, 255.0, 1.0)

    def text_elements(self) -> Iterator[dict[str, Any]]:
        for e in self.snapshot["elements"]:
            if e["textRects"] and self.visible(e):
                yield e
