"""Content edits change one scored property of a gold chart or page: the edited program still
runs, and the departures from the gold render name what was changed."""

import random

import pytest

from render_service import RenderConfig, RenderPool, RenderRequest, metrics
from render_service.metrics import chartmimic, design2code
from render_service.metrics.scoring import scoring_options
from render_service.programs import synthetic
from sdpo_jax.method.rewards import RECORDS
from sdpo_jax.warmstart.content_edits import EDITS, PAGE_EDITS, recolor, retitle, retype

CODE = """import matplotlib.pyplot as plt

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
ax1.bar(['North', 'South', 'East'], [4, 7, 2], color='#1f77b4')
ax1.set_title('Museum Visits 2019')
ax2.plot([2019, 2020, 2021], [5, 3, 8], color='#d62728', marker='o')
ax2.set_xlabel('Year')
fig.tight_layout()
"""
DONOR = """import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(7, 5))
ax.scatter([1, 2, 3], [3, 1, 2], color='#2ca02c')
ax.set_title('Rail Freight 2021')
"""


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    return [(a, b) for a, b in zip(before.split("\n"), after.split("\n"), strict=True) if a != b]


def test_retitle_gives_one_title_or_label_the_donors_words():
    edited = retitle(CODE, DONOR, random.Random(0))
    [(before, after)] = changed_lines(CODE, edited)
    assert "'Rail Freight 2021'" in after
    assert before.split("(")[0] == after.split("(")[0]  # the same call, only its text changed


def test_recolor_gives_one_mark_a_donor_colour():
    edited = recolor(CODE, DONOR, random.Random(0))
    [(before, after)] = changed_lines(CODE, edited)
    assert "color='#2ca02c'" in after and "#2ca02c" not in before


def test_retype_swaps_a_plot_call_for_one_that_takes_the_same_arguments():
    swaps = {changed_lines(CODE, retype(CODE, DONOR, random.Random(s)))[0] for s in range(8)}
    assert swaps == {
        ("ax1.bar(['North', 'South', 'East'], [4, 7, 2], color='#1f77b4')",
         "ax1.barh(['North', 'South', 'East'], [4, 7, 2], color='#1f77b4')"),
        ("ax2.plot([2019, 2020, 2021], [5, 3, 8], color='#d62728', marker='o')",
         "ax2.scatter([2019, 2020, 2021], [5, 3, 8], color='#d62728', marker='o')"),
    }  # fmt: skip


@pytest.mark.parametrize("name", sorted(EDITS))
def test_an_edit_with_nothing_to_change_gives_none(name):
    nothing = "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.pie([1, 2])\n"
    assert EDITS[name](nothing, nothing, random.Random(0)) is None
    assert EDITS[name]("ax.bar(", DONOR, random.Random(0)) is None  # does not parse


@pytest.mark.slow
def test_edited_bundled_charts_run_and_the_departures_name_the_change():
    items = synthetic.items("chart", 12, seed=3)
    record = RECORDS["chartmimic"]
    expected = {
        "retitle": "text in the target that yours lacks",
        "recolor": "colours by call",
        "retype": "plot calls",
    }
    with RenderPool(RenderConfig(workers=2), registry=metrics.registry()) as pool:
        for name, edit in EDITS.items():
            pairs = []
            for i, item in enumerate(items):
                edited = edit(item.code, items[(i + 1) % len(items)].code, random.Random(i))
                if edited is not None:
                    pairs.append((item.code, edited))
            assert len(pairs) >= 4, name
            requests = [
                scoring_options(RenderRequest(f"{name}{i}-{side}", "chart", code))
                for i, pair in enumerate(pairs)
                for side, code in enumerate(pair)
            ]
            results = pool.render(requests)
            for gold, candidate in zip(results[::2], results[1::2], strict=True):
                assert candidate.ok, candidate.error
                found = chartmimic.departures(candidate.metrics[record], gold.metrics[record])
                assert any(line.startswith(expected[name]) for line in found), (name, found)


PAGE = """<html><head><style>
body { color: #222222; } .note { color: #1f77b4; background: #ffffff; }
</style></head><body>
<h1>Museum Visits</h1><p class="note">Visits rose in spring.</p>
</body></html>"""
PAGE_DONOR = """<html><head><style>h2 { color: #d62728; }</style></head><body>
<h2>Rail Freight</h2><p>Freight fell in winter.</p><ul><li>Ports</li></ul>
</body></html>"""


@pytest.mark.parametrize(
    ("name", "donors"),
    [
        ("retitle", ["<h1>Rail Freight</h1>"]),
        ("reword", ['<p class="note">Freight fell in winter.</p>', '<p class="note">Ports</p>']),
        ("recolor", ["color: #d62728"]),
    ],
)
def test_a_page_edit_changes_one_text_or_colour_to_the_donors(name, donors):
    """A heading, a paragraph or list item, a text colour takes one of the donor's."""
    edited = PAGE_EDITS[name](PAGE, PAGE_DONOR, random.Random(0))
    [(before, changed)] = changed_lines(PAGE, edited)
    assert [d for d in donors if d in changed] and not [d for d in donors if d in before]
    assert PAGE_EDITS[name](PAGE, PAGE, random.Random(0)) is None  # nothing else to take


@pytest.mark.slow
@pytest.mark.chromium
@pytest.mark.parametrize("task", ["web", "slide"])
def test_edited_bundled_pages_render_and_the_departures_name_the_change(task):
    items = synthetic.items(task, 6, seed=3)
    expected = {
        "retitle": ("text that reads otherwise", "text in the target that yours lacks"),
        "reword": ("text that reads otherwise", "text in the target that yours lacks"),
        "recolor": ("text coloured otherwise",),
    }
    with RenderPool(RenderConfig(workers=2), registry=metrics.registry()) as pool:
        for name, edit in PAGE_EDITS.items():
            pairs = []
            for i, item in enumerate(items):
                edited = edit(item.code, items[(i + 1) % len(items)].code, random.Random(i))
                if edited is not None:
                    pairs.append((item.domain, item.code, edited))
            assert len(pairs) >= 4, name
            requests = [
                scoring_options(RenderRequest(f"{name}{i}-{side}", domain, code))
                for i, (domain, *codes) in enumerate(pairs)
                for side, code in enumerate(codes)
            ]
            results = pool.render(requests)
            named = 0
            for gold, candidate in zip(results[::2], results[1::2], strict=True):
                assert candidate.ok, candidate.error
                found = design2code.departures(candidate.metrics["blocks"], gold.metrics["blocks"])
                named += any(line.startswith(expected[name]) for line in found)
            # A colour can land on a block's own ground colour's neighbour: most, not all.
            assert named >= len(pairs) - 1, (name, named, len(pairs))
