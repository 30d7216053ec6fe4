"""The main path on completions written as chat models write them: decode -> extract -> render
-> reward -> teacher context -> credit, through the trainer's functions and `make eval`'s, and
the on-policy importance ratio at a sampling temperature below 1."""

import dataclasses
import random

import jax
import numpy as np
import pytest
from flax import nnx

from models.qwen3_vl import Qwen3VL, preset
from models.qwen3_vl.tokenizer import ChatEncoder
from render_service import RenderConfig, RenderPool, RenderRequest, metrics
from render_service.injections import INJECTIONS
from render_service.types import RenderResult
from sdpo_jax.commands.evaluate import Candidate, score
from sdpo_jax.config import load_config
from sdpo_jax.data.records import PromptRecord, user_prompt
from sdpo_jax.loop.policy import collate, sample
from sdpo_jax.loop.rollouts import References, decode, render_requests, train_batch
from sdpo_jax.loop.rollouts import score as score_rollouts
from sdpo_jax.loop.sampling import FINISH_EOS, FINISH_LENGTH, SampleOutput
from sdpo_jax.loop.train_step import completion_logits, make_loss, token_logprobs
from sdpo_jax.runtime import load_prompts

GOLD = """import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(6, 4))
ax.bar(['North', 'South', 'East', 'West'], [23, 45, 12, 38], color='#1f77b4')
ax.set_title('Coffee Exports 2019')
ax.set_xlabel('Region')
ax.set_ylabel('Sales')
fig.tight_layout()
"""
# The same chart with a defect the detectors see: a note placed outside the figure.
DEFECTIVE = INJECTIONS["text_outside_axes"].apply(GOLD, random.Random(0)).code
# How a chat model writes: prose, a fence, the closing fence, then (as tokens) the end of turn.
COMPLETIONS = {
    "prose_fence_end": ("Here is the code for the chart:\n\n```python\n" + GOLD + "```", True),
    "no_fence": (GOLD, True),
    "defective_fence_end": ("```python\n" + DEFECTIVE + "```", True),
    "cut_mid_block": ("```python\n" + GOLD[:120], False),
}
G = 2


@pytest.fixture(scope="module")
def encoder():
    return ChatEncoder.tiny()


@pytest.fixture(scope="module")
def pool():
    with RenderPool(RenderConfig(workers=2), registry=metrics.registry()) as pool:
        yield pool


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    return load_config("chart_tiny", ["model.path=none", f"sampling.num_samples={G}"])


@pytest.fixture(scope="module")
def prompt(pool, encoder, config, tmp_path_factory):
    target = tmp_path_factory.mktemp("data") / "target.png"
    target.write_bytes(pool.render([RenderRequest("gold", "chart", GOLD)])[0].image_png)
    instruction = "Write Python code with matplotlib that reproduces the chart."
    record = PromptRecord("item", "chart", user_prompt(str(target), instruction), str(target), GOLD)
    return load_prompts(config, encoder, [record])[0]


def sampled(encoder, texts_and_ends):
    """A SampleOutput holding these completions token for token: each text's ids, then the end
    of turn where the completion ended by itself; the others ran out of tokens."""
    tok = encoder.tokenizer
    end = tok.convert_tokens_to_ids("<|im_end|>")
    rows = [
        tok.encode(text, add_special_tokens=False) + ([end] if ended else [])
        for text, ended in texts_and_ends
    ]
    width = max(map(len, rows))
    tokens = np.zeros((len(rows), width), np.int32)
    for i, ids in enumerate(rows):
        tokens[i, : len(ids)] = ids
    lengths = np.array([len(ids) for ids in rows], np.int32)
    finish = np.array([FINISH_EOS if e else FINISH_LENGTH for _, e in texts_and_ends], np.int32)
    logprobs = np.full(tokens.shape, -1.0, np.float32)
    return SampleOutput(tokens, logprobs, logprobs, lengths, finish)


def rollout(encoder, pool, config, prompt, names):
    """The trainer's path for one group of completions: decode, render, score, batch."""
    out = sampled(encoder, [COMPLETIONS[n] for n in names])
    rollouts = decode([prompt], out, encoder.tokenizer, step=0)
    references = References(pool, config.reward.visual)
    references.submit([prompt.record])
    results = pool.render(render_requests(rollouts.requests, references))
    parts = score_rollouts(config, rollouts, results, references)
    batch, stats = train_batch(config, rollouts, results, parts, encoder, references)
    return rollouts, results, parts, batch, stats


@pytest.mark.parametrize(
    "names",
    [("prose_fence_end", "no_fence"), ("defective_fence_end", "cut_mid_block")],
    ids=["chat_and_bare", "defective_and_cut"],
)
def test_chat_completions_run_and_end_tokens_stay_out_of_program_context_and_credit(
    encoder, pool, config, prompt, names
):
    rollouts, results, parts, batch, _ = rollout(encoder, pool, config, prompt, names)
    end = encoder.tokenizer.convert_tokens_to_ids("<|im_end|>")
    for row, name in enumerate(names):
        text, request, result = rollouts.texts[row], rollouts.requests[row], results[row]
        assert "<|im_end|>" not in text and "<|im_end|>" not in request.code
        assert "```" not in request.code
        length = int(rollouts.sample.lengths[row])
        assert len(rollouts.offsets[row]) == length
        if COMPLETIONS[name][1]:
            # the end of turn is trained on (its token stays in the batch) but has no characters
            assert rollouts.sample.tokens[row, length - 1] == end
            assert rollouts.offsets[row][-1] == (len(text), len(text))
            assert batch["tokens"][0, row, length - 1] == end
            assert batch["weights"][0, row, length - 1] == 1.0  # never credited
        if name in ("prose_fence_end", "no_fence"):
            assert request.code == GOLD and result.ok and not result.defects
            assert parts[row].executed == 1.0 and parts[row].visual == pytest.approx(1.0)
        if name == "defective_fence_end":
            assert result.ok and result.defects
            assert parts[row].defect_penalty > 0
            credited = batch["weights"][0, row, :length] > 1
            assert credited.any() and not credited[-1]
        if name == "cut_mid_block":
            assert not result.ok and parts[row].total == 0.0
    # the teacher's context holds the template's own end-of-turn tokens and nothing else
    width = batch["tokens"].shape[-1]
    student_ends = int((batch["student"]["input_ids"][0, 0, :-width] == end).sum())
    for row in range(len(names)):
        context = batch["teacher"]["input_ids"][0, row, :-width]
        assert int((context == end).sum()) == student_ends


