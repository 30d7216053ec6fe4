"""Paper scale, design-to-code: page screenshot + instruction -> HTML/CSS.

make train CONFIG=web ARGS="model.path=/models/Qwen3-VL-8B-Instruct"
"""

from configs._common import paper_scale
from sdpo_jax.config import Config


def get_config() -> Config:
    return paper_scale("web")
