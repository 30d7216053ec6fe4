"""Deterministic generators of the bundled tasks: random specs -> gold code -> (rendered target).

The tiny recipes train and evaluate on these, so the whole product runs with no download. Each
generator draws a spec from a seeded `random.Random`, writes the gold program a careful human
would write for it, and phrases the instruction the student sees; rendering the gold program
into the target image is the render service's job (`render_service` runs it like any other
program), so targets and rollouts pass through the same renderer.

The programs are short and regular on purpose: integer data, one statement a line, the same
statement order in every program. A tiny model can learn to write them whole (a gold chart is
about 150 tokens of the tiny tokenizer), and the defect injections of
`render_service.injections` find the statements they change.

The same (task, seed, index, attempt) always gives the same item, independent of the other
items. `attempt` draws another spec for the same index: the bundled set's builder asks for one
when the gold render of the first shows a defect of its own.
"""

from __future__ import annotations

import dataclasses
import random

# Every color has a WCAG contrast of at least 4.5 against white, so gold targets carry no
# low-contrast defect of their own (white text on them stays readable too).
PALETTE = ("#1f77b4", "#d62728", "#1e6b3a", "#6a3d9a", "#a0420b", "#0b5e6b", "#8c564b", "#7a2e5c")
WORDS = (
    "alpha", "beta", "gamma", "delta", "north", "south", "east", "west", "solar", "wind", "coal",
    "river", "forest", "city", "harbor", "market", "retail", "online", "mobile", "cloud", "edge",
    "sales", "costs", "growth", "users", "orders", "visits", "returns", "budget", "energy",
)  # fmt: skip
TOPICS = (
    "renewable energy", "coffee exports", "city cycling", "cloud costs", "ocean temperatures",
    "museum visits", "battery prices", "rail freight", "urban gardens", "streaming music",
)  # fmt: skip
# Light wedge colors keep black pie labels readable.
PIE_COLORS = ("#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2")
CHART_KINDS = ("line", "bar", "barh", "scatter", "pie", "hist", "stacked_bar", "area")


@dataclasses.dataclass(frozen=True)
class Item:
    """One bundled prompt: what the student is asked, and the gold program that answers it."""

    id: str
    task: str  # chart | web | slide
    domain: str  # the render_service domain of the gold code
    instruction: str
    code: str


def _rng(task: str, seed: int, index: int, attempt: int) -> random.Random:
    key = f"{task}:{seed}:{index}" + (f":{attempt}" if attempt else "")
    return random.Random(key)


def _title(rng: random.Random) -> str:
    return f"{rng.choice(TOPICS).title()} {rng.randint(2015, 2025)}"


def _labels(rng: random.Random, n: int) -> list[str]:
    return [w.title() for w in rng.sample(WORDS, n)]


# --------------------------------------------------------------------------- charts


def _values(rng: random.Random, n: int, lo: int = 5, hi: int = 95) -> list[int]:
    return [rng.randint(lo, hi) for _ in range(n)]


