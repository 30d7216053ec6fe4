"""Tiny web recipe: the built-in tiny model and the bundled data on the CPU, in minutes.

make train CONFIG=web_tiny
"""

from configs._common import tiny
from sdpo_jax.config import Config


def get_config() -> Config:
    return tiny("web")
