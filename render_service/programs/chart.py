"""Clean matplotlib programs: the bundled generator's pyplot charts, and templates written the
other ways people lay out figures (object-oriented, gridspec, hand-placed axes, twin axes, an
inset), so injected defects meet the layouts the detectors must handle."""

from __future__ import annotations

import random

from render_service.programs.synthetic import PALETTE, TOPICS, WORDS, chart_item


def bundled(rng: random.Random) -> str:
    """The bundled generator's pyplot program: one panel or two side by side."""
    return chart_item(rng.randrange(2**31), 0).code


def _title(rng: random.Random) -> str:
    return f"{rng.choice(TOPICS).title()} {rng.randint(2015, 2025)}"


def _word(rng: random.Random) -> str:
    return rng.choice(WORDS).title()


def _categories(rng: random.Random, n: int) -> list[str]:
    return [w.title() for w in rng.sample(WORDS, n)]


def _values(rng: random.Random, n: int, lo: int = 10, hi: int = 90) -> list[int]:
    return [rng.randint(lo, hi) for _ in range(n)]


def object_oriented(rng: random.Random) -> str:
    """plt.figure + add_subplot, two labelled lines, a legend and a light grid."""
    n = rng.randint(5, 8)
    x = list(range(1, n + 1))
    first, second = rng.sample(PALETTE, 2)
    a, b = _categories(rng, 2)
    return f"""import matplotlib.pyplot as plt

fig = plt.figure(figsize=({rng.choice((6, 7, 8))}, {rng.choice((4, 5))}))
ax = fig.add_subplot(1, 1, 1)
ax.plot({x}, {_values(rng, n)}, color={first!r}, marker='o', label={a!r})
ax.plot({x}, {_values(rng, n)}, color={second!r}, marker='s', label={b!r})
ax.set_title({_title(rng)!r})
ax.set_xlabel('Month')
ax.set_ylabel({_word(rng)!r})
ax.grid(alpha=0.3)
ax.legend(loc='upper left', bbox_to_anchor=(1.01, 1.0))
fig.tight_layout()
"""


def gridspec(rng: random.Random) -> str:
    """A wide panel over two small ones on a GridSpec."""
    n = rng.randint(6, 9)
    k = rng.randint(3, 5)
    first, second, third = rng.sample(PALETTE, 3)
    return f"""import matplotlib.pyplot as plt

fig = plt.figure(figsize=(9, 6))
grid = fig.add_gridspec(2, 2)
top = fig.add_subplot(grid[0, :])
top.plot({list(range(n))}, {_values(rng, n)}, color={first!r}, marker='o')
top.set_title({_title(rng)!r})
top.set_ylabel({_word(rng)!r})
left = fig.add_subplot(grid[1, 0])
left.bar({_categories(rng, k)}, {_values(rng, k)}, color={second!r})
left.set_title({_title(rng)!r})
right = fig.add_subplot(grid[1, 1])
right.scatter({_values(rng, 8, 1, 9)}, {_values(rng, 8)}, color={third!r})
right.set_title({_title(rng)!r})
right.set_xlabel({_word(rng)!r})
fig.tight_layout()
"""


def placed_axes(rng: random.Random) -> str:
    """Two panels placed by hand, their edges on the same lines: side by side with
    fig.add_axes, or stacked with plt.axes and a shared x axis."""
    k = rng.randint(3, 5)
    n = rng.randint(5, 7)
    first, second = rng.sample(PALETTE, 2)
    if rng.random() < 0.5:
        # Room for a nudge of 0.04 either way (misaligned_panels) inside the figure.
        left, width = rng.choice((0.13, 0.15)), rng.choice((0.76, 0.78))
        return f"""import matplotlib.pyplot as plt

plt.figure(figsize=(7, 6))
upper = plt.axes([{left}, 0.56, {width}, 0.36])
upper.plot({list(range(n))}, {_values(rng, n)}, color={first!r}, marker='o')
upper.set_title({_title(rng)!r})
upper.set_ylabel({_word(rng)!r})
lower = plt.axes([{left}, 0.1, {width}, 0.36], sharex=upper)
lower.bar({list(range(n))}, {_values(rng, n)}, color={second!r})
lower.set_ylabel({_word(rng)!r})
lower.set_xlabel('Week')
"""
    bottom, height = rng.choice((0.15, 0.18)), rng.choice((0.65, 0.68))
    return f"""import matplotlib.pyplot as plt

fig = plt.figure(figsize=(10, 4))
left = fig.add_axes([0.08, {bottom}, 0.38, {height}])
left.bar({_categories(rng, k)}, {_values(rng, k)}, color={first!r})
left.set_title({_title(rng)!r})
left.set_ylabel({_word(rng)!r})
right = fig.add_axes([0.58, {bottom}, 0.38, {height}])
right.plot({list(range(n))}, {_values(rng, n)}, color={second!r}, marker='o')
right.set_title({_title(rng)!r})
right.set_xlabel('Week')
"""


def twin_axes(rng: random.Random) -> str:
    """Bars on the left axis and a rate line on a twinx right axis."""
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun"][: rng.randint(4, 6)]
    n = len(months)
    first, second = rng.sample(PALETTE, 2)
    return f"""import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=({rng.choice((7, 8))}, 4))
ax.bar({months}, {_values(rng, n, 20, 90)}, color={first!r})
ax.set_ylabel({_word(rng)!r})
rate = ax.twinx()
rate.plot({months}, {_values(rng, n, 1, 9)}, color={second!r}, marker='o')
rate.set_ylabel('Rate (%)')
ax.set_title({_title(rng)!r})
fig.tight_layout()
"""


def inset(rng: random.Random) -> str:
    """A falling line with an inset zoom in the empty upper right corner."""
    n = rng.randint(8, 12)
    values = sorted(_values(rng, n, 5, 60), reverse=True)
    first, second = rng.sample(PALETTE, 2)
    return f"""import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(7, 5))
ax.plot({list(range(n))}, {values}, color={first!r})
ax.set_ylim(0, 120)
ax.set_title({_title(rng)!r})
ax.set_xlabel('Day')
zoom = ax.inset_axes([0.55, 0.6, 0.4, 0.35])
zoom.plot({list(range(4))}, {values[:4]}, color={second!r}, marker='o')
zoom.set_title('First days', fontsize=9)
"""


STYLES = (bundled, bundled, object_oriented, gridspec, placed_axes, twin_axes, inset)
