"""Text blocks of a rendered page without OCR: Design2Code's recoloured renders.

The page is screenshotted as it is; then the elements owning text (see recolor.js) are given
colours from a palette and screenshotted, and again with every palette colour shifted by
`SHIFT` in each channel. As in Design2Code, a block's pixels are those within `TOLERANCE` of its
colour in the first recoloured screenshot that moved by `SHIFT` (within twice the tolerance)
in the second: fully covered glyph pixels, since antialiased edges move by less. Their extent
is the block's box; the mean of the original screenshot there, truncated to integers, is the
text colour. A block with no such pixel (invisible, clipped, or text too thin to cover a whole
pixel) is left out, as OCR would not see it either. Block texts are lowercased.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import io
import itertools

import numpy as np
from PIL import Image

from render_service.types import RenderRequest, RenderResult
from render_service.web.browser import PageError
from render_service.web.renderer import SlideHtmlRenderer, WebRenderer

RECOLOR = importlib.resources.files("render_service.metrics").joinpath("recolor.js").read_text()
# Design2Code's palette: every channel in 10, 26, ..., 250 (16 levels, 4,096 colours), so
# colours are 16 apart and the tolerance below never confuses two of them.
LEVELS = np.arange(10, 251, 16)
PALETTE = [tuple(int(v) for v in rgb) for rgb in itertools.product(LEVELS, repeat=3)]
SHIFT, TOLERANCE = 50, 4


def shifted(colors: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    return [tuple((c + SHIFT) % 256 for c in rgb) for rgb in colors]


def find_blocks(original_png: bytes, first_png: bytes, second_png: bytes, texts: list[str]):
    """Blocks {"text", "bbox" (x0, y0, x1, y1 px), "color" (r, g, b)} and the page size, from
    the original screenshot and the two recoloured ones (`PALETTE`, then `shifted(PALETTE)`)."""
    images = [_rgb(png) for png in (original_png, first_png, second_png)]
    height = min(image.shape[0] for image in images)
    width = min(image.shape[1] for image in images)
    before, first, second = (image[:height, :width].astype(np.int16) for image in images)
    moved = np.all(np.abs((first + SHIFT) % 256 - second) <= 2 * TOLERANCE, axis=-1)
    ys, xs = np.nonzero(moved)
    value = first[ys, xs]
    level = np.clip(np.rint((value - LEVELS[0]) / 16).astype(np.int64), 0, len(LEVELS) - 1)
    near = np.all(np.abs(value - LEVELS[level]) <= TOLERANCE, axis=-1)
    runs = (level[:, 0] * 256 + level[:, 1] * 16 + level[:, 2])[near]
    ys, xs = ys[near], xs[near]
    blocks = []
    for run in np.unique(runs[runs < len(texts)]):
        mine = runs == run
        y, x = ys[mine], xs[mine]
        blocks.append(
            {
                "text": texts[run].lower(),
                "bbox": (float(x.min()), float(y.min()), float(x.max() + 1), float(y.max() + 1)),
                "color": tuple(int(c) for c in before[y, x].mean(axis=0).astype(int)),
            }
        )
    return {"width": width, "height": height, "blocks": blocks}


def _rgb(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


class _BlockMixin:
    """Adds `metrics["blocks"]` to results of requests with `options={"blocks": True}`."""

    def render(self, request: RenderRequest) -> RenderResult:
        result = super().render(request)
        if not result.ok or not request.options.get("blocks"):
            return result
        javascript = bool(request.options.get("javascript", self.config.web_javascript))
        try:  # the same page as the render above: same JavaScript setting
            with self.browser.page(request.code, javascript=javascript) as page:
                original, _, _ = self.screenshot(page)
                texts = self.browser.evaluate(page, RECOLOR, PALETTE)
                first, _, _ = self.screenshot(page)
                self.browser.evaluate(page, RECOLOR, shifted(PALETTE))
                second, _, _ = self.screenshot(page)
        except PageError as err:
            return RenderResult(id=request.id, ok=False, error=str(err))
        blocks = find_blocks(original, first, second, texts)
        return dataclasses.replace(result, metrics={**result.metrics, "blocks": blocks})


class BlockWebRenderer(_BlockMixin, WebRenderer):
    """The web renderer that can also find Design2Code text blocks."""


class BlockSlideRenderer(_BlockMixin, SlideHtmlRenderer):
    """The HTML slide renderer that can also find Design2Code text blocks."""