def test_make_eval_scores_a_chat_completion(encoder, pool, prompt):
    """`make eval`'s path: the decoded program of a completion that ends with fence + end of
    turn executes and matches its reference."""
    out = sampled(encoder, [COMPLETIONS["prose_fence_end"]])
    rollouts = decode([prompt], out, encoder.tokenizer, step=0)
    report, results = score(pool, [Candidate(prompt.record, rollouts.requests[0].code)])
    (item,) = report["items"]
    assert item.executed and results[0].ok
    assert item.scores["text"] == pytest.approx(1.0) and item.scores["color"] == pytest.approx(1.0)


def test_solution_and_skip_clean_through_the_trainer_path(encoder, pool, config, prompt):
    """A failed row is shown its clean sibling's program; the clean row is shown none and, with
    skip_clean, is left out of the distillation."""
    shown = dataclasses.replace(config.teacher, solution=True, skip_clean=True)
    config = dataclasses.replace(config, teacher=shown)
    _, _, _, batch, stats = rollout(encoder, pool, config, prompt, ("cut_mid_block", "no_fence"))
    tok = encoder.tokenizer
    width = batch["tokens"].shape[-1]
    failed = tok.decode(batch["teacher"]["input_ids"][0, 0][:-width])
    clean = tok.decode(batch["teacher"]["input_ids"][0, 1][:-width])
    assert "A correct solution from another attempt" in failed and GOLD.strip() in failed
    assert "A correct solution" not in clean
    assert batch["sd_mask"][0, 0].sum() > 0 and batch["sd_mask"][0, 1].sum() == 0
    assert batch["mask"][0, 1].sum() > 0  # GRPO still sees the clean row
    assert stats["teacher/solution_share"] == 0.5 and stats["teacher/distilled_share"] == 0.5


def test_departures_from_the_gold_render_reach_the_teacher(encoder, pool, config, prompt):
    """With teacher.departures, the row whose chart has an extra note is told so, compared
    with the gold program's render; the row that drew the gold chart is told nothing more."""
    config = dataclasses.replace(
        config, teacher=dataclasses.replace(config.teacher, departures=True)
    )
    _, _, _, batch, _ = rollout(encoder, pool, config, prompt, ("defective_fence_end", "no_fence"))
    tok = encoder.tokenizer
    width = batch["tokens"].shape[-1]
    departed = tok.decode(batch["teacher"]["input_ids"][0, 0][:-width])
    same = tok.decode(batch["teacher"]["input_ids"][0, 1][:-width])
    assert "Compared with the target:\n- text in yours that the target lacks: '" in departed
    assert "Compared with the target" not in same


@pytest.mark.slow
def test_the_on_policy_ratio_is_one_at_temperature_below_one(encoder, config, prompt):
    """Sampled at temperature 0.7 with top-k and top-p, the batch's sampler log-probs are those
    of the untransformed model, which the trainer recomputes: every GRPO and IS ratio is 1. The
    log-probs of the transformed distribution would not be."""
    jax.config.update("jax_default_matmul_precision", "highest")
    model = Qwen3VL(preset("tiny"), rngs=nnx.Rngs(0))
    sampling = dataclasses.replace(
        config.sampling, temperature=0.7, top_k=50, top_p=0.9, max_new_tokens=12
    )
    config = dataclasses.replace(config, sampling=sampling)
    out = sample(
        model,
        collate(encoder, [prompt.encoded]),
        encoder.tokenizer,
        sampling,
        rng=jax.random.key(3),
    )
    rollouts = decode([prompt], out, encoder.tokenizer, step=0)
    failed = [RenderResult(f"r{i}", ok=False, error="boom (line 1)") for i in range(G)]
    parts = score_rollouts(config, rollouts, failed, References(None, "ssim"))
    batch, _ = train_batch(config, rollouts, failed, parts, encoder)
    graphdef, params = nnx.split(model, nnx.Param)
    loss = make_loss(graphdef, config.objective)
    mb = jax.tree.map(lambda x: x[0], batch)
    _, metrics = jax.jit(lambda p: loss(p, p, None, mb, 10.0, 10.0))(params)
    for key in ("grpo/ratio_min", "grpo/ratio_max", "sd/is_ratio_max"):
        assert float(metrics[key]) == pytest.approx(1.0, abs=1e-4), key
    # the transformed distribution's log-probs differ: the test would see the wrong choice
    # (jitted, as in the train step: filler images are only valid inside a compiled function)
    width = mb["tokens"].shape[1]
    logits = jax.jit(lambda inputs: completion_logits(model, inputs, width))(mb["student"])
    mine = np.asarray(token_logprobs(logits, mb["tokens"]))
    real = np.asarray(mb["mask"]) > 0
    assert np.abs(mine - np.asarray(out.logprobs))[real].max() > 1e-2
