"""Greedy decoding equals transformers' `generate` (greedy) token for token on the tiny random
Qwen3-VL (perturbed norms and biases, float32): a text prompt, an image prompt, a left-padded
batch of prompts of different lengths with images, and rows ended early by EOS. The chosen
tokens' log-probs equal transformers' raw logits after a log-softmax."""

import jax
import numpy as np
import pytest
import torch

from models.qwen3_vl import load_hf
from sdpo_jax.loop.sampling import FINISH_EOS, FINISH_LENGTH, generate
from tests.models.conftest import TINY, build_hf_model, make_batch, text

NEW_TOKENS = 12
EOS = 4002  # <|im_end|>
PAD = 0
TOL = 1e-4

CASES = {
    "text_prompt": ([text(12)], []),
    "image_prompt": ([[*text(3), "img", *text(5, 1)]], [(1, 4, 6)]),
    "batch_of_different_lengths": (
        [[*text(4), "img", *text(6, 4)], [*text(2, 5), "img", *text(1, 6)], [*text(3, 7)]],
        [(1, 4, 4), (1, 2, 4)],
    ),
}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    jax.config.update("jax_default_matmul_precision", "highest")
    hf = build_hf_model()
    path = tmp_path_factory.mktemp("hf_sampler")
    hf.save_pretrained(path)
    return hf, load_hf(path)


def hf_greedy(hf, ids, mask, pixels, grid, eos):
    """transformers' greedy tokens [B, NEW_TOKENS] (PAD after EOS) and raw logits per step."""
    kwargs = dict(
        input_ids=torch.tensor(ids),
        attention_mask=torch.tensor(mask),
        mm_token_type_ids=torch.tensor((ids == TINY.image_token_id).astype(np.int64)),
    )
    if pixels is not None:
        kwargs.update(pixel_values=torch.tensor(pixels), image_grid_thw=torch.tensor(grid))
    with torch.no_grad():
        out = hf.generate(
            **kwargs,
            do_sample=False,
            num_beams=1,
            max_new_tokens=NEW_TOKENS,
            eos_token_id=EOS if eos is None else eos,
            pad_token_id=PAD,
            return_dict_in_generate=True,
            output_logits=True,
        )
    tokens = out.sequences[:, ids.shape[1] :].numpy()
    logits = torch.stack(out.logits, dim=1).numpy()  # [B, steps, vocab]
    return tokens, logits


def ours_greedy(port, ids, mask, pixels, grid, eos):
    batch = {"input_ids": ids, "attention_mask": mask}
    if pixels is not None:
        batch.update(pixel_values=pixels, image_grid_thw=grid)
    return generate(
        port,
        batch,
        max_new_tokens=NEW_TOKENS,
        temperature=0.0,
        eos_ids=[EOS if eos is None else eos],
        pad_id=PAD,
        rng=jax.random.key(0),
    )


def assert_same_logprobs(out, logits):
    """Our log-probs of the chosen tokens against log-softmax of transformers' logits."""
    steps = logits.shape[1]
    logp = torch.log_softmax(torch.tensor(logits, dtype=torch.float64), dim=-1).numpy()
    tokens = np.asarray(out.tokens)[:, :steps]
    live = np.arange(steps)[None, :] < np.asarray(out.lengths)[:, None]
    want = np.take_along_axis(logp, tokens[..., None], axis=-1)[..., 0]
    np.testing.assert_allclose(
        np.asarray(out.model_logprobs)[:, :steps][live], want[live], atol=TOL
    )


@pytest.mark.parametrize("case", list(CASES))
def test_greedy_tokens_equal_transformers(models, case):
    hf, port = models
    ids, mask, pixels, grid = make_batch(*CASES[case])
    want, logits = hf_greedy(hf, ids, mask, pixels, grid, eos=None)
    out = ours_greedy(port, ids, mask, pixels, grid, eos=None)
    assert want.shape == (len(ids), NEW_TOKENS)
    assert len({tuple(row) for row in want}) == len(want)  # rows really differ
    np.testing.assert_array_equal(np.asarray(out.tokens), want)
    assert list(np.asarray(out.finish_reason)) == [FINISH_LENGTH] * len(ids)
    assert_same_logprobs(out, logits)


def test_rows_ended_by_eos_equal_transformers(models):
    """The EOS id is a token that row 1 produces at step 1: that row ends there and is padded,
    the others run on, in both implementations."""
    hf, port = models
    ids, mask, pixels, grid = make_batch(*CASES["batch_of_different_lengths"])
    free, _ = hf_greedy(hf, ids, mask, pixels, grid, eos=None)
    eos = int(free[1, 1])
    want, logits = hf_greedy(hf, ids, mask, pixels, grid, eos=eos)
    out = ours_greedy(port, ids, mask, pixels, grid, eos=eos)
    got = np.asarray(out.tokens)
    assert int(out.lengths[1]) <= 2 and int(out.finish_reason[1]) == FINISH_EOS
    np.testing.assert_array_equal(got[:, : want.shape[1]], want)
    np.testing.assert_array_equal(got[:, want.shape[1] :], PAD)  # transformers stopped early
    assert_same_logprobs(out, logits)
