"""Page pairs with the scores Design2Code's `visual_score.py` gives them, worked out by hand
from the official definitions (each pair names the rule it checks).

A pair is (name, rule, reference page, candidate page, expected block scores). Pages are
1280 px wide; text is centred, so a block's centre does not move when its text changes length.
`sim(a, b)` is max(0, 1 - CIEDE2000 / 100) between two colours.
"""

from matplotlib.colors import to_rgb

from render_service.metrics.color import color_similarity

PAGE = """<html><body style="margin: 0; font-family: 'DejaVu Sans'; text-align: center">
{body}</body></html>"""
H1 = '<h1 style="margin: 40px 0; color: {color}">{title}</h1>\n'
P = '<p style="margin: 40px 0; font-size: 24px">{text}</p>\n'
BASE = PAGE.format(
    body=H1.format(color="#000000", title="Welcome home") + P.format(text="Plan your week")
)
TWICE = PAGE.format(body=P.format(text="Same words") * 2)
ONE = dict(block_match=1.0, text=1.0, position=1.0, color=1.0)
ZERO = dict(block_match=0.0, text=0.0, position=0.0, color=0.0)


def sim(a: str, b: str) -> float:
    return float(color_similarity(to_rgb(a), to_rgb(b)))


PAIRS = [
    ("identical", "the same page scores 1 on every block score", BASE, BASE, ONE),
    (
        "recoloured title",
        "colour is the mean CIEDE2000 similarity of matched blocks' text colours",
        BASE,
        BASE.replace("#000000", "#cc0000"),
        {**ONE, "color": (1 + sim("#cc0000", "#000000")) / 2},
    ),
    (
        "case change",
        "block texts are lowercased before matching",
        BASE,
        BASE.replace("Welcome home", "Welcome Home"),
        ONE,
    ),
    (
        "changed text",
        "text is the SequenceMatcher ratio of matched blocks: 2 * 11 / 23 for the title",
        BASE,
        BASE.replace("Welcome home", "Welcome hom"),
        {**ONE, "text": (22 / 23 + 1) / 2},
    ),
    (
        "moved paragraph",
        "position is 1 - max(|dx|, |dy|) of box centres as shares of the page: 64 / 1280",
        BASE,
        BASE.replace("margin: 40px 0; font-size", "margin: 40px 0 40px 128px; font-size"),
        {**ONE, "position": (1 + 1 - 64 / 1280) / 2},
    ),
    (
        "missing block",
        "block_match is matched area over all area, both pages: 2 of 3 equal boxes",
        TWICE,
        PAGE.format(body=P.format(text="Same words")),
        {**ONE, "block_match": 2 / 3},
    ),
    (
        "extra block",
        "an unmatched candidate block counts in the area too",
        PAGE.format(body=P.format(text="Same words")),
        TWICE,
        {**ONE, "block_match": 2 / 3},
    ),
    (
        "bold to strong",
        "<b> is on the tag list and makes its own block, <strong> is not; joining the "
        "candidate's two blocks matches the reference exactly, so the greedy merge joins them",
        PAGE.format(body=P.format(text="Hello <strong>world</strong>")),
        PAGE.format(body=P.format(text="Hello <b>world</b>")),
        ONE,
    ),
    (
        "split into spans",
        "two spans on one line are two blocks; the greedy merge joins them",
        BASE,
        BASE.replace("Plan your week", "<span>Plan your</span> <span>week</span>"),
        ONE,
    ),
    (
        "text outside the tag list",
        "text with no p, h1-h6, div, span, a, b, li, table, td, th, button, footer, header "
        "or figcaption ancestor makes no block: a page without blocks scores 0",
        BASE,
        BASE.replace("<h1", "<section")
        .replace("</h1>", "</section>")
        .replace("<p", "<section")
        .replace("</p>", "</section>"),
        ZERO,
    ),
    (
        "figcaption",
        "figcaption is on the tag list: its text is a block of its own",
        PAGE.format(
            body="<figure><figcaption>Chart one</figcaption></figure>\n"
            + P.format(text="Plan your week")
        ),
        PAGE.format(
            body="<figure><figcaption>Chart one</figcaption></figure>\n"
            + P.format(text="Plan your week")
        ),
        ONE,
    ),
]
