"""ChartMimic parity: every pair in chartmimic_pairs.py, scored through a real RenderPool by
`score_items`, equals the official definition's value within 0.01 per score."""

import pytest
from chartmimic_pairs import PAIRS

from render_service.metrics import registry, score_items
from render_service.types import RenderRequest


@pytest.fixture(scope="module")
def report(short_config):
    from render_service.pool import RenderPool

    pairs = [
        (RenderRequest(name, "chart", candidate), RenderRequest(f"{name}/gold", "chart", gold))
        for name, _, gold, candidate, _, _ in PAIRS
    ]
    with RenderPool(short_config, registry=registry(), warm_domains=("chart",)) as pool:
        return {item.id: item for item in score_items(pairs, pool)["items"]}


def test_there_are_at_least_twenty_pairs():
    assert len(PAIRS) >= 20 and len({name for name, *_ in PAIRS}) == len(PAIRS)


@pytest.mark.parametrize(("name", "rule", "expected", "executes"), [
    pytest.param(name, rule, expected, executes, id=name)
    for name, rule, _, _, expected, executes in PAIRS
])  # fmt: skip
def test_pair_scores_as_chartmimic(report, name, rule, expected, executes):
    item = report[name]
    assert not item.reference_failed, item.error
    assert item.executed == executes, item.error
    assert item.scores == pytest.approx(expected, abs=0.01), rule
