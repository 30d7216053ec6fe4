"""Defect rate per kind: the share of rendered items with at least one defect of that kind."""

from __future__ import annotations

from collections.abc import Iterable

from render_service.types import DEFECT_KINDS, RenderResult


def defect_rates(results: Iterable[RenderResult]) -> dict[str, float]:
    """{kind: share of successfully rendered results showing it}, every kind listed.

    Items that failed to render are left out: the detectors never saw them, and the execution
    rate already counts them.
    """
    rendered = [result for result in results if result.ok]
    rates = dict.fromkeys(DEFECT_KINDS, 0.0)
    for result in rendered:
        for kind in {defect.kind for defect in result.defects}:
            rates[kind] += 1 / len(rendered)
    return rates
