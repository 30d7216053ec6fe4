"""The pictures people would rather look at than read: target | render with its defect boxes,
and completions with the credited lines marked (TensorBoard and the evaluation report)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping

import numpy as np
from PIL import Image, ImageDraw

from render_service.types import Defect

# One color per defect kind, so a kind reads the same across images.
KIND_COLORS = {
    "text_overlap": (230, 25, 75),
    "clipped_text": (245, 130, 48),
    "overflow": (145, 30, 180),
    "off_canvas": (70, 240, 240),
    "low_contrast": (240, 50, 230),
    "misalignment": (60, 180, 75),
    "legend_occlusion": (0, 130, 200),
    "text_overflow": (128, 0, 0),
    "layout_warning": (128, 128, 0),
}


def decode_png(png: bytes | None, size: tuple[int, int] = (320, 240)) -> Image.Image:
    if png is None:  # nothing rendered (the program failed): a grey placeholder
        return Image.new("RGB", size, (200, 200, 200))
    return Image.open(io.BytesIO(png)).convert("RGB")


def draw_defects(png: bytes | None, defects: Iterable[Defect]) -> Image.Image:
    """The render with each defect's box outlined in its kind's color and labelled."""
    image = decode_png(png)
    pen = ImageDraw.Draw(image)
    for defect in defects:
        if defect.bbox is None:
            continue
        x0, y0, x1, y1 = defect.bbox
        color = KIND_COLORS.get(defect.kind, (255, 0, 0))
        pen.rectangle((x0, y0, max(x0, x1), max(y0, y1)), outline=color, width=3)
        pen.text((x0 + 3, max(0, y0 - 12)), defect.kind, fill=color)
    return image


def side_by_side(left: Image.Image, right: Image.Image, height: int = 360) -> np.ndarray:
    """Both images scaled to `height` and placed next to each other, as an HWC uint8 array."""
    scaled = [
        im.resize((max(1, round(im.width * height / im.height)), height)) for im in (left, right)
    ]
    canvas = Image.new("RGB", (scaled[0].width + 8 + scaled[1].width, height), (255, 255, 255))
    canvas.paste(scaled[0], (0, 0))
    canvas.paste(scaled[1], (scaled[0].width + 8, 0))
    return np.asarray(canvas)


def target_vs_render(
    target_png: bytes | None, render_png: bytes | None, defects: Iterable[Defect]
) -> np.ndarray:
    return side_by_side(decode_png(target_png), draw_defects(render_png, defects))


def credited_code(
    code: str, credited_lines: Iterable[int], messages: Mapping[int, str] | None = None
) -> str:
    """The code as Markdown, each credited (1-based) line marked `>>` with its defect message."""
    credited, messages = set(credited_lines), messages or {}
    rows = []
    for number, line in enumerate(code.splitlines(), start=1):
        mark = ">>" if number in credited else "  "
        note = f"    # <- {messages[number]}" if number in messages else ""
        rows.append(f"    {mark} {number:3d} | {line}{note}")
    return "\n".join(rows)
