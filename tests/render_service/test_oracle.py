"""The pixel oracle: artists drawn alone answer the detectors' questions without their
geometry, and on a seeded sample of injected charts the two agree."""

import pytest

from render_service.chart.oracle import OracleRenderer, agreement
from render_service.config import RenderConfig
from render_service.labeled import injected_cases
from render_service.types import RenderRequest

HEAD = "import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(6, 4))\n"
PROGRAMS = {
    "legend over a line": (
        "ax.plot([0, 1, 2, 3, 4], [0, 2, 2, 2, 4], label='flat middle')\n"
        "ax.legend(loc='center', fontsize=16, framealpha=1)\n",
        "legend_occlusion",
    ),
    "legend beside the plot": (
        "ax.plot([0, 1, 2], [0, 1, 4], label='rise')\n"
        "ax.legend(loc='upper left', bbox_to_anchor=(1.02, 1))\nfig.tight_layout()\n",
        None,
    ),
    "line out of its plot": (
        "ax.plot([0, 1, 2, 3], [0, 5, 1, 9], clip_on=False)\nax.set_ylim(0, 4)\n",
        "overflow",
    ),
    "markers on the spine": (
        "ax.scatter([0, 2, 4], [0, 4, 16], clip_on=False)\nax.set_xlim(0, 4)\nax.set_ylim(0, 16)\n",
        None,
    ),
    "two notes on each other": (
        "ax.plot([0, 1], [0, 1])\nax.text(0.3, 0.5, 'first note here')\n"
        "ax.text(0.35, 0.5, 'second note here')\n",
        "text_overlap",
    ),
}


@pytest.fixture(scope="module")
def oracle_renderer():
    renderer = OracleRenderer(RenderConfig())
    yield renderer
    renderer.close()


def _render(renderer, name, code):
    result = renderer.render(RenderRequest(name, "chart", code, options={"oracle": True}))
    assert result.ok, result.error
    return result


@pytest.mark.parametrize("name", PROGRAMS)
def test_the_pixels_answer_each_question(oracle_renderer, name):
    body, kind = PROGRAMS[name]
    found = _render(oracle_renderer, name, HEAD + body).metrics["oracle"]
    assert {k for k, notes in found.items() if notes} == ({kind} if kind else set()), found


def test_without_the_option_the_oracle_does_not_run(oracle_renderer):
    body, _ = PROGRAMS["legend over a line"]
    result = oracle_renderer.render(RenderRequest("plain", "chart", HEAD + body))
    assert result.ok and "oracle" not in result.metrics


def test_oracle_and_detectors_agree_on_a_seeded_sample(oracle_renderer):
    cases = injected_cases("chart", 32, seed=5)
    results = [_render(oracle_renderer, c.name, c.code) for c in cases]
    share, disagreements = agreement([c.name for c in cases], results)
    assert share >= 0.95, disagreements
    seen = {kind for r in results for kind, notes in r.metrics["oracle"].items() if notes}
    assert seen == {"legend_occlusion", "overflow", "text_overlap"}
