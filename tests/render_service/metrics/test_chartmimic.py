"""ChartMimic scores: hand-made records with values worked out by hand, then real programs
recorded in one sandboxed run, where each change lowers exactly the metric it should."""

import textwrap

import pytest
from matplotlib.colors import to_rgb

from render_service.metrics.chartmimic import chartmimic_scores, color_f1, departures
from render_service.metrics.color import color_similarity
from render_service.metrics.f1 import f1_score, multiset_f1
from render_service.types import RenderRequest

GOLD = {
    "texts": ["Title", "x", "y", "a", "a"],
    "layout": [(1, 2, 0, 0, 0, 0), (1, 2, 0, 0, 1, 1)],
    "types": {"plot": 2, "bar": 1},
    "colors": [("plot", "#ff0000"), ("plot", "#0000ff"), ("bar", "cmap:viridis")],
}


def test_identical_records_score_one():
    assert chartmimic_scores(GOLD, GOLD) == {"text": 1.0, "layout": 1.0, "type": 1.0, "color": 1.0}


def test_failed_candidate_scores_zero():
    assert chartmimic_scores(None, GOLD) == {"text": 0.0, "layout": 0.0, "type": 0.0, "color": 0.0}


def test_text_f1_counts_repeats_once_each():
    # candidate: Title, x, a, extra -> matches Title, x, a (3); P = 3/4, R = 3/5 -> F1 = 2/3.
    assert multiset_f1(["Title", "x", "a", "extra"], GOLD["texts"]) == pytest.approx(2 / 3)


def test_type_f1_uses_min_counts():
    candidate = {**GOLD, "types": {"plot": 3, "scatter": 1}}
    # matched = min(3, 2) = 2; P = 2/4, R = 2/3 -> F1 = 2 * (1/2 * 2/3) / (1/2 + 2/3) = 4/7.
    assert chartmimic_scores(candidate, GOLD)["type"] == pytest.approx(4 / 7)


def test_color_f1_best_assignment_within_method():
    candidate = [("plot", "#0000ff"), ("plot", "#ff0000"), ("bar", "cmap:plasma")]
    # plot pairs swap order but match exactly (2.0); cmaps differ (0); P = R = 2/3.
    assert color_f1(candidate, GOLD["colors"]) == pytest.approx(2 / 3)
    near = [("plot", "#ee0000"), ("plot", "#0000ff"), ("bar", "cmap:viridis")]
    s = float(color_similarity(to_rgb("#ee0000"), to_rgb("#ff0000")))
    assert color_f1(near, GOLD["colors"]) == pytest.approx((2 + s) / 3)


def test_color_f1_beats_greedy_pairing():
    # Two colours a side have two possible pairings: the score is the better one's total.
    gold = [("bar", "#ff0000"), ("bar", "#ffff00")]
    candidate = [("bar", "#ff4000"), ("bar", "#ffb000")]
    pairs = [("#ff4000", "#ff0000"), ("#ffb000", "#ffff00")]
    crossed = [("#ff4000", "#ffff00"), ("#ffb000", "#ff0000")]
    straight = sum(float(color_similarity(to_rgb(a), to_rgb(b))) for a, b in pairs)
    cross = sum(float(color_similarity(to_rgb(a), to_rgb(b))) for a, b in crossed)
    assert color_f1(candidate, gold) == pytest.approx(max(straight, cross) / 2)


def test_f1_is_zero_when_either_side_is_empty():
    # ChartMimic's evaluators return 0 before matching when a side logged nothing.
    assert f1_score(0, 0, 0) == 0.0
    assert f1_score(0, 3, 0) == 0.0
    assert multiset_f1([], ["a"]) == 0.0


PROGRAM = """
import matplotlib.pyplot as plt
fig = plt.figure(figsize=(8, 3))
ax = fig.add_subplot(1, 2, 1)
ax.bar(["a", "b"], [3, 4], color=["{first}", "{second}"])
ax.plot([0, 1], [2, 3], color="black", label="trend")
{title}ax.set_xlabel("group")
ax.legend()
{second_axes}
"""
BASE = dict(
    first="red",
    second="blue",
    title='ax.set_title("Sales")\n',
    second_axes=("fig.add_subplot(1, 2, 2).set_axis_off()"),
)


def record(renderer, **changes):
    code = textwrap.dedent(PROGRAM.format(**{**BASE, **changes}))
    result = renderer.render(RenderRequest("r", "chart", code, options={"record": True}))
    assert result.ok, result.error
    assert result.image_png and result.width > 0  # the image comes from the same run
    return result.metrics["chartmimic"]


@pytest.fixture(scope="module")
def gold(chart_recorder):
    return record(chart_recorder)


