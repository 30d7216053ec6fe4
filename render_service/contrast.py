"""WCAG 2 contrast, the one definition every detector uses: colours are sRGB channels on a 0-1
scale (divide 0-255 channels by 255), alpha-composited before they are compared. Also what a
screenshot shows of a text: the ground around its box and its strongest pixel."""

from __future__ import annotations

import dataclasses

import numpy as np

from render_service.types import BBox

Color = tuple[float, ...]  # (r, g, b) or (r, g, b, a), each in 0-1
# 0-255 per channel: antialiasing and encoder noise in a plain ground (as the slide measures).
PLAIN_LEVELS = 8
# A ground is one colour when this share of its edge pixels is within PLAIN_LEVELS of their
# median: the rest are glyphs that reach the edge of their line box.
PLAIN_SHARE = 0.9


def _luminances(rgb: np.ndarray) -> np.ndarray:
    """Relative luminance of opaque sRGB colours along the last axis (0-1 channels)."""
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    return linear[..., :3] @ np.array([0.2126, 0.7152, 0.0722])


def luminance(rgb: Color) -> float:
    """Relative luminance of an opaque sRGB colour."""
    return float(_luminances(np.asarray(rgb[:3], dtype=float)))


def over(top: Color, bottom: Color) -> Color:
    """`top` composited over `bottom` (source-over; a missing alpha is opaque)."""
    alpha_top = top[3] if len(top) > 3 else 1.0
    alpha_bottom = bottom[3] if len(bottom) > 3 else 1.0
    alpha = alpha_top + alpha_bottom * (1 - alpha_top)
    if alpha == 0:
        return (0.0, 0.0, 0.0, 0.0)
    mix = [
        (t * alpha_top + b * alpha_bottom * (1 - alpha_top)) / alpha
        for t, b in zip(top[:3], bottom[:3])
    ]
    return (*mix, alpha)


def contrast_ratio(foreground: Color, background: Color) -> float:
    """From 1 (same colour) to 21 (black on white); `foreground` is composited over the
    (opaque) background first, as it is drawn."""
    light, dark = sorted((luminance(over(foreground, background)), luminance(background)))[::-1]
    return (light + 0.05) / (dark + 0.05)


def from_255(color: Color) -> Color:
    """0-255 channels (CSS, pptx) to 0-1; an alpha channel stays as it is."""
    return (*(c / 255 for c in color[:3]), *color[3:])


def crop(pixels: np.ndarray, bbox: BBox) -> np.ndarray | None:
    """The (rounded) box of an RGB image, cut to the image; None when under 2x2 pixels of it
    are on the image."""
    height, width = pixels.shape[:2]
    x0, y0, x1, y1 = (round(v) for v in bbox)
    x0, x1 = max(x0, 0), min(x1, width)
    y0, y1 = max(y0, 0), min(y1, height)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return pixels[y0:y1, x0:x1]


def edge(box: np.ndarray) -> np.ndarray:
    """The pixels along a box's edge: behind a text, where its glyphs rarely reach."""
    return np.concatenate([box[0], box[-1], box[1:-1, 0], box[1:-1, -1]])


@dataclasses.dataclass(frozen=True)
class Painted:
    """A text as a screenshot shows it: the contrast of its strongest pixel against the ground
    around it, and the share of a declared colour's difference from that ground it reaches."""

    ratio: float
    reach: float


def painted_text(pixels: np.ndarray, boxes: list[BBox], declared: Color | None) -> Painted | None:
    """What the screenshot `pixels` (RGB, 0-255) shows of a text whose line boxes are `boxes`
    and whose colour CSS `declares` (None: unknown), the line that stands out most. None when
    no line lies on a plain ground (one colour around it) in the image."""
    best = None
    for bbox in boxes:
        box = crop(pixels, bbox)
        if box is None:
            continue
        ring = edge(box).astype(float)
        ground = np.median(ring, axis=0)
        if np.mean(np.abs(ring - ground).max(axis=1) <= PLAIN_LEVELS) < PLAIN_SHARE:
            continue
        shown = box.reshape(-1, 3).astype(float)
        lum, lum_ground = _luminances(shown / 255), _luminances(ground / 255)
        ratio = float(
            max((lum.max() + 0.05) / (lum_ground + 0.05), (lum_ground + 0.05) / (lum.min() + 0.05))
        )
        reach = 1.0
        if declared is not None:
            # Along the line from the ground to the declared colour: 1 where a pixel is painted
            # in that colour, 0 where it shows the ground.
            towards = np.array(over(declared, from_255(tuple(ground)))[:3]) * 255 - ground
            if towards @ towards > 0:
                reach = float(((shown - ground) @ towards).max() / (towards @ towards))
        if best is None or ratio > best.ratio:
            best = Painted(ratio, reach)
    return best
