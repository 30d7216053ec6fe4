"""Defect injections: each one changes the statement it names and nothing else, and rendered,
the program shows the defect it promises (or fails, for the error injections)."""

import ast
import difflib
import random

import pytest

from render_service import RenderConfig, RenderPool, RenderRequest
from render_service.injections import ERROR, INJECTIONS, css_rules, for_domain, inject
from render_service.programs import clean_program

CHART = """import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(6, 4))
ax.bar(['North', 'South', 'East', 'West', 'Coal', 'Wind'], [23, 45, 12, 38, 30, 41], color='#1f77b4')
ax.set_title('Coffee Exports 2019')
ax.set_xlabel('Region')
ax.set_ylabel('Sales')
fig.tight_layout()
"""
LINES = """import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(6, 4))
ax.plot([2015, 2016, 2017, 2018, 2019], [20, 80, 30, 90, 50], color='#1f77b4', marker='o', label='A')
ax.plot([2015, 2016, 2017, 2018, 2019], [70, 20, 60, 30, 60], color='#d62728', label='B')
ax.legend()
ax.set_title('Museum Visits 2019')
fig.tight_layout()
"""
PANELS = """import matplotlib.pyplot as plt

fig = plt.figure(figsize=(10, 4))
left = fig.add_axes([0.08, 0.15, 0.38, 0.7])
left.bar(['North', 'South', 'East'], [23, 45, 12], color='#1f77b4')
right = fig.add_axes([0.58, 0.15, 0.38, 0.7])
right.plot([1, 2, 3], [4, 6, 5], color='#d62728')
"""
SCATTER = """import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(6, 4))
ax.scatter([1, 6, 5, 4, 3, 9], [14, 19, 28, 90, 38, 87], color='#0b5e6b')
ax.set_title('Museum Visits 2019')
"""
AREA = """import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(6, 4))
ax.fill_between([0, 1, 2, 3, 4, 5], [37, 11, 53, 31, 95, 71], color='#8c564b', alpha=0.4)
ax.set_title('Museum Visits 2019')
"""
COLUMN = """import matplotlib.pyplot as plt

plt.figure(figsize=(7, 6))
upper = plt.axes([0.13, 0.56, 0.78, 0.36])
upper.plot([0, 1, 2, 3], [4, 6, 5, 7], marker='o')
lower = plt.axes([0.13, 0.1, 0.78, 0.36], sharex=upper)
lower.bar([0, 1, 2, 3], [3, 1, 4, 2])
"""
PAGE = """<!DOCTYPE html>
<html>
<head>
<style>
body { margin: 0; font-family: sans-serif; background: #f3f1ee; color: #1e2a33; }
header { display: flex; justify-content: space-between; padding: 16px 40px; background: #1e2a33; color: #ffffff; }
.hero { padding: 60px 40px; text-align: center; }
h1 { font-size: 40px; margin: 0 0 12px; }
.cards { display: flex; gap: 24px; padding: 0 40px; }
.card { flex: 1; background: #ffffff; padding: 20px; }
</style>
</head>
<body>
<header><b>Brandly</b><span>Home About</span></header>
<section class="hero"><h1>Simple coffee exports</h1><p>Plan city cycling in minutes.</p></section>
<section class="cards">
<div class="card"><h3>North</h3><p>Cloud costs for every team.</p></div>
<div class="card"><h3>South</h3><p>Rail freight for every team.</p></div>
</section>
</body>
</html>
"""
SLIDE = """<!DOCTYPE html>
<html>
<head>
<style>
body { margin: 0; width: 1280px; height: 720px; overflow: hidden; font-family: sans-serif; color: #132130; }
h1 { font-size: 48px; margin: 64px 80px 32px; }
.body { display: flex; gap: 64px; margin: 0 80px; }
ul { flex: 2; font-size: 28px; line-height: 1.6; margin: 0; }
.stat { flex: 1; background: #d62728; color: #ffffff; text-align: center; padding: 40px 24px; font-size: 28px; }
</style>
</head>
<body>
<h1>Why renewable energy works</h1>
<div class="body">
<ul>
<li>Energy rose 7% in 2025</li>
<li>East held 25% in 2021</li>
</ul>
<div class="stat"><b>29%</b> of teams cite renewable energy</div>
</div>
</body>
</html>
"""
# Per injection: the clean program it applies to (each is a bundled generator's style).
PROGRAMS = {
    "chart": (CHART, LINES, PANELS),
    "web": (PAGE,),
    "slide_html": (SLIDE,),
    "slide_pptx": tuple(clean_program("slide_pptx", 0, i) for i in range(4)),
}