def _chart_panel(rng: random.Random, ax: str, kind: str) -> list[str]:
    """Lines drawing one panel of `kind` on the axes named `ax`."""
    n = rng.randint(4, 6)
    cats = _labels(rng, n)
    colors = rng.sample(PALETTE, 2)
    if kind == "pie":
        return [
            f"{ax}.pie({_values(rng, n)}, labels={cats}, colors={list(PIE_COLORS[:n])}, "
            "autopct='%1.0f%%')",
            f"{ax}.set_title({_title(rng)!r})",
        ]
    if kind == "line":
        start = rng.randint(2015, 2019)
        lines = [
            f"{ax}.plot({list(range(start, start + n))}, {_values(rng, n)}, "
            f"color={colors[0]!r}, marker='o', label={cats[0]!r})",
            f"{ax}.plot({list(range(start, start + n))}, {_values(rng, n)}, "
            f"color={colors[1]!r}, linestyle='--', label={cats[1]!r})",
            f"{ax}.legend()",
        ]
    elif kind == "bar":
        lines = [f"{ax}.bar({cats}, {_values(rng, n)}, color={colors[0]!r})"]
    elif kind == "barh":
        lines = [f"{ax}.barh({cats}, {_values(rng, n)}, color={colors[0]!r})"]
    elif kind == "scatter":
        m = rng.randint(6, 9)
        lines = [
            f"{ax}.scatter({_values(rng, m, 1, 9)}, {_values(rng, m, 10, 90)}, "
            f"color={colors[0]!r}, label={cats[0]!r})",
            f"{ax}.legend()",
        ]
    elif kind == "hist":
        lines = [
            f"{ax}.hist({sorted(_values(rng, 12, 20, 80))}, bins={rng.randint(4, 6)}, "
            f"color={colors[0]!r}, edgecolor='white')"
        ]
    elif kind == "stacked_bar":
        first = _values(rng, n, 5, 45)
        lines = [
            f"{ax}.bar({cats}, {first}, color={colors[0]!r}, label={cats[0]!r})",
            f"{ax}.bar({cats}, {_values(rng, n, 5, 45)}, bottom={first}, color={colors[1]!r}, "
            f"label={cats[1]!r})",
            f"{ax}.legend()",
        ]
    else:  # area
        lines = [
            f"{ax}.fill_between({list(range(n))}, {_values(rng, n)}, color={colors[0]!r}, "
            "alpha=0.4)",
        ]
    return [
        *lines,
        f"{ax}.set_title({_title(rng)!r})",
        f"{ax}.set_xlabel({rng.choice(WORDS).title()!r})",
        f"{ax}.set_ylabel({rng.choice(WORDS).title()!r})",
    ]


def chart_item(seed: int, index: int, attempt: int = 0) -> Item:
    rng = _rng("chart", seed, index, attempt)
    panels = rng.choice((1, 1, 1, 2))
    if panels == 1:
        code = [
            "import matplotlib.pyplot as plt",
            "",
            f"fig, ax = plt.subplots(figsize=({rng.choice((5, 6, 7))}, {rng.choice((4, 5))}))",
            *_chart_panel(rng, "ax", rng.choice(CHART_KINDS)),
        ]
    else:
        code = [
            "import matplotlib.pyplot as plt",
            "",
            f"fig, (ax1, ax2) = plt.subplots(1, 2, figsize=({rng.choice((10, 11))}, 4))",
            *_chart_panel(rng, "ax1", rng.choice(CHART_KINDS)),
            *_chart_panel(rng, "ax2", rng.choice(CHART_KINDS)),
        ]
    code.append("fig.tight_layout()")
    shown = "one chart" if panels == 1 else "two charts side by side"
    instruction = (
        f"The image shows {shown}. Write Python code with matplotlib that reproduces it as "
        "exactly as you can: the same chart types, data, colors, titles, labels and layout. "
        "Answer with one ```python code block."
    )
    return Item(f"chart-{seed}-{index}", "chart", "chart", instruction, "\n".join(code) + "\n")


# --------------------------------------------------------------------------- web pages


def _css_color(rng: random.Random, dark: bool) -> str:
    base = (rng.randint(10, 60) if dark else rng.randint(225, 250) for _ in range(3))
    return "#" + "".join(f"{v:02x}" for v in base)


