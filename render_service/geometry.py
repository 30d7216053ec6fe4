"""Axis-aligned boxes `(x0, y0, x1, y1)`, x0 <= x1 and y0 <= y1, in any one unit (image pixels,
EMU): the arithmetic every detector shares."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

Box = tuple[float, float, float, float]


def area(box: Box) -> float:
    """Zero for an empty or inverted box (a disjoint `intersection`)."""
    return max(box[2] - box[0], 0) * max(box[3] - box[1], 0)


def intersection(a: Box, b: Box) -> Box:
    """The common part; inverted (area 0) when the boxes do not meet."""
    return (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))


def overlaps(a: Box, b: Box) -> bool:
    return area(intersection(a, b)) > 0


def union(boxes: Iterable[Box]) -> Box:
    """The smallest box holding all of `boxes` (at least one)."""
    boxes = list(boxes)
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def shrink(box: Box, by: float) -> Box:
    """`box` moved in by `by` on every side (out, for a negative `by`)."""
    return (box[0] + by, box[1] + by, box[2] - by, box[3] - by)


def contains(outer: Box, inner: Box) -> bool:
    return (
        outer[0] <= inner[0]
        and outer[1] <= inner[1]
        and outer[2] >= inner[2]
        and outer[3] >= inner[3]
    )


def outside(box: Box, frame: Box) -> tuple[float, float, float, float]:
    """How far `box` reaches past each side of `frame`: left, top, right, bottom."""
    return (frame[0] - box[0], frame[1] - box[1], box[2] - frame[2], box[3] - frame[3])


def overlap_depth(a, b) -> float:
    """How deep two convex polygons (corner arrays, n x 2) overlap: the least overlap of their
    shadows over every edge normal of either (separating axis theorem); <= 0 when apart. For
    rotated text, whose axis-aligned boxes meet long before the glyph boxes do."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    depth = np.inf
    for polygon in (a, b):
        edges = np.roll(polygon, -1, axis=0) - polygon
        normals = np.column_stack([-edges[:, 1], edges[:, 0]])
        normals = normals / np.maximum(np.hypot(*normals.T), 1e-12)[:, None]
        pa, pb = a @ normals.T, b @ normals.T
        overlap = np.minimum(pa.max(0), pb.max(0)) - np.maximum(pa.min(0), pb.min(0))
        depth = min(depth, float(overlap.min()))
    return depth
