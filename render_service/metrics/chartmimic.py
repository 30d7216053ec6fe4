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
"""

from __future__ import annotations

from collections import defaultdict

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
