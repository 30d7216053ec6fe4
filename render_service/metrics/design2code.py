"""Design2Code's visual scores from the text blocks of a candidate and a reference page, and
the departures (`departures`): the same matching told as sentences a writer can act on.

Blocks come from `web_blocks` ({"text", "bbox" in px, "color"} plus the page size); boxes are
normalised by each page's own size, as Design2Code does with screenshots of different heights.
The steps follow the official `visual_score.py`:

1. Blocks with the same box are merged (texts joined by a space, colours averaged).
2. Greedy merging: while joining two neighbouring blocks of one page lowers the mean cost of
   the best matching by more than `MERGE_GAIN` (costs are −SequenceMatcher ratio; the pairs
   both matchings share are left out of the means), the best such joins are made, candidate
   page first, then reference page.
3. The final matching is the Hungarian assignment on those costs with a context bonus: a pair
   whose cost is below −0.5 gains `CONTEXT_BONUS` times the sum of the two lowest costs of its
   neighbours within `CONTEXT_WINDOW` rows and columns, so runs of matching blocks stick
   together. Pairs whose text ratio is below 0.5 are dropped.
4. block_match: area of matched blocks (both pages) over the area of all blocks (both pages);
   text: mean ratio of the pairs; position: mean 1 − max(|Δx|, |Δy|) of their box centres;
   color: mean max(0, 1 − ΔE00/100) of their text colours. No block on a page, or no pair:
   the four are 0.
5. final = 0.2 × (block_match + text + position + color + clip), only when the caller computed
   `clip` (a local CLIP folder was configured); otherwise final is None, not computed.
"""

from __future__ import annotations

from collections import Counter
from difflib import SequenceMatcher

import numpy as np
from scipy.optimize import linear_sum_assignment

from render_service.metrics.color import color_similarity

MIN_TEXT_SIMILARITY = 0.5
MERGE_GAIN = 0.05
CONTEXT_BONUS, CONTEXT_WINDOW = 0.1, 1
DESIGN2CODE_METRICS = ("block_match", "text", "position", "color", "clip")
# What `departures` names: a block whose centre moved by more than this share of the page (a
# position score below 0.95), text whose colour similarity is below this (ΔE00 above 10).
MOVED, RECOLORED = 0.05, 0.9


def design2code_scores(
    candidate_blocks: dict | None, reference_blocks: dict, clip: float | None = None
) -> dict[str, float | None]:
    """Scores in [0, 1] and "final"; a failed candidate (None) scores 0 (clip included)."""
    scores: dict[str, float | None] = dict.fromkeys(DESIGN2CODE_METRICS[:4], 0.0)
    if candidate_blocks is not None:
        scores.update(_block_scores(_normalised(candidate_blocks), _normalised(reference_blocks)))
    elif clip is not None:
        clip = 0.0
    scores["clip"] = clip
    scores["final"] = None if clip is None else 0.2 * sum(scores[k] for k in DESIGN2CODE_METRICS)
    return scores


def _matching(ours: list[dict], theirs: list[dict]):
    """Steps 2 and 3: (our blocks, their blocks, both as merged, the matched pairs (i, j),
    the text ratios)."""
    ours, theirs = _merge_greedily(ours, theirs)
    ratios = _ratios(ours, theirs)
    rows, cols = linear_sum_assignment(_with_context(-ratios))
    pairs = [(i, j) for i, j in zip(rows, cols) if ratios[i, j] >= MIN_TEXT_SIMILARITY]
    return ours, theirs, pairs, ratios


def _block_scores(ours: list[dict], theirs: list[dict]) -> dict[str, float]:
    if not ours or not theirs:
        return {}
    ours, theirs, pairs, ratios = _matching(ours, theirs)
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
        "block_match": matched / total,
        "text": float(np.mean([ratios[i, j] for i, j in pairs])),
        "position": float(np.mean([1 - shift for shift in shifts])),
        "color": float(np.mean(colors)),
    }


def departures(candidate_blocks: dict | None, reference_blocks: dict, limit: int = 6) -> list[str]:
    """How a page departs from the reference page on Design2Code's four block measures, one
    sentence per measure it loses on, naming the blocks by their (lowercased) text, up to
    `limit` each: blocks the target has and yours lacks (or the other way), text that reads
    otherwise, blocks moved by more than `MOVED` of the page, text coloured otherwise (colour
    similarity below `RECOLORED`). Empty when the two agree; a page without blocks (or that
    failed) is taken to show none."""
    ours = _normalised(candidate_blocks) if candidate_blocks else []
    theirs = _normalised(reference_blocks)
    pairs, ratios = [], None
    if ours and theirs:
        ours, theirs, pairs, ratios = _matching(ours, theirs)
    matched_ours, matched_theirs = {i for i, _ in pairs}, {j for _, j in pairs}
    lines = []
    if lacked := [b["text"] for j, b in enumerate(theirs) if j not in matched_theirs]:
        lines.append(f"text in the target that yours lacks: {_listed(map(repr, lacked), limit)}")
    if extra := [b["text"] for i, b in enumerate(ours) if i not in matched_ours]:
        lines.append(f"text in yours that the target lacks: {_listed(map(repr, extra), limit)}")
    reworded = [(i, j) for i, j in pairs if ratios[i, j] < 1.0]
    if reworded:
        said = (f"{theirs[j]['text']!r} reads {ours[i]['text']!r}" for i, j in reworded)
        lines.append(f"text that reads otherwise in yours: {_listed(said, limit)}")
    moved = [
        (i, j) for i, j in pairs if np.max(np.abs(_center(ours[i]) - _center(theirs[j]))) > MOVED
    ]
    if moved:
        said = (
            f"{theirs[j]['text']!r} at {_place(theirs[j])} in the target, {_place(ours[i])} in yours"
            for i, j in moved
        )
        lines.append(f"blocks placed otherwise (centre, share of the page): {_listed(said, limit)}")
    if pairs:
        similar = color_similarity(
            np.array([ours[i]["color"] for i, _ in pairs]) / 255,
            np.array([theirs[j]["color"] for _, j in pairs]) / 255,
        )
        recolored = [pair for pair, sim in zip(pairs, similar) if sim < RECOLORED]
        if recolored:
            said = (
                f"{theirs[j]['text']!r} {_hex(theirs[j])} in the target, {_hex(ours[i])} in yours"
                for i, j in recolored
            )
            lines.append(f"text coloured otherwise: {_listed(said, limit)}")
    return lines


