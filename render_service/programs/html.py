"""Clean HTML pages and slides."""

from __future__ import annotations

import random

from sdpo_jax.data.synthetic import slide_item, web_item


def bundled_page(rng: random.Random) -> str:
    """The bundled generator's landing page: header, hero, a flex row of cards."""
    return web_item(rng.randrange(2**31), 0).code


def bundled_slide(rng: random.Random) -> str:
    """The bundled generator's slide: title, bullet list, accent box."""
    return slide_item(rng.randrange(2**31), 0).code


WEB_STYLES = (bundled_page,)
SLIDE_STYLES = (bundled_slide,)
