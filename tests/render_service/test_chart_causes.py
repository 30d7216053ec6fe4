"""Chart defects the injected cases found missed or blamed on the wrong line: data drawn with
clip_on=False past its plot, a figure too small for its text, long category names added by a
second call, a filled area in a near-white colour, and hand-placed panels nudged off the line. Each fires with the line that causes it
and stays silent on the clean variant."""

import pytest

from render_service.types import RenderRequest

UNCLIPPED = """import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot([1, 2, 3, 4], [10, 80, 20, 60], color='#1f77b4', clip_on={clip})
ax.set_ylim(0, {top})
ax.set_title('Visits')
"""

SMALL = """import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize={size})
ax.bar(['North', 'South', 'East', 'West'], [3, 5, 2, 4], color='#1f77b4')
ax.set_title('Quarterly visits by region')
ax.set_xlabel('Region')
ax.set_ylabel('Visits')
fig.tight_layout()
"""

CATEGORIES = """import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(7, 4))
ax.bar(['A', 'B', 'C', 'D'], [3, 5, 2, 4], color='#1f77b4')
ax.bar({labels}, [1, 1, 1, 1], bottom=[3, 5, 2, 4], color='#d62728')
fig.tight_layout()
"""

FILLED = """import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(6, 4))
ax.set_title('Rainfall')
ax.fill_between([0, 1, 2, 3], [4, 8, 3, 6], alpha=0.4, color={color!r})
"""


def render(renderer, code):
    result = renderer.render(RenderRequest("c", "chart", code))
    assert result.ok, result.error
    return {(d.kind, d.source_lines) for d in result.defects}


def test_data_drawn_unclipped_past_its_limits_is_overflow(chart_renderer):
    assert render(chart_renderer, UNCLIPPED.format(clip=False, top=40)) == {("overflow", (3, 4))}
    # Unclipped but inside its limits (a marker on the spine is fine), or clipped: silent.
    assert render(chart_renderer, UNCLIPPED.format(clip=False, top=80)) == set()
    assert render(chart_renderer, UNCLIPPED.format(clip=True, top=40)) == set()


def test_texts_of_a_figure_too_small_blame_its_size_too(chart_renderer):
    found = render(chart_renderer, SMALL.format(size=(1.5, 1.2)))
    assert found and all(2 in lines for kind, lines in found if kind == "text_overlap")
    assert "text_overlap" in {kind for kind, _ in found}
    assert render(chart_renderer, SMALL.format(size=(6, 4))) == set()


@pytest.mark.parametrize("long", [False, True])
def test_crowded_categories_blame_the_call_that_added_them(chart_renderer, long):
    names = [f"{n} Regional Quarterly Operating Total" if long else n for n in "ABCD"]
    found = render(chart_renderer, CATEGORIES.format(labels=names))
    # The same names again add no categories; long new ones crowd the axis.
    assert found == ({("text_overlap", (3, 4))} if long else set())


def test_a_near_white_filled_area_has_low_contrast(chart_renderer):
    assert render(chart_renderer, FILLED.format(color="#f2f2f2")) == {("low_contrast", (4,))}
    assert render(chart_renderer, FILLED.format(color="#1f77b4")) == set()


PANELS = """import matplotlib.pyplot as plt
fig = plt.figure(figsize=(10, 4))
left = fig.add_axes([0.08, 0.15, 0.38, 0.7])
left.bar(['North', 'South', 'East'], [23, 45, 12], color='#1f77b4')
right = fig.add_axes([0.58, {bottom}, 0.38, 0.7])
right.plot([1, 2, 3], [4, 6, 5], color='#d62728')
"""


def test_hand_placed_panels_almost_in_line_blame_both(chart_renderer):
    """Of two panels 5 px apart either may be the one moved: both placing lines are named."""
    assert render(chart_renderer, PANELS.format(bottom=0.162)) == {("misalignment", (3, 5))}
    assert render(chart_renderer, PANELS.format(bottom=0.15)) == set()


RESTYLED = {
    "line": ("line, = ax.plot([1, 2, 3], [2, 5, 3], color='#f0f0f0')", "line.set_linewidth(3)"),
    "title": ("t = ax.set_title('Sales', color='#eeeeee')", "t.set_fontsize(16)"),
    "scatter": ("s = ax.scatter([1, 2], [2, 5], color='#f2f2f2')", "s.set_sizes([80, 80])"),
    "setp": ("line, = ax.plot([1, 2, 3], [2, 5, 3]); plt.setp(line, color='#f5f5f5')", "line.set_linewidth(2)"),
    "label": ("ax.plot([1, 2]); ax.xaxis.label.set_color('#f0f0f0')", "ax.set_xlabel('Month')"),
}  # fmt: skip


@pytest.mark.parametrize("name", RESTYLED)
def test_low_contrast_blames_the_line_that_set_the_colour(chart_renderer, name):
    """Not the next line, which restyled the same artist in some other way."""
    coloured, restyled = RESTYLED[name]
    code = f"import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\n{coloured}\n{restyled}\n"
    assert render(chart_renderer, code) == {("low_contrast", (3,))}


def test_low_contrast_on_a_recoloured_face_blames_the_face_too(chart_renderer):
    code = """import matplotlib.pyplot as plt
fig, ax = plt.subplots()
ax.text(0.5, 0.5, 'Note', color='#333333', transform=ax.transAxes)
ax.set_facecolor('#222222')
"""
    assert render(chart_renderer, code) == {("low_contrast", (3, 4))}
