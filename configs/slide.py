"""Paper scale, slide generation: a brief (+ reference slide) -> one 1280x720 HTML slide.

make train CONFIG=slide ARGS="model.path=/models/Qwen3-VL-8B-Instruct"
"""

from configs._common import paper_scale
from sdpo_jax.config import Config


def get_config() -> Config:
    return paper_scale("slide")