def _listed(items, limit: int) -> str:
    items = list(items)
    more = len(items) - limit
    return "; ".join(items[:limit]) + (f" and {more} more" if more > 0 else "")


def _place(block: dict) -> str:
    x, y = _center(block)
    return f"({x:.2f}, {y:.2f})"


def _hex(block: dict) -> str:
    return "#" + "".join(f"{round(c):02x}" for c in block["color"][:3])


def _ratios(ours: list[dict], theirs: list[dict]) -> np.ndarray:
    return np.array(
        [[SequenceMatcher(None, a["text"], b["text"]).ratio() for b in theirs] for a in ours]
    ).reshape(len(ours), len(theirs))


def _with_context(cost: np.ndarray) -> np.ndarray:
    """Lower each strong pair's cost by the bonus times its two lowest-cost neighbours' sum."""
    adjusted = cost.copy()
    w = CONTEXT_WINDOW
    for i, j in zip(*np.nonzero(cost < -0.5)):
        near = np.sort(cost[max(0, i - w) : i + w + 1, max(0, j - w) : j + w + 1].ravel())[::-1]
        near = np.delete(near, np.flatnonzero(near == cost[i, j])[0])
        adjusted[i, j] += CONTEXT_BONUS * near[-2 * w :].sum()
    return adjusted


def _assignment_costs(ratios: np.ndarray) -> list[float]:
    rows, cols = linear_sum_assignment(-ratios)
    return (-ratios[rows, cols]).tolist()


def _merge_greedily(ours: list[dict], theirs: list[dict]) -> tuple[list[dict], list[dict]]:
    """Join neighbouring blocks of either page while that improves the matching (ratios are
    always candidate text against reference text, as Design2Code computes them)."""
    while True:
        changed = False
        for side in (0, 1):
            pages = [ours, theirs]
            blocks, other = pages[side], pages[1 - side]
            if len(blocks) < 2:
                continue
            ratios = _ratios(ours, theirs)
            current = _assignment_costs(ratios)
            gains = []
            for i in range(len(blocks) - 1):
                joined = [_joined(blocks[i], blocks[i + 1])]
                if side == 0:
                    trial = np.concatenate([ratios[:i], _ratios(joined, other), ratios[i + 2 :]])
                else:
                    middle = _ratios(other, joined)
                    trial = np.hstack([ratios[:, :i], middle, ratios[:, i + 2 :]])
                gain = _mean_gain(current, _assignment_costs(trial))
                if gain > MERGE_GAIN:
                    gains.append((i, gain))
            if gains:
                gains.sort(key=lambda pair: pair[1], reverse=True)  # stable, as Design2Code
                pages[side] = _join_all(blocks, [i for i, _ in gains])
                ours, theirs = pages
                changed = True
        if not changed:
            return ours, theirs


def _mean_gain(current: list[float], updated: list[float]) -> float:
    """How much lower the updated costs are on average, the costs both share left out; a
    gain counts only if the updated costs also reach below the current ones' lowest."""
    shared = Counter(current) & Counter(updated)
    before = list((Counter(current) - shared).elements())
    after = list((Counter(updated) - shared).elements())
    mean_before = float(np.mean(before)) if before else 0.0
    mean_after = float(np.mean(after)) if after else 0.0
    gain = mean_before - mean_after
    if gain > 0 and not (before and after and min(before) > min(after)):
        return 0.0
    return gain


def _join_all(blocks: list[dict], starts: list[int]) -> list[dict]:
    """Join block i with i + 1 for each i in `starts` (best first), skipping a join that
    touches a block already joined."""
    blocks, used, dropped = list(blocks), set(), []
    for i in starts:
        if {i, i + 1} & used:
            continue
        blocks[i] = _joined(blocks[i], blocks[i + 1])
        used |= {i, i + 1}
        dropped.append(i + 1)
    return [block for k, block in enumerate(blocks) if k not in dropped]


def _joined(first: dict, second: dict) -> dict:
    """Two blocks as one: texts joined by a space, the union box, the floored mean colour."""
    (x1, y1, w1, h1), (x2, y2, w2, h2) = first["box"], second["box"]
    left, top = min(x1, x2), min(y1, y2)
    right, bottom = max(x1 + w1, x2 + w2), max(y1 + h1, y2 + h2)
    return {
        "text": first["text"] + " " + second["text"],
        "box": (left, top, right - left, bottom - top),
        "color": tuple((a + b) // 2 for a, b in zip(first["color"], second["color"])),
    }


def block_boxes(page: dict) -> list[tuple[float, float, float, float]]:
    """The page's block boxes (x, y, w, h) as shares of the page: what CLIP inpaints."""
    return [block["box"] for block in _normalised(page)]


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
