"""Aesthetic measures of a 1280x720 slide, each one number in `RenderResult.metrics`.

- aspect_ratio_compliance: canvas area over the area the content actually needs (1: fits).
- whitespace_share: share of canvas pixels showing the page background.
- centroid_offset: distance of the area-weighted centroid of the content from the canvas
  centre, over the half-diagonal (0: balanced, 1: all weight in a corner).
- collisions: pairs of unrelated content items (text runs, images) whose boxes intersect.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageChops

from render_service.geometry import area, intersection
from render_service.types import BBox
from render_service.web.layout import Layout

BACKGROUND_TOLERANCE = 8  # 0-255 per channel: antialiasing and JPEG-free rendering noise


def content_items(layout: Layout) -> list[tuple[int, BBox]]:
    """What a viewer reads as content: each element's text run and each image or control."""
    items = []
    for e in layout.snapshot["elements"]:
        if not layout.visible(e):
            continue
        text = layout.text_box(e)
        if text is not None:
            items.append((e["i"], text))
        elif e["replaced"] and area(e["box"]) > 0:
            items.append((e["i"], tuple(e["box"])))
    return items


def slide_metrics(layout: Layout, canvas: tuple[int, int]) -> dict[str, float]:
    width, height = canvas
    needed = max(width, layout.snapshot["scrollWidth"]) * max(
        height, layout.snapshot["scrollHeight"]
    )
    image = Image.fromarray(layout.pixels).crop((0, 0, width, height))
    background = tuple(round(c) for c in layout.canvas_color()[:3])
    # Per pixel, the largest channel difference from the background (PIL's C loops: ~1 ms).
    r, g, b = ImageChops.difference(image, Image.new("RGB", image.size, background)).split()
    farthest = ImageChops.lighter(ImageChops.lighter(r, g), b)
    blank = sum(farthest.histogram()[: BACKGROUND_TOLERANCE + 1]) / (image.width * image.height)

    frame = (0.0, 0.0, float(width), float(height))
    items = content_items(layout)
    weights, xs, ys = [], [], []
    for _, box in items:
        seen = intersection(box, frame)
        if area(seen) > 0:
            weights.append(area(seen))
            xs.append((seen[0] + seen[2]) / 2)
            ys.append((seen[1] + seen[3]) / 2)
    if weights:
        cx, cy = np.average(xs, weights=weights), np.average(ys, weights=weights)
        offset = math.hypot(cx - width / 2, cy - height / 2) / math.hypot(width / 2, height / 2)
    else:
        offset = 0.0
    collisions = sum(
        1
        for m, (i, a) in enumerate(items)
        for j, b in items[m + 1 :]
        if area(intersection(a, b)) > 4 and not layout.encloses(i, j) and not layout.encloses(j, i)
    )
    return {
        "aspect_ratio_compliance": width * height / needed,
        "whitespace_share": blank,
        "centroid_offset": float(offset),
        "collisions": float(collisions),
    }
