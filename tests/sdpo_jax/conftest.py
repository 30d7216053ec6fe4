"""Fixtures for the trainer's tests: a small byte-level BPE tokenizer trained here, wrapped as a
Hugging Face fast tokenizer like the real one."""

import contextlib
import os

import jax
import numpy as np
import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from sdpo_jax.commands.export import run_config
from sdpo_jax.data import bundled
from sdpo_jax.loop.checkpoints import Checkpointer
from sdpo_jax.loop.train_step import init_state, make_optimizer
from sdpo_jax.runtime import load_model

# Bundled sets of a few items: the trainer tests' runs take a handful of prompts.
SMALL_SPLITS = {"train": 12, "validation": 4, "heldout": 4}


@contextlib.contextmanager
def small_bundled_sets(cache):
    """Small bundled sets built under `cache` (XDG_CACHE_HOME); everything restored on exit.
    (Compiled programs are reused through the session's cache, tests/conftest.py.)"""
    saved = os.environ.get("XDG_CACHE_HOME"), bundled.SPLITS
    os.environ["XDG_CACHE_HOME"] = str(cache)
    bundled.SPLITS = SMALL_SPLITS
    try:
        yield cache
    finally:
        bundled.SPLITS = saved[1]
        if saved[0] is None:
            del os.environ["XDG_CACHE_HOME"]
        else:
            os.environ["XDG_CACHE_HOME"] = saved[0]


def first_moments(run_dir, step) -> list[np.ndarray]:
    """AdamW's first moment saved at `step` of a run, one array per parameter:
    (1 - b1) * sum_i b1^(step - i) * g_i over the steps' clipped gradients, linear in them.
    Restored into the run's own state structure on this process's devices, so a checkpoint
    that several processes wrote restores here too."""
    config = run_config(run_dir)
    model, _ = load_model(config.model, seed=config.train.seed, mesh=None, rules=None)
    optimizer = make_optimizer(config.optim, config.train.steps)
    _, like = init_state(model, optimizer, config.teacher, config.objective)
    with Checkpointer(run_dir / "checkpoints", save_every=1, keep=10) as ckpt:
        state, _, _ = ckpt.restore(step, like=like)
    moments = [
        np.asarray(leaf)
        for path, leaf in jax.tree_util.tree_flatten_with_path(state.opt_state)[0]
        if any(str(getattr(key, "key", getattr(key, "name", ""))) == "mu" for key in path)
    ]
    assert moments, "no AdamW first moment in the checkpoint"
    return moments


def assert_same_gradients(a_dir, b_dir, step) -> None:
    """Two runs took the same gradients up to `step`: each parameter's AdamW first moment agrees
    to 1e-4 of that parameter's largest entry, so the tolerance scales with the gradient (and
    parameters, which AdamW moves by up to the learning rate where a gradient is next to zero,
    are not compared)."""
    for a, b in zip(first_moments(a_dir, step), first_moments(b_dir, step), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * float(np.abs(b).max()))


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
