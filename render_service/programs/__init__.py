"""Clean programs in varied styles: the starting points of injected labeled cases.

Each domain lists its styles, functions of a seeded `random.Random` that write one clean
program (the bundled generators' output is one style among hand-written templates). The
detectors were not written with these programs in view; an injection then adds one known defect.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from render_service.programs import chart, html, pptx

Style = Callable[[random.Random], str]

STYLES: dict[str, tuple[Style, ...]] = {
    "chart": chart.STYLES,
    "web": html.WEB_STYLES,
    "slide_html": html.SLIDE_STYLES,
    "slide_pptx": pptx.STYLES,
}
DOMAINS = tuple(domain for domain, styles in STYLES.items() if styles)


def clean_program(domain: str, seed: int, index: int, attempt: int = 0) -> str:
    """Program `index` of `domain` for `seed`: the styles in turn, each drawing its content
    from its own seeded generator, so the same arguments always give the same program. Each
    further `attempt` moves to the next style, with new content."""
    styles = STYLES[domain]
    style = styles[(index + attempt) % len(styles)]
    key = f"{domain}:{seed}:{index}" + (f":{attempt}" if attempt else "")
    return style(random.Random(key))