def test_recorded_program_contents(gold):
    assert sorted(gold["texts"]) == ["Sales", "group", "trend"]  # tick labels excluded
    assert gold["layout"] == ((1, 2, 0, 0, 0, 0), (1, 2, 0, 0, 1, 1))  # plain data: tuples
    assert gold["types"] == {"bar": 1, "plot": 1}
    assert gold["colors"] == (("bar", "#0000ff"), ("bar", "#ff0000"), ("line", "#000000"))


def test_identical_programs_score_one_everywhere(chart_recorder, gold):
    again = record(chart_recorder)
    assert chartmimic_scores(again, gold) == {"text": 1.0, "layout": 1.0, "type": 1.0, "color": 1.0}


def test_swapped_color_lowers_only_color(chart_recorder, gold):
    scores = chartmimic_scores(record(chart_recorder, second="green"), gold)
    # bar colours {red, green} vs {red, blue}: matched 1 + sim(green, blue) of 3 on each side.
    s = float(color_similarity(to_rgb("green"), to_rgb("blue")))
    assert scores == pytest.approx({"text": 1, "layout": 1, "type": 1, "color": (2 + s) / 3})


def test_missing_subplot_lowers_only_layout(chart_recorder, gold):
    scores = chartmimic_scores(record(chart_recorder, second_axes=""), gold)
    # one of two positions: P = 1, R = 1/2 -> F1 = 2/3.
    assert scores == pytest.approx({"text": 1, "layout": 2 / 3, "type": 1, "color": 1})


def test_missing_text_lowers_only_text(chart_recorder, gold):
    scores = chartmimic_scores(record(chart_recorder, title=""), gold)
    # two of three strings: P = 1, R = 2/3 -> F1 = 4/5.
    assert scores == pytest.approx({"text": 4 / 5, "layout": 1, "type": 1, "color": 1})


def test_nested_plotting_calls_count_once_and_own_draws_are_not_doubled(chart_recorder):
    code = textwrap.dedent(
        """
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots()
        ax.hist([1, 2, 2, 3], color="purple")
        plt.title("Twice drawn\\nin two lines")
        fig.canvas.draw()
        """
    )
    result = chart_recorder.render(RenderRequest("h", "chart", code, options={"record": True}))
    assert result.ok, result.error
    record_ = result.metrics["chartmimic"]
    assert record_["types"] == {"hist": 1}  # not the bar calls hist makes inside
    assert record_["colors"] == (("hist", "#800080"),)
    assert record_["texts"] == ("Twice drawn", "in two lines")


def test_plain_requests_are_not_recorded(chart_recorder):
    code = "import matplotlib.pyplot as plt\nplt.plot([1, 2])\n"
    result = chart_recorder.render(RenderRequest("p", "chart", code))
    assert result.ok and "chartmimic" not in result.metrics


def test_multiline_axis_labels_count_and_multiline_tick_labels_do_not(chart_recorder):
    code = textwrap.dedent(
        """
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, 1])
        ax.set_xticks([0, 1], ["Jan\\n2020", "Feb\\n2020"])
        ax.set_xlabel("month\\nof year")
        ax.text(0.5, 0.5, "note")
        """
    )
    result = chart_recorder.render(RenderRequest("m", "chart", code, options={"record": True}))
    assert result.ok, result.error
    assert sorted(result.metrics["chartmimic"]["texts"]) == ["month", "note", "of year"]


def test_departures_name_each_injected_change_and_nothing_else(chart_recorder, gold):
    """Each change made to the gold program is named on its own line, in terms the writer can
    act on; the unchanged program departs in nothing."""
    assert departures(record(chart_recorder), gold) == []
    assert departures(record(chart_recorder, title=""), gold) == [
        "text in the target that yours lacks: 'Sales'"
    ]
    assert departures(record(chart_recorder, title='ax.set_title("Costs")\n'), gold) == [
        "text in the target that yours lacks: 'Sales'",
        "text in yours that the target lacks: 'Costs'",
    ]
    assert departures(record(chart_recorder, second_axes=""), gold) == [
        "panels: the target has 2 panels in a 1 x 2 grid; yours has 1 panel in a 1 x 2 grid"
    ]
    assert departures(record(chart_recorder, second="green"), gold) == [
        "colours by call: the target has bar #0000ff #ff0000, line #000000; yours has "
        "bar #008000 #ff0000, line #000000"
    ]
    swapped = textwrap.dedent(PROGRAM.format(**BASE)).replace("ax.bar(", "ax.barh(")
    result = chart_recorder.render(RenderRequest("r", "chart", swapped, options={"record": True}))
    assert departures(result.metrics["chartmimic"], gold)[0] == (
        "plot calls: the target makes bar x1, plot x1; yours makes barh x1, plot x1"
    )
    assert (
        departures(None, gold)[0]
        == "plot calls: the target makes bar x1, plot x1; yours makes none"
    )
