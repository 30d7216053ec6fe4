"""Fixtures for the trainer's tests: a small byte-level BPE tokenizer trained here, wrapped as a
Hugging Face fast tokenizer like the real one."""

import contextlib
import os

import jax
import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from sdpo_jax.data import bundled

# Bundled sets of a few items: the trainer tests' runs take a handful of prompts.
SMALL_SPLITS = {"train": 12, "validation": 4, "heldout": 4}


@contextlib.contextmanager
def small_bundled_sets(cache):
    """Small bundled sets built under `cache` (XDG_CACHE_HOME) and compiled programs reused
    between runs there; everything restored on exit."""
    saved = os.environ.get("XDG_CACHE_HOME"), bundled.SPLITS
    os.environ["XDG_CACHE_HOME"] = str(cache)
    bundled.SPLITS = SMALL_SPLITS
    jax.config.update("jax_compilation_cache_dir", str(cache / "jax"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    try:
        yield cache
    finally:
        jax.config.update("jax_compilation_cache_dir", None)
        bundled.SPLITS = saved[1]
        if saved[0] is None:
            del os.environ["XDG_CACHE_HOME"]
        else:
            os.environ["XDG_CACHE_HOME"] = saved[0]


CORPUS = [
    "import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(6, 4))\n",
    "ax.bar(labels, values, color='tab:blue')\nax.set_title('Sales by region')\n",
    "for i, v in enumerate(values):\n    ax.text(i, v, str(v), ha='center')\n",
    "plt.tight_layout()\nplt.savefig('out.png')\n",
    "<!DOCTYPE html>\n<html>\n<head><style>body { margin: 0; }</style></head>\n",
    '<body>\n  <div class="card"><h1>Title</h1><p>Some text here.</p></div>\n</body>\n</html>\n',
    "Here is the code for the chart you asked for. It draws the bars and labels them.\n",
]


@pytest.fixture(scope="session")
def bpe_tokenizer():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(CORPUS * 4, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok)
