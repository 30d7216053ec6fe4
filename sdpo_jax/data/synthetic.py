"""Deterministic generators of the bundled tasks: random specs -> gold code -> (rendered target).

The tiny recipes train and evaluate on these, so the whole product runs with no download. Each
generator draws a spec from a seeded `random.Random`, writes the gold program a careful human
would write for it, and phrases the instruction the student sees; rendering the gold program
into the target image is the render service's job (`render_service` runs it like any other
program), so targets and rollouts pass through the same renderer.

The same (task, seed, index) always gives the same item, independent of the other items.
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


def _rng(task: str, seed: int, index: int) -> random.Random:
    return random.Random(f"{task}:{seed}:{index}")


def _title(rng: random.Random) -> str:
    return f"{rng.choice(TOPICS).title()} {rng.randint(2015, 2025)}"


def _labels(rng: random.Random, n: int) -> list[str]:
    return [w.title() for w in rng.sample(WORDS, n)]


# --------------------------------------------------------------------------- charts


def _series(rng: random.Random, n: int, lo: float = 5, hi: float = 100) -> list[float]:
    return [round(rng.uniform(lo, hi), 1) for _ in range(n)]


def _chart_panel(rng: random.Random, ax: str, kind: str) -> list[str]:
    """Lines drawing one panel of `kind` on the axes named `ax`."""
    n = rng.randint(4, 7)
    cats = _labels(rng, n)
    colors = rng.sample(PALETTE, 3)
    if kind == "pie":
        return [
            f"{ax}.pie({_series(rng, n)}, labels={cats}, colors={list(PIE_COLORS[:n])}, "
            "autopct='%1.0f%%', startangle=90)",
            f"{ax}.set_title({_title(rng)!r})",
        ]
    lines: list[str]
    if kind == "line":
        x = list(range(2015, 2015 + n))
        lines = [
            f"{ax}.plot({x}, {_series(rng, n)}, color={colors[0]!r}, marker='o', label={cats[0]!r})",
            f"{ax}.plot({x}, {_series(rng, n)}, color={colors[1]!r}, linestyle='--', label={cats[1]!r})",
            f"{ax}.legend(loc='upper left')",
        ]
    elif kind == "bar":
        lines = [f"{ax}.bar({cats}, {_series(rng, n)}, color={colors[0]!r})"]
    elif kind == "barh":
        lines = [f"{ax}.barh({cats}, {_series(rng, n)}, color={colors[0]!r})"]
    elif kind == "scatter":
        m = rng.randint(12, 30)
        lines = [
            f"{ax}.scatter({_series(rng, m, 0, 10)}, {_series(rng, m, 0, 50)}, "
            f"color={colors[0]!r}, alpha=0.7, label={cats[0]!r})",
            f"{ax}.legend(loc='lower right')",
        ]
    elif kind == "hist":
        m = rng.randint(30, 60)
        lines = [
            f"{ax}.hist({[round(rng.gauss(50, 12), 1) for _ in range(m)]}, bins={rng.randint(6, 12)}, "
            f"color={colors[0]!r}, edgecolor='white')"
        ]
    elif kind == "stacked_bar":
        first, second = _series(rng, n), _series(rng, n)
        lines = [
            f"{ax}.bar({cats}, {first}, color={colors[0]!r}, label={cats[0]!r})",
            f"{ax}.bar({cats}, {second}, bottom={first}, color={colors[1]!r}, label={cats[1]!r})",
            f"{ax}.legend(loc='upper right')",
        ]
    else:  # area
        x = list(range(n))
        lines = [
            f"{ax}.fill_between({x}, {_series(rng, n)}, color={colors[0]!r}, alpha=0.4)",
            f"{ax}.plot({x}, {_series(rng, n)}, color={colors[1]!r})",
        ]
    return [
        *lines,
        f"{ax}.set_title({_title(rng)!r})",
        f"{ax}.set_xlabel({rng.choice(WORDS).title()!r})",
        f"{ax}.set_ylabel({rng.choice(WORDS).title()!r})",
    ]


def chart_item(seed: int, index: int) -> Item:
    rng = _rng("chart", seed, index)
    rows, cols = rng.choice(((1, 1), (1, 1), (1, 2), (2, 1), (2, 2)))
    width, height = (5 + 3 * (cols - 1), 4 + 2.5 * (rows - 1))
    code = [
        "import matplotlib.pyplot as plt",
        "",
        f"fig, axes = plt.subplots({rows}, {cols}, figsize=({width}, {height}), squeeze=False)",
    ]
    for r in range(rows):
        for c in range(cols):
            code += _chart_panel(rng, f"axes[{r}][{c}]", rng.choice(CHART_KINDS))
    code += ["fig.tight_layout()", "plt.show()"]
    panels = "one chart" if rows * cols == 1 else f"a {rows}x{cols} grid of charts"
    instruction = (
        f"The image shows {panels}. Write Python code with matplotlib that reproduces it as "
        "exactly as you can: the same chart types, data, colors, titles, labels and layout. "
        "Answer with one ```python code block."
    )
    return Item(f"chart-{seed}-{index}", "chart", "chart", instruction, "\n".join(code) + "\n")


# --------------------------------------------------------------------------- web pages


def _css_color(rng: random.Random, dark: bool) -> str:
    base = (rng.randint(10, 60) if dark else rng.randint(225, 250) for _ in range(3))
    return "#" + "".join(f"{v:02x}" for v in base)


def web_item(seed: int, index: int) -> Item:
    rng = _rng("web", seed, index)
    accent, bg, ink = rng.choice(PALETTE), _css_color(rng, dark=False), _css_color(rng, dark=True)
    brand = rng.choice(WORDS).title() + rng.choice(("ly", "io", "hub", "works"))
    nav = "".join(f"<a href='#'>{w}</a>" for w in _labels(rng, rng.randint(3, 5)))
    ncards = rng.choice((2, 3, 4))
    cards = "\n".join(
        f"    <div class='card'><h3>{w}</h3><p>{rng.choice(TOPICS).capitalize()} for every "
        f"{rng.choice(WORDS)} team.</p></div>"
        for w in _labels(rng, ncards)
    )
    headline = f"{rng.choice(('Simple', 'Faster', 'Smarter', 'Open'))} {rng.choice(TOPICS)}"
    code = f"""<!DOCTYPE html>
