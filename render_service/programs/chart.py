"""Clean matplotlib programs."""

from __future__ import annotations

import random

from sdpo_jax.data.synthetic import chart_item


def bundled(rng: random.Random) -> str:
    """The bundled generator's pyplot program: one panel or two side by side."""
    return chart_item(rng.randrange(2**31), 0).code


STYLES = (bundled,)
