"""WCAG 2 contrast, the one definition every detector uses: colours are sRGB channels on a 0-1
scale (divide 0-255 channels by 255), alpha-composited before they are compared."""

from __future__ import annotations

Color = tuple[float, ...]  # (r, g, b) or (r, g, b, a), each in 0-1


def luminance(rgb: Color) -> float:
    """Relative luminance of an opaque sRGB colour."""
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb[:3]]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


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