<html>
<head>
<style>
  body {{ margin: 0; font-family: sans-serif; background: {bg}; color: {ink}; }}
  header {{ display: flex; justify-content: space-between; align-items: center; padding: 16px 40px; background: {ink}; }}
  header .brand {{ color: #ffffff; font-size: 24px; font-weight: bold; }}
  nav a {{ color: #ffffff; margin-left: 24px; text-decoration: none; }}
  .hero {{ padding: {rng.randint(40, 80)}px 40px; text-align: {rng.choice(("left", "center"))}; }}
  .hero h1 {{ font-size: {rng.randint(32, 48)}px; margin: 0 0 12px; }}
  .hero button {{ background: {accent}; color: #ffffff; border: none; padding: 12px 28px; font-size: 16px; }}
  .cards {{ display: grid; grid-template-columns: repeat({ncards}, 1fr); gap: 24px; padding: 0 40px; }}
  .card {{ background: #ffffff; padding: 20px; border-top: 4px solid {accent}; }}
  footer {{ padding: 24px 40px; font-size: 14px; }}
</style>
</head>
<body>
  <header><div class="brand">{brand}</div><nav>{nav}</nav></header>
  <section class="hero">
    <h1>{headline.capitalize()}</h1>
    <p>{brand} helps you plan {rng.choice(TOPICS)} in minutes.</p>
    <button>Get started</button>
  </section>
  <section class="cards">
{cards}
  </section>
  <footer>&copy; {rng.randint(2019, 2025)} {brand}</footer>
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


def slide_item(seed: int, index: int) -> Item:
    rng = _rng("slide", seed, index)
    topic = rng.choice(TOPICS)
    title = (
        f"{rng.choice(('Why', 'How', 'Where'))} {topic} {rng.choice(('matters', 'grows', 'works'))}"
    )
    bullets = [
        f"{w} {rng.choice(('rose', 'fell', 'held'))} {rng.randint(3, 40)}% in {rng.randint(2019, 2025)}"
        for w in _labels(rng, rng.randint(3, 5))
    ]
    accent, ink = rng.choice(PALETTE), _css_color(rng, dark=True)
    items = "\n".join(f"      <li>{b}</li>" for b in bullets)
    stat = f"{rng.randint(10, 95)}%"
    code = f"""<!DOCTYPE html>
<html>
<head>
<style>
  body {{ margin: 0; width: 1280px; height: 720px; overflow: hidden; font-family: sans-serif; background: #ffffff; color: {ink}; }}
  .bar {{ height: 12px; background: {accent}; }}
  h1 {{ font-size: 48px; margin: 56px 80px 32px; }}
  .body {{ display: flex; gap: 64px; margin: 0 80px; }}
  ul {{ flex: 2; font-size: 28px; line-height: 1.6; margin: 0; padding-left: 32px; }}
  .stat {{ flex: 1; background: {accent}; color: #ffffff; text-align: center; padding: 48px 24px; }}
  .stat b {{ display: block; font-size: 72px; }}
</style>
</head>
<body>
  <div class="bar"></div>
  <h1>{title}</h1>
  <div class="body">
    <ul>
{items}
    </ul>
    <div class="stat"><b>{stat}</b>of teams cite {topic}</div>
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


def items(task: str, count: int, *, seed: int = 0, start: int = 0) -> list[Item]:
    """Items `start .. start+count-1` of the bundled `task` set for `seed`."""
    if task not in GENERATORS:
        raise ValueError(f"task={task!r}: allowed values are {', '.join(GENERATORS)}")
    return [GENERATORS[task](seed, i) for i in range(start, start + count)]
