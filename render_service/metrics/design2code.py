"""Design2Code's visual scores from the text blocks of a candidate and a reference page.

Blocks come from `web_blocks` ({"text", "bbox" in px, "color"} plus the page size); boxes are
normalised by each page's own size, as Design2Code does with screenshots of different heights.
Blocks with the same box are merged first (texts joined, colours averaged). Candidate and
reference blocks are paired by the Hungarian algorithm on text similarity (difflib's
SequenceMatcher ratio); pairs below 0.5 are dropped. Then:

- block_match: area of matched blocks (both sides) over the area of all blocks (both sides);
- text: mean similarity of the matched pairs;
- position: mean of 1 − max(|Δx|, |Δy|) of the pairs' normalised box centres;
- color: mean max(0, 1 − ΔE00/100) of the pairs' text colours;
- clip: cosine similarity of CLIP image embeddings when the caller computed it (a local CLIP
  folder was configured), else None: reported as not computed, and left out of `final`.
final = mean of the scores computed. No matched pair: the four block scores are 0.

Not reproduced: Design2Code's greedy merging of neighbouring blocks when a merge improves the
matching, and its context bonus in the cost matrix; both only raise scores of pages whose runs
split differently.
"""

from __future__ import annotations

from difflib import SequenceMatcher

import numpy as np
from scipy.optimize import linear_sum_assignment

from render_service.metrics.color import color_similarity

MIN_TEXT_SIMILARITY = 0.5
DESIGN2CODE_METRICS = ("block_match", "text", "position", "color", "clip")


def design2code_scores(
    candidate_blocks: dict | None, reference_blocks: dict, clip: float | None = None
) -> dict[str, float | None]:
    """Scores in [0, 1] and their mean as "final"; a failed candidate (None) scores 0."""
    scores: dict[str, float | None] = dict.fromkeys(DESIGN2CODE_METRICS[:4], 0.0)
    scores["clip"] = clip
    if candidate_blocks is not None:
        scores.update(_block_scores(_normalised(candidate_blocks), _normalised(reference_blocks)))
    elif clip is not None:
        scores["clip"] = 0.0
    computed = [value for value in scores.values() if value is not None]
    scores["final"] = float(np.mean(computed))
    return scores


def _block_scores(ours: list[dict], theirs: list[dict]) -> dict[str, float]:
    if not ours or not theirs:
        return {}
    similarity = np.array(
        [[SequenceMatcher(None, a["text"], b["text"]).ratio() for b in theirs] for a in ours]
    )
    rows, cols = linear_sum_assignment(similarity, maximize=True)
    pairs = [(i, j) for i, j in zip(rows, cols) if similarity[i, j] >= MIN_TEXT_SIMILARITY]
    if not pairs:
        return {}
    area = lambda block: block["box"][2] * block["box"][3]
    total = sum(map(area, ours)) + sum(map(area, theirs))
    matched = sum(area(ours[i]) + area(theirs[j]) for i, j in pairs)
    shifts = [np.max(np.abs(_center(ours[i]) - _center(theirs[j]))) for i, j in pairs]
    colors = color_similarity(
        np.array([ours[i]["color"] for i, _ in pairs]) / 255,
        np.array([theirs[j]["color"] for _, j in pairs]) / 255,
    )
    return {
        "block_match": matched / total if total > 0 else 0.0,
        "text": float(np.mean([similarity[i, j] for i, j in pairs])),
        "position": float(np.mean([1 - shift for shift in shifts])),
        "color": float(np.mean(colors)),
    }


def _normalised(page: dict) -> list[dict]:
    """Blocks with box (x, y, w, h) as shares of the page, same-box blocks merged."""
    width, height = page["width"], page["height"]
    merged: dict[tuple, dict] = {}
    for block in page["blocks"]:
        x0, y0, x1, y1 = block["bbox"]
        box = (x0 / width, y0 / height, (x1 - x0) / width, (y1 - y0) / height)
        if box in merged:
            kept = merged[box]
            kept["text"] += " " + block["text"]
            kept["color"] = tuple((a + b) / 2 for a, b in zip(kept["color"], block["color"]))
        else:
            merged[box] = {"text": block["text"], "box": box, "color": tuple(block["color"])}
    return list(merged.values())


def _center(block: dict) -> np.ndarray:
    x, y, w, h = block["box"]
    return np.array([x + w / 2, y + h / 2])
