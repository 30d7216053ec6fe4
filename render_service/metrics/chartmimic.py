"""ChartMimic's low-level scores from two records of `chart_record` (candidate, gold).

- text: F1 over drawn strings as a multiset (exact string equality).
- layout: F1 over subplotspec positions as a multiset.
- type: F1 over plotting-call counts (matched = Σ min(count_candidate, count_gold)).
- color: colours are grouped by the hooked function that drew them; within a group, candidate
  and gold colours are paired by the assignment of greatest total similarity
  (scipy's linear_sum_assignment, not ChartMimic's search over all permutations, which is
  factorial and gives the same optimum); similarity is max(0, 1 − ΔE00/100) for two colours,
  1/0 for equal/unequal colormap names, 0 across kinds. Precision = Σ similarity / #candidate,
  recall = Σ similarity / #gold.
Each score is 0 when either side is empty, as ChartMimic's. A candidate without a record
(it failed before drawing anything ChartMimic would save) scores 0 on every metric.

`departures` says in words where a candidate loses those scores, for a teacher to read.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
from scipy.optimize import linear_sum_assignment

from render_service.metrics.color import color_similarity
from render_service.metrics.f1 import f1_score, multiset_f1

CHARTMIMIC_METRICS = ("text", "layout", "type", "color")


def chartmimic_scores(candidate: dict | None, gold: dict) -> dict[str, float]:
    """{"text", "layout", "type", "color"} F1 scores in [0, 1]; all 0 if `candidate` is None."""
    if candidate is None:
        return dict.fromkeys(CHARTMIMIC_METRICS, 0.0)
    types_candidate, types_gold = candidate["types"], gold["types"]
    matched = sum(min(n, types_gold.get(name, 0)) for name, n in types_candidate.items())
    return {
        "text": multiset_f1(candidate["texts"], gold["texts"]),
        "layout": multiset_f1(map(tuple, candidate["layout"]), map(tuple, gold["layout"])),
        "type": f1_score(matched, sum(types_candidate.values()), sum(types_gold.values())),
        "color": color_f1(candidate["colors"], gold["colors"]),
    }


def departures(candidate: dict | None, gold: dict, limit: int = 6) -> list[str]:
    """How a candidate's chart departs from the gold one on ChartMimic's four measures, one
    sentence per measure it loses on, naming what to draw, write or colour (up to `limit` items
    each). The defect detectors cannot say this: a bar chart drawn as a pie has no defect.
    Empty when the two agree; a candidate without a record is taken to draw nothing."""
    candidate = candidate or {"types": {}, "layout": [], "texts": [], "colors": []}
    lines = []
    if candidate["types"] != gold["types"]:
        lines.append(
            f"plot calls: the target makes {_counts(gold['types'])}; yours makes "
            f"{_counts(candidate['types'])}"
        )
    if Counter(map(tuple, candidate["layout"])) != Counter(map(tuple, gold["layout"])):
        lines.append(
            f"panels: the target has {_panels(gold['layout'])}; yours has "
            f"{_panels(candidate['layout'])}"
        )
    texts, theirs = Counter(candidate["texts"]), Counter(gold["texts"])
    if missing := theirs - texts:
        lines.append(f"text in the target that yours lacks: {_quoted(missing, limit)}")
    if extra := texts - theirs:
        lines.append(f"text in yours that the target lacks: {_quoted(extra, limit)}")
    if Counter(map(tuple, candidate["colors"])) != Counter(map(tuple, gold["colors"])):
        lines.append(
            f"colours by call: the target has {_colors(gold['colors'], limit)}; yours has "
            f"{_colors(candidate['colors'], limit)}"
        )
    return lines


def _counts(types: dict[str, int]) -> str:
    return ", ".join(f"{name} x{n}" for name, n in sorted(types.items())) or "none"


def _panels(layout) -> str:
    if not layout:
        return "no axes"
    rows, cols = layout[0][:2]
    return f"{len(layout)} {'panel' if len(layout) == 1 else 'panels'} in a {rows} x {cols} grid"


def _quoted(texts: Counter, limit: int) -> str:
    shown = [repr(t) for t in sorted(texts.elements())[:limit]]
    more = sum(texts.values()) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _colors(colors, limit: int) -> str:
    by_call = defaultdict(list)
    for method, color in colors:
        by_call[method].append(color)
    parts = [f"{method} {' '.join(cs[:limit])}" for method, cs in sorted(by_call.items())]
    return ", ".join(parts) or "none"


def color_f1(candidate, gold) -> float:
    """F1 of (method, colour) pairs under the best one-to-one pairing within each method."""
    groups: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))
    for method, color in candidate:
        groups[method][0].append(color)
    for method, color in gold:
        groups[method][1].append(color)
    matched = 0.0
    for ours, theirs in groups.values():
        if ours and theirs:
            similarity = _similarity_matrix(ours, theirs)
            rows, cols = linear_sum_assignment(similarity, maximize=True)
            matched += float(similarity[rows, cols].sum())
    return f1_score(matched, len(candidate), len(gold))


def _similarity_matrix(ours: list[str], theirs: list[str]) -> np.ndarray:
    def rgb(colors):  # "#rrggbb" -> [0, 1]^3; colormap names -> NaN
        return np.array(
            [
                [int(c[k : k + 2], 16) / 255 for k in (1, 3, 5)]
                if c.startswith("#")
                else [np.nan] * 3
                for c in colors
            ]
        )

    a, b = rgb(ours), rgb(theirs)
    similarity = color_similarity(a[:, None, :], b[None, :, :])
    names = np.array(ours, dtype=object)[:, None] == np.array(theirs, dtype=object)[None, :]
    mapped = np.isnan(a[:, :1]) | np.isnan(b[:, 0][None, :])
    return np.where(mapped, names.astype(float), np.nan_to_num(similarity, nan=0.0))
