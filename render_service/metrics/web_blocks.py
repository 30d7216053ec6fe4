"""Text blocks of a rendered page without OCR: Design2Code's recoloured double render.

The page is screenshotted as it is, then the text of every block (a text-bearing element, as
Design2Code defines it; see recolor.js) is recoloured to a colour of its own and the page is
screenshotted again. Pixels that changed and now show exactly a block's colour are its fully
covered glyph pixels: their extent is the block's box and the original screenshot at those
pixels gives the text colour (the most common one, so antialiased edges do not blur it). A
block with no such pixel (invisible, clipped, or text too thin to cover a whole pixel) is
left out, as OCR would not see it either.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import io

import numpy as np
from PIL import Image

from render_service.types import RenderRequest, RenderResult
from render_service.web.browser import PageError
from render_service.web.renderer import SlideHtmlRenderer, WebRenderer

RECOLOR = importlib.resources.files("render_service.metrics").joinpath("recolor.js").read_text()
MAX_BLOCKS = 4096


def run_colors(count: int) -> list[tuple[int, int, int]]:
    """`count` distinct, scattered colours: a multiplicative hash of the index over 24 bits,
    so neighbouring runs differ in every channel and page colours rarely coincide."""
    codes = [(index + 1) * 2654435761 % 16777213 for index in range(count)]
    return [(code >> 16 & 255, code >> 8 & 255, code & 255) for code in codes]


def find_blocks(original_png: bytes, recolored_png: bytes, texts: list[str]) -> dict:
    """Blocks {"text", "bbox" (x0, y0, x1, y1 px), "color" (r, g, b)} and the page size."""
    before = _rgb(original_png)
    after = _rgb(recolored_png)
    height = min(before.shape[0], after.shape[0])
    width = min(before.shape[1], after.shape[1])
    before, after = before[:height, :width], after[:height, :width]
    codes = _code(after)
    wanted = np.array([_code(np.array(c)) for c in run_colors(len(texts))], dtype=np.int64)
    order = np.argsort(wanted)
    changed = np.any(before != after, axis=-1)
    ys, xs = np.nonzero(changed)
    found = codes[ys, xs]
    slot = np.clip(np.searchsorted(wanted[order], found), 0, max(len(texts) - 1, 0))
    hit = wanted[order][slot] == found if len(texts) else np.zeros(len(found), bool)
    runs, ys, xs = order[slot[hit]], ys[hit], xs[hit]
    blocks = []
    for run in np.unique(runs):
        mine = runs == run
        y, x = ys[mine], xs[mine]
        colors, counts = np.unique(before[y, x], axis=0, return_counts=True)
        blocks.append(
            {
                "text": texts[run],
                "bbox": (float(x.min()), float(y.min()), float(x.max() + 1), float(y.max() + 1)),
                "color": tuple(int(c) for c in colors[np.argmax(counts)]),
            }
        )
    return {"width": width, "height": height, "blocks": blocks}


def _rgb(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _code(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.int64)
    return rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2]


class _BlockMixin:
    """Adds `metrics["blocks"]` to results of requests with `options={"blocks": True}`."""

    def render(self, request: RenderRequest) -> RenderResult:
        result = super().render(request)
        if not result.ok or not request.options.get("blocks"):
            return result
        javascript = bool(request.options.get("javascript", self.config.web_javascript))
        try:  # the same page as the render above: same JavaScript setting
            with self.browser.page(request.code, javascript=javascript) as page:
                original, _, _ = self._screenshot(page)
                texts = page.evaluate(RECOLOR, run_colors(MAX_BLOCKS))
                recolored, _, _ = self._screenshot(page)
        except PageError as err:
            return RenderResult(id=request.id, ok=False, error=str(err))
        blocks = find_blocks(original, recolored, texts)
        return dataclasses.replace(result, metrics={**result.metrics, "blocks": blocks})


class BlockWebRenderer(_BlockMixin, WebRenderer):
    """The web renderer that can also find Design2Code text blocks."""


class BlockSlideRenderer(_BlockMixin, SlideHtmlRenderer):
    """The HTML slide renderer that can also find Design2Code text blocks."""
