"""Chart defect detectors on the labeled cases: each fires on its cases (with the responsible
line) and stays silent on clean ones; the set's precision, recall and tracing meet the bar."""

import os

import pytest
from render_helpers import HERE

from render_service.labeled import load_cases, score
from render_service.types import RenderRequest

CASES = load_cases([os.path.join(HERE, "cases", "chart")])


@pytest.fixture(scope="module")
def results(chart_renderer):
    return {
        case.name: chart_renderer.render(RenderRequest(case.name, case.domain, case.code))
        for case in CASES
    }


def test_the_set_covers_every_chart_kind_and_clean_cases():
    kinds = {kind for case in CASES for kind in case.kinds}
    assert len(CASES) >= 30
    assert kinds == {
        "text_overlap",
        "clipped_text",
        "overflow",
        "off_canvas",
        "low_contrast",
        "misalignment",
        "legend_occlusion",
        "layout_warning",
    }
    assert sum(not case.defects for case in CASES) >= 10


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_detectors_fire_on_their_cases_and_nothing_else(case, results):
    result = results[case.name]
    assert result.ok, result.error
    assert {d.kind for d in result.defects} == case.kinds, [d.message for d in result.defects]
    for kind, lines in case.defects:
        blamed = {line for d in result.defects if d.kind == kind for line in d.source_lines}
        assert blamed & set(lines), (kind, lines, blamed)


def test_labeled_set_scores(results):
    scores = score(CASES, [results[case.name] for case in CASES])
    assert scores.precision() >= 0.9 and scores.recall() >= 0.8
    assert scores.traced_share() >= 0.8
    assert not scores.failed


def test_messages_are_short_and_name_the_line(results):
    (defect,) = results["overlap_set_ticklabels"].defects
    assert defect.message == "x tick labels overlap (40 of 40); set at line 7"
    assert 0 < defect.severity <= 1 and defect.bbox is not None
    for result in results.values():
        for defect in result.defects:
            assert len(defect.message) <= 160 and "\n" not in defect.message
