"""Slide scores: AeSlides' aesthetic measures, and geometry block matching for pptx decks.

The HTML slide renderer already measures each slide (render_service/web/aesthetics.py); this
turns its numbers into per-slide values in [0, 1]:
- aspect: aspect_ratio_compliance (canvas area over the area the content needs; 1 fits);
- whitespace_share: the share of the canvas showing the background, reported as measured:
  neither end is "better" (crammed vs empty), so the evaluator chooses how to judge it;
- balance: 1 − centroid_offset (area-weighted centre of content against the canvas centre);
- collision_free: 1 when no two unrelated content items intersect, else 0.
A failed slide scores 0 on each.

pptx decks have no text blocks to read without OCR, but their shapes have exact geometry:
`geometry_block_scores` pairs candidate and reference boxes by the Hungarian algorithm on
intersection over union and scores the matched area share (as Design2Code's block-match), the
mean 1 − max normalised centre shift of the pairs, and the mean size ratio of the pairs.
`deck_geometry_scores` applies it slide by slide to two rendered decks (the pptx renderer
stacks slides in one image and names elements "<slide>:<shape>") and averages over the longer
deck, so a missing or extra slide counts 0.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from render_service.types import BBox, RenderResult

SLIDE_METRICS = ("aspect", "whitespace_share", "balance", "collision_free")
GEOMETRY_METRICS = ("block_match", "position", "size")


def slide_scores(measures: dict | None) -> dict[str, float]:
    """Scores of one rendered HTML slide from its `RenderResult.metrics`; None: failed."""
    if measures is None:
        return dict.fromkeys(SLIDE_METRICS, 0.0)
    return {
        "aspect": float(measures["aspect_ratio_compliance"]),
        "whitespace_share": float(measures["whitespace_share"]),
        "balance": 1.0 - float(measures["centroid_offset"]),
        "collision_free": float(measures["collisions"] == 0),
    }


def geometry_block_scores(
    candidate: list[BBox] | None, reference: list[BBox], canvas: tuple[float, float]
) -> dict[str, float]:
    """Boxes (x0, y0, x1, y1) in pixels of a `canvas` (width, height); None: failed."""
    if candidate is None or not candidate or not reference:
        same = candidate is not None and not candidate and not reference
        return dict.fromkeys(GEOMETRY_METRICS, 1.0 if same else 0.0)
    scale = np.array([canvas[0], canvas[1]] * 2, dtype=float)
    ours, theirs = np.array(candidate) / scale, np.array(reference) / scale
    overlap = _iou(ours[:, None, :], theirs[None, :, :])
    rows, cols = linear_sum_assignment(overlap, maximize=True)
    pairs = [(i, j) for i, j in zip(rows, cols) if overlap[i, j] > 0]
    if not pairs:
        return dict.fromkeys(GEOMETRY_METRICS, 0.0)
    area_ours, area_theirs = _area(ours), _area(theirs)
    matched = sum(area_ours[i] + area_theirs[j] for i, j in pairs)
    centre = lambda box: (box[:2] + box[2:]) / 2
    return {
        "block_match": float(matched / (area_ours.sum() + area_theirs.sum())),
        "position": float(
            np.mean([1 - np.abs(centre(ours[i]) - centre(theirs[j])).max() for i, j in pairs])
        ),
        "size": float(
            np.mean(
                [
                    min(area_ours[i], area_theirs[j]) / max(area_ours[i], area_theirs[j])
                    for i, j in pairs
                ]
            )
        ),
    }


def deck_geometry_scores(
    candidate: RenderResult | None, reference: RenderResult
) -> dict[str, float]:
    """Slide-by-slide geometry scores of two rendered pptx decks; None: failed."""
    if candidate is None:
        return dict.fromkeys(GEOMETRY_METRICS, 0.0)
    ours, theirs = _slides(candidate), _slides(reference)
    canvas = (reference.width, reference.height / max(len(theirs), 1))
    per_slide = [
        geometry_block_scores(ours[i] if i < len(ours) else None, theirs[i], canvas)
        if i < len(theirs)
        else dict.fromkeys(GEOMETRY_METRICS, 0.0)
        for i in range(max(len(ours), len(theirs)))
    ]
    return {name: float(np.mean([s[name] for s in per_slide])) for name in GEOMETRY_METRICS}


def _slides(result: RenderResult) -> list[list[BBox]]:
    """Shape boxes per slide, in the slide's own pixel coordinates."""
    count = int(result.metrics.get("slides", 1))
    height = result.height / max(count, 1)
    slides: list[list[BBox]] = [[] for _ in range(count)]
    for element in result.elements:
        index = int(element.id.split(":", 1)[0]) - 1
        if element.bbox is not None and 0 <= index < count:
            x0, y0, x1, y1 = element.bbox
            top = index * height
            slides[index].append((x0, y0 - top, x1, y1 - top))
    return slides


def _area(boxes: np.ndarray) -> np.ndarray:
    return np.clip(boxes[..., 2] - boxes[..., 0], 0, None) * np.clip(
        boxes[..., 3] - boxes[..., 1], 0, None
    )


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    inner = np.concatenate(
        [np.maximum(a[..., :2], b[..., :2]), np.minimum(a[..., 2:], b[..., 2:])], axis=-1
    )
    shared = _area(inner)
    union = _area(a) + _area(b) - shared
    return np.where(union > 0, shared / np.where(union > 0, union, 1), 0.0)