def applied():
    """(domain, injection, clean program, injected) for every injection and program it fits."""
    cases = []
    for domain, programs in PROGRAMS.items():
        for injection in for_domain(domain):
            for program in programs:
                injected = injection.apply(program, random.Random(0))
                if injected is not None:
                    cases.append((domain, injection, program, injected))
                    break
    return cases


def test_every_injection_applies_to_a_program_of_its_domain():
    names = {injection.name for _, injection, _, _ in applied()}
    assert names == set(INJECTIONS)


@pytest.mark.parametrize("case", applied(), ids=lambda c: f"{c[0]}:{c[1].name}")
def test_an_injection_changes_only_the_lines_it_names(case):
    domain, injection, program, injected = case
    matcher = difflib.SequenceMatcher(None, program.splitlines(), injected.code.splitlines())
    changed = {
        j + 1
        for tag, _, _, j1, j2 in matcher.get_opcodes()
        if tag != "equal"
        for j in range(j1, j2)
    }
    assert changed and changed <= set(injected.lines)
    assert injected.kind == injection.kind and injected.name == injection.name
    if domain == "chart" and injection.kind != ERROR:
        ast.parse(injected.code)  # still a program


@pytest.mark.slow
@pytest.mark.chromium
@pytest.mark.libreoffice
def test_rendered_injections_show_their_defect_at_their_lines():
    """Each visible-defect injection, rendered, shows a defect of its kind traced to one of
    its lines; each error injection fails."""
    cases = applied()
    requests = [RenderRequest(i.name, d, inj.code) for d, i, _, inj in cases]
    with RenderPool(RenderConfig(workers=2), warm_domains=("chart", "web", "slide_pptx")) as pool:
        results = pool.render(requests)
    for (_, injection, _, injected), result in zip(cases, results, strict=True):
        if injection.kind == ERROR:
            assert not result.ok, injection.name
        else:
            assert any(
                d.kind == injection.kind and set(d.source_lines) & set(injected.lines)
                for d in result.defects
            ), (injection.name, result.defects)


# Every family an injection covers: each way real code draws data that can leave its axes,
# each way hand-placed panels share an edge (a row of add_axes, a column of plt.axes).
FAMILIES = [
    ("unclipped_artist", LINES, "line 'A' runs out"),
    ("unclipped_artist", SCATTER, "scatter runs out"),
    ("unclipped_artist", AREA, "filled area runs out"),
    ("misaligned_panels", PANELS, " row "),
    ("misaligned_panels", COLUMN, " column "),
]


@pytest.mark.parametrize("name, program, family", FAMILIES, ids=[f[2].strip() for f in FAMILIES])
def test_each_family_an_injection_covers_shows_its_defect(name, program, family, chart_renderer):
    injected = INJECTIONS[name].apply(program, random.Random(3))
    result = chart_renderer.render(RenderRequest(name, "chart", injected.code))
    found = [d for d in result.defects if d.kind == injected.kind]
    assert any(set(d.source_lines) & set(injected.lines) for d in found), result.defects
    assert any(family in d.message for d in found), [d.message for d in found]


def test_css_rules_and_inject_pick_among_what_applies():
    rules = css_rules(PAGE)
    assert rules[".card"] == 10 and rules["h1"] == 8
    injected = inject(PAGE, "web", random.Random(1))
    assert injected is not None and injected.kind != ERROR
    failing = inject(CHART, "chart", random.Random(1), errors=True)
    assert failing.kind == ERROR
    assert inject("print('no chart here')\n", "chart", random.Random(0)) is None
