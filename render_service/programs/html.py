"""Clean HTML pages and slides.

Besides the bundled generator's flex page and flex slide, hand-written styles lay pages out
with CSS grid, absolute positioning and a table, and slides with a two-column grid and
absolutely placed blocks, so detectors meet more than one way of building a page. CSS stays
one rule per line, and the rules the HTML injections edit (`.cards`, `.card`, `.hero`, `h1`,
`header`, `ul`, `table`, `.stat`) keep their names, so every injection finds its target.
"""

from __future__ import annotations

import random

from render_service.programs.synthetic import PALETTE, TOPICS, WORDS, slide_item, web_item

_NOUNS = (
    "teams", "reports", "budgets", "orders", "routes", "stores", "farms", "clinics", "schools",
    "servers", "shipments", "visitors", "readers", "drivers", "members", "suppliers",
)  # fmt: skip
_VERBS = ("track", "compare", "share", "plan", "review", "forecast", "price", "sort", "map")
_FONTS = ("sans-serif", "Georgia, serif", "Arial, sans-serif", "'DejaVu Sans', sans-serif")


def _ink(rng: random.Random) -> str:
    """A dark text color: readable on every light background below."""
    return "#" + "".join(f"{rng.randint(16, 60):02x}" for _ in range(3))


def _paper(rng: random.Random) -> str:
    return "#" + "".join(f"{rng.randint(232, 250):02x}" for _ in range(3))


def _brand(rng: random.Random) -> str:
    return rng.choice(WORDS).title() + rng.choice(("ly", "io", "hub", "works", "base"))


def _sentence(rng: random.Random, words: int) -> str:
    """A plain sentence of about `words` words."""
    parts = []
    while len(parts) < words:
        parts += [
            rng.choice(_VERBS),
            rng.choice(TOPICS),
            "for",
            rng.choice(WORDS),
            rng.choice(_NOUNS),
        ]
    text = " ".join(parts[:words])
    return text[0].upper() + text[1:] + "."


def _cards(rng: random.Random, count: int, lo: int, hi: int) -> list[str]:
    """Cards with a heading and a text of lo..hi words: their natural heights differ."""
    return [
        f"<h3>{rng.choice(WORDS).title()} {rng.choice(_NOUNS)}</h3><p>{_sentence(rng, rng.randint(lo, hi))}</p>"
        for _ in range(count)
    ]


