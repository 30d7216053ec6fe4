"""ChartMimic parity: every pair in chartmimic_pairs.py, scored through a real RenderPool by
`score_items`, equals the score ChartMimic's own evaluators gave it within 0.01 per score.
Those scores are in official_scores.json, written by scripts/official_scores.py (how it ran
the official code, and on which versions, is in its docstring)."""

import json
from pathlib import Path

import pytest
from chartmimic_pairs import PAIRS

from render_service.metrics import registry, score_items
from render_service.types import RenderRequest

OFFICIAL = json.loads((Path(__file__).parent / "official_scores.json").read_text())["chartmimic"]
# Pairs where this project's metric and the official evaluators differ by more than 0.01: the
# metric's to fix (issue 37), not the expected value. Strict, so a fix shows up here.
DIFFERENT = {
    "plot to semilogy": "text: here 1.0, official 0.571. The official text evaluator clears "
    "each axes' ticks with set_xticks([]) / set_yticks([]); a log axis keeps its minor tick "
    "labels, which it then counts as drawn text",
    "plot to loglog": "text: here 1.0, official 0.444 (the minor tick labels of two log axes, "
    "as for semilogy)",
}


@pytest.fixture(scope="module")
def report(short_config):
    from render_service.pool import RenderPool

    pairs = [
        (RenderRequest(name, "chart", candidate), RenderRequest(f"{name}/gold", "chart", gold))
        for name, _, gold, candidate, _ in PAIRS
    ]
    with RenderPool(short_config, registry=registry(), warm_domains=("chart",)) as pool:
        return {item.id: item for item in score_items(pairs, pool)["items"]}


def test_there_are_at_least_twenty_pairs_each_scored_officially():
    assert len(PAIRS) >= 20 and len({name for name, *_ in PAIRS}) == len(PAIRS)
    assert set(OFFICIAL) == {name for name, *_ in PAIRS}


@pytest.mark.parametrize(("name", "rule", "executes"), [
    pytest.param(
        name,
        rule,
        executes,
        id=name,
        marks=[pytest.mark.xfail(strict=True, reason=DIFFERENT[name])] if name in DIFFERENT else [],
    )
    for name, rule, _, _, executes in PAIRS
])  # fmt: skip
def test_pair_scores_as_chartmimic(report, name, rule, executes):
    item = report[name]
    assert not item.reference_failed, item.error
    assert item.executed == executes, item.error
    assert item.scores == pytest.approx(OFFICIAL[name], abs=0.01), rule