def web_item(seed: int, index: int, attempt: int = 0) -> Item:
    rng = _rng("web", seed, index, attempt)
    accent, bg, ink = rng.choice(PALETTE), _css_color(rng, dark=False), _css_color(rng, dark=True)
    brand = rng.choice(WORDS).title() + rng.choice(("ly", "io", "hub", "works"))
    nav = " ".join(_labels(rng, rng.randint(2, 4)))
    cards = "\n".join(
        f'<div class="card"><h3>{w}</h3><p>{rng.choice(TOPICS).capitalize()} for every '
        f"{rng.choice(WORDS)} team.</p></div>"
        for w in _labels(rng, rng.choice((2, 3, 4)))
    )
    headline = f"{rng.choice(('Simple', 'Faster', 'Smarter', 'Open'))} {rng.choice(TOPICS)}"
    code = f"""<!DOCTYPE html>
<html>
<head>
<style>
body {{ margin: 0; font-family: sans-serif; background: {bg}; color: {ink}; }}
header {{ display: flex; justify-content: space-between; padding: 16px 40px; background: {ink}; color: #ffffff; }}
.hero {{ padding: {rng.choice((40, 60, 80))}px 40px; text-align: {rng.choice(("left", "center"))}; }}
h1 {{ font-size: {rng.choice((32, 40, 48))}px; margin: 0 0 12px; }}
button {{ background: {accent}; color: #ffffff; border: none; padding: 12px 28px; font-size: 16px; }}
.cards {{ display: flex; gap: 24px; padding: 0 40px; }}
.card {{ flex: 1; background: #ffffff; padding: 20px; border-top: 4px solid {accent}; }}
</style>
</head>
<body>
<header><b>{brand}</b><span>{nav}</span></header>
<section class="hero">
<h1>{headline.capitalize()}</h1>
<p>{brand} helps you plan {rng.choice(TOPICS)} in minutes.</p>
<button>Get started</button>
</section>
<section class="cards">
{cards}
</section>
</body>
</html>
"""
    instruction = (
        "The image is a screenshot of a web page (1280 px wide). Write one HTML file with inline "
        "CSS that reproduces it: the same layout, text, colors and sizes. Answer with one "
        "```html code block."
    )
    return Item(f"web-{seed}-{index}", "web", "web", instruction, code)


# --------------------------------------------------------------------------- slides


def slide_item(seed: int, index: int, attempt: int = 0) -> Item:
    rng = _rng("slide", seed, index, attempt)
    topic = rng.choice(TOPICS)
    title = (
        f"{rng.choice(('Why', 'How', 'Where'))} {topic} {rng.choice(('matters', 'grows', 'works'))}"
    )
    bullets = [
        f"{w} {rng.choice(('rose', 'fell', 'held'))} {rng.randint(3, 40)}% in {rng.randint(2019, 2025)}"
        for w in _labels(rng, rng.randint(3, 4))
    ]
    accent, ink = rng.choice(PALETTE), _css_color(rng, dark=True)
    items = "\n".join(f"<li>{b}</li>" for b in bullets)
    stat = f"{rng.randint(10, 95)}%"
    code = f"""<!DOCTYPE html>
<html>
<head>
<style>
body {{ margin: 0; width: 1280px; height: 720px; overflow: hidden; font-family: sans-serif; color: {ink}; }}
h1 {{ font-size: 48px; margin: 64px 80px 32px; }}
.body {{ display: flex; gap: 64px; margin: 0 80px; }}
ul {{ flex: 2; font-size: 28px; line-height: 1.6; margin: 0; }}
.stat {{ flex: 1; background: {accent}; color: #ffffff; text-align: center; padding: 40px 24px; font-size: 28px; }}
</style>
</head>
<body>
<h1>{title}</h1>
<div class="body">
<ul>
{items}
</ul>
<div class="stat"><b>{stat}</b> of teams cite {topic}</div>
</div>
</body>
</html>
"""
    points = "; ".join(bullets)
    instruction = (
        f"Make one 1280x720 HTML slide titled '{title}'. Key points: {points}. Highlight the "
        f"figure {stat} (share of teams that cite {topic}) in an accent box. Keep every element "
        "inside the slide, readable and aligned. Answer with one ```html code block."
    )
    return Item(f"slide-{seed}-{index}", "slide", "slide_html", instruction, code)


GENERATORS = {"chart": chart_item, "web": web_item, "slide": slide_item}


def item(task: str, seed: int, index: int, attempt: int = 0) -> Item:
    """Item `index` of the bundled `task` set for `seed`; `attempt` > 0 draws another spec."""
    if task not in GENERATORS:
        raise ValueError(f"task={task!r}: allowed values are {', '.join(GENERATORS)}")
    return GENERATORS[task](seed, index, attempt)


def items(task: str, count: int, *, seed: int = 0, start: int = 0) -> list[Item]:
    """Items `start .. start+count-1` of the bundled `task` set for `seed` (first attempts)."""
    return [item(task, seed, i) for i in range(start, start + count)]
