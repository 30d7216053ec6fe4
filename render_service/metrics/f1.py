"""F1 from matched mass: the shape every ChartMimic low-level score shares."""

from __future__ import annotations

from collections import Counter


def f1_score(matched: float, candidate_total: float, gold_total: float) -> float:
    """F1 of precision matched/candidate_total and recall matched/gold_total.

    0 when either side is empty, both included, as ChartMimic scores it: a chart with no text
    scores text 0 even against itself.
    """
    if candidate_total == 0 or gold_total == 0 or matched <= 0:
        return 0.0
    precision, recall = matched / candidate_total, matched / gold_total
    return 2 * precision * recall / (precision + recall)


def multiset_f1(candidate, gold) -> float:
    """F1 over multisets: each gold item matches at most one equal candidate item."""
    candidate, gold = Counter(candidate), Counter(gold)
    return f1_score(sum((candidate & gold).values()), candidate.total(), gold.total())
