"""Design2Code parity: every pair in design2code_pairs.py, rendered in Chromium and scored by
`score_items`, equals the official definition's value within 0.01 per score."""

import pytest
from design2code_pairs import PAIRS

from render_service.metrics import registry, score_items
from render_service.types import RenderRequest

pytestmark = pytest.mark.chromium


@pytest.fixture(scope="module")
def report(short_config):
    from render_service.config import RenderConfig
    from render_service.pool import RenderPool

    pairs = [
        (RenderRequest(name, "web", candidate), RenderRequest(f"{name}/ref", "web", reference))
        for name, _, reference, candidate, _ in PAIRS
    ]
    with RenderPool(RenderConfig(workers=2), registry=registry(), warm_domains=("web",)) as pool:
        return {item.id: item for item in score_items(pairs, pool)["items"]}


def test_there_are_at_least_ten_pairs():
    assert len(PAIRS) >= 10 and len({name for name, *_ in PAIRS}) == len(PAIRS)


@pytest.mark.parametrize(("name", "rule", "expected"), [
    pytest.param(name, rule, expected, id=name) for name, rule, _, _, expected in PAIRS
])  # fmt: skip
def test_pair_scores_as_design2code(report, name, rule, expected):
    item = report[name]
    assert item.executed and not item.reference_failed, item.error
    scores = {key: item.scores[key] for key in expected}
    assert scores == pytest.approx(expected, abs=0.01), rule
    assert item.scores["clip"] is None and item.scores["final"] is None  # no CLIP folder