def _document(css: str, body: str) -> str:
    """One HTML file: `css` (one rule per line, as the injections edit them) in the head's
    style element, then `body`."""
    return (
        f"<!DOCTYPE html>\n<html>\n<head>\n<style>\n{css}\n</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def bundled_page(rng: random.Random) -> str:
    """The bundled generator's landing page: header, hero, a flex row of cards."""
    return web_item(rng.randrange(2**31), 0).code


def grid_page(rng: random.Random) -> str:
    """A two-track grid hero beside a note, then a grid of cards in two rows."""
    accent, ink, paper = rng.choice(PALETTE), _ink(rng), _paper(rng)
    columns = rng.choice((3, 4))
    cards = "\n".join(f'<div class="card">{c}</div>' for c in _cards(rng, 2 * columns, 10, 28))
    return _document(
        f"""body {{ margin: 0; font-family: {rng.choice(_FONTS)}; background: {paper}; color: {ink}; }}
header {{ padding: 18px 48px; background: {accent}; color: #ffffff; font-size: {rng.choice((18, 20, 22))}px; }}
.hero {{ display: grid; grid-template-columns: 2fr 1fr; gap: 32px; padding: {rng.choice((32, 48, 64))}px 48px; }}
h1 {{ font-size: {rng.choice((34, 40, 46))}px; margin: 0 0 16px; }}
.note {{ background: #ffffff; padding: 20px; border-left: 4px solid {accent}; }}
.cards {{ display: grid; grid-template-columns: repeat({columns}, 1fr); gap: {rng.choice((16, 20, 28))}px; padding: 0 48px 48px; }}
.card {{ background: #ffffff; padding: {rng.choice((16, 20, 24))}px; }}
h3 {{ margin: 0 0 8px; font-size: 18px; }}
p {{ margin: 0; }}""",
        f"""<header>{_brand(rng)}</header>
<section class="hero">
<div><h1>{rng.choice(("Better", "Calmer", "Clearer"))} {rng.choice(TOPICS)}</h1><p>{_sentence(rng, 16)}</p></div>
<div class="note">{_sentence(rng, 14)}</div>
</section>
<section class="cards">
{cards}
</section>""",
    )


def absolute_page(rng: random.Random) -> str:
    """A page of absolutely placed blocks: brand, intro, badge, and a row of cards."""
    accent, ink, paper = rng.choice(PALETTE), _ink(rng), _paper(rng)
    cards = "\n".join(f'<div class="card">{c}</div>' for c in _cards(rng, 4, 8, 16))
    return _document(
        f"""body {{ margin: 0; font-family: {rng.choice(_FONTS)}; background: {paper}; color: {ink}; }}
header {{ position: relative; height: 64px; background: {ink}; color: #ffffff; }}
.brand {{ position: absolute; left: 40px; top: 20px; font-size: 20px; font-weight: bold; }}
.hero {{ position: relative; height: 300px; }}
.intro {{ position: absolute; left: 40px; top: 40px; width: 680px; }}
h1 {{ font-size: {rng.choice((36, 40, 44))}px; margin: 0 0 20px; }}
.lead {{ margin: 0; font-size: 18px; }}
.badge {{ position: absolute; right: 40px; top: 40px; width: 260px; padding: 24px; background: {accent}; color: #ffffff; }}
.cards {{ position: absolute; left: 40px; right: 40px; top: {rng.choice((380, 400, 420))}px; display: flex; gap: {rng.choice((24, 32, 40))}px; }}
.card {{ flex: 1; padding: 20px; background: #ffffff; }}
h3 {{ margin: 0 0 8px; }}
p {{ margin: 0; }}""",
        f"""<header><div class="brand">{_brand(rng)}</div></header>
<section class="hero">
<div class="intro"><h1>{rng.choice(("Plan", "Track", "Share"))} {rng.choice(TOPICS)} together</h1><p class="lead">{_sentence(rng, 18)}</p></div>
<div class="badge">{_sentence(rng, 10)}</div>
</section>
<section class="cards">
{cards}
</section>""",
    )


def table_page(rng: random.Random) -> str:
    """A report page: heading and lead, a data table, and a list of notes."""
    accent, ink = rng.choice(PALETTE), _ink(rng)
    columns = [rng.choice(WORDS).title() for _ in range(rng.choice((3, 4)))]
    rows = "\n".join(
        "<tr><td>"
        + rng.choice(_NOUNS).title()
        + "</td>"
        + "".join(f"<td>{rng.randint(10, 990)}</td>" for _ in columns)
        + "</tr>"
        for _ in range(rng.randint(4, 7))
    )
    kpis = "\n".join(
        f'<div class="card"><h3>{rng.randint(10, 990)}</h3><p>{rng.choice(_NOUNS).capitalize()} this {rng.choice(("week", "month", "year"))}, {rng.choice(("up", "down"))} {rng.randint(2, 40)}% on the last one</p></div>'
        for _ in range(rng.randint(2, 4))
    )
    notes = "\n".join(f"<li>{_sentence(rng, rng.randint(14, 24))}</li>" for _ in range(3))
    return _document(
        f"""body {{ margin: 0; font-family: {rng.choice(_FONTS)}; background: #ffffff; color: {ink}; }}
header {{ padding: 18px 40px; background: {accent}; color: #ffffff; font-size: 22px; }}
main {{ padding: 0 40px; }}
.hero {{ padding: {rng.choice((28, 36, 44))}px 0 12px; }}
h1 {{ font-size: {rng.choice((30, 34, 38))}px; margin: 0 0 8px; }}
.cards {{ display: flex; gap: 16px; margin: 8px 0 16px; }}
.card {{ width: 200px; padding: 14px 18px; background: {_paper(rng)}; }}
h3 {{ margin: 0 0 4px; font-size: 22px; }}
.card p {{ margin: 0; }}
table {{ border-collapse: collapse; margin: 16px 0 24px; width: {rng.choice((760, 880, 960))}px; }}
th {{ background: {_paper(rng)}; text-align: left; padding: 10px 14px; }}
td {{ padding: 10px 14px; border-bottom: 1px solid #cccccc; }}
ul {{ width: {rng.choice((480, 520, 560))}px; margin: 0 0 40px; line-height: 1.5; }}""",
        f"""<header>{_brand(rng)} report</header>
<main>
<section class="hero">
<h1>{rng.choice(TOPICS).capitalize()} by {rng.choice(_NOUNS)}</h1>
<p>{_sentence(rng, 14)}</p>
</section>
<section class="cards">
{kpis}
</section>
<table>
<tr><th>Group</th>{"".join(f"<th>{c}</th>" for c in columns)}</tr>
{rows}
</table>
<ul>
{notes}
</ul>
</main>""",
    )


def bundled_slide(rng: random.Random) -> str:
    """The bundled generator's slide: title, bullet list, accent box."""
    return slide_item(rng.randrange(2**31), 0).code


def _bullets(rng: random.Random) -> str:
    return "\n".join(
        f"<li>{rng.choice(WORDS).title()} {rng.choice(('rose', 'fell', 'held'))} "
        f"{rng.randint(3, 40)}% in {rng.randint(2019, 2025)}</li>"
        for _ in range(rng.randint(3, 4))
    )


def grid_slide(rng: random.Random) -> str:
    """A two-column grid slide: bullets on the left, an accent box with a figure on the right."""
    accent, ink, paper = rng.choice(PALETTE), _ink(rng), _paper(rng)
    topic = rng.choice(TOPICS)
    return _document(
        f"""body {{ margin: 0; width: 1280px; height: 720px; overflow: hidden; font-family: {rng.choice(_FONTS)}; background: {paper}; color: {ink}; }}
h1 {{ font-size: {rng.choice((40, 44, 48))}px; margin: 56px 72px 28px; }}
.body {{ display: grid; grid-template-columns: {rng.choice(("1fr 1fr", "3fr 2fr"))}; gap: 48px; margin: 0 72px; }}
ul {{ font-size: 26px; line-height: 1.5; margin: 0; padding-left: 32px; }}
.stat {{ background: {accent}; color: #ffffff; padding: 32px; font-size: {rng.choice((24, 26, 28))}px; }}
.stat p {{ margin: 12px 0 0; font-size: 20px; }}""",
        f"""<h1>{topic.capitalize()} in {rng.randint(2020, 2026)}</h1>
<div class="body">
<ul>
{_bullets(rng)}
</ul>
<div class="stat"><b>{rng.randint(10, 95)}%</b> of {rng.choice(_NOUNS)} cite {topic}<p>{_sentence(rng, 8)}</p></div>
</div>""",
    )


def absolute_slide(rng: random.Random) -> str:
    """A slide of absolutely placed blocks: title, bullets, accent box and a footer line."""
    accent, ink = rng.choice(PALETTE), _ink(rng)
    topic = rng.choice(TOPICS)
    return _document(
        f"""body {{ margin: 0; width: 1280px; height: 720px; overflow: hidden; position: relative; font-family: {rng.choice(_FONTS)}; background: #ffffff; color: {ink}; }}
h1 {{ position: absolute; left: 80px; top: 60px; margin: 0; font-size: {rng.choice((42, 46, 50))}px; }}
ul {{ position: absolute; left: 80px; top: 190px; width: 620px; margin: 0; font-size: 26px; line-height: 1.5; }}
.stat {{ position: absolute; left: {rng.choice((780, 800, 820))}px; top: 190px; width: 320px; padding: 32px; background: {accent}; color: #ffffff; font-size: 26px; }}
.footer {{ position: absolute; left: 80px; bottom: 40px; font-size: 18px; color: #555555; }}""",
        f"""<h1>{rng.choice(("Where", "How", "Why"))} {topic} {rng.choice(("grows", "works", "matters"))}</h1>
<ul>
{_bullets(rng)}
</ul>
<div class="stat"><b>{rng.randint(10, 95)}%</b> of {rng.choice(_NOUNS)} cite {topic}</div>
<div class="footer">{_brand(rng)} research, {rng.randint(2020, 2026)}</div>""",
    )


WEB_STYLES = (bundled_page, grid_page, absolute_page, table_page)
SLIDE_STYLES = (bundled_slide, grid_slide, absolute_slide)
