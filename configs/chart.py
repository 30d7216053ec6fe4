"""Paper scale, chart-to-code: target chart image + instruction -> matplotlib code.

make train CONFIG=chart ARGS="model.path=/models/Qwen3-VL-8B-Instruct"
"""

from configs._common import paper_scale
from sdpo_jax.config import Config


def get_config() -> Config:
    return paper_scale("chart")
