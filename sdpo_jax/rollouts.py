"""From sampled completions to a train batch, on the host: decode, extract the program, render,
score, credit and build the teacher's context.

    SampleOutput ──decode──► completion text + per-token character offsets
                 ──extract_code──► RenderRequest ──RenderPool──► RenderResult
    RenderResult ──rewards──► R ──group_advantages──► A
                 ──token_weights──► w (credited statements)
                 ──teacher_prompt──► teacher context
    all of it ──batch.assemble──► fixed-shape train batch
"""

from __future__ import annotations

import collections
import dataclasses

import numpy as np

from render_service.types import DEFECT_KINDS, RenderRequest, RenderResult
from sdpo_jax.batch import assemble
from sdpo_jax.config import Config
from sdpo_jax.credit import decode_with_offsets, extract_code, token_weights
from sdpo_jax.data.pipeline import PromptBatch
from sdpo_jax.objectives import group_advantages
from sdpo_jax.rewards import reward
from sdpo_jax.sampling import FINISH_NAMES, SampleOutput
from sdpo_jax.teacher import teacher_prompt


@dataclasses.dataclass
class Rollouts:
    """One step's G rollouts per prompt, rows prompt-major (row r*G + g)."""

    prompts: PromptBatch
    sample: SampleOutput  # host (NumPy) arrays
    texts: list[str]
    offsets: list[list[tuple[int, int]]]
    requests: list[RenderRequest]

    @property
    def group_size(self) -> int:
        return len(self.texts) // len(self.prompts.prompts)

    def prompt_of(self, row: int):
        return self.prompts.prompts[row // self.group_size]


def decode(prompts: PromptBatch, sample: SampleOutput, tokenizer, *, step: int) -> Rollouts:
    """Completion texts (the tokens up to each row's length) and the render requests."""
    sample = SampleOutput(*(np.asarray(x) for x in sample))
    rows = len(sample.lengths)
    group = rows // len(prompts.prompts)
    texts, offsets, requests = [], [], []
    for row in range(rows):
        ids = sample.tokens[row, : sample.lengths[row]].tolist()
        text, spans = decode_with_offsets(tokenizer, ids)
        record = prompts.prompts[row // group].record
        code, _ = extract_code(text, record.domain)
        texts.append(text)
        offsets.append(spans)
        requests.append(RenderRequest(id=f"{step}-{row}", domain=record.domain, code=code))
    return Rollouts(prompts, sample, texts, offsets, requests)


def _target_png(path: str | None) -> bytes | None:
    if path is None:
        return None
    with open(path, "rb") as f:
        return f.read()


def train_batch(
    config: Config, rollouts: Rollouts, results: list[RenderResult], encoder
) -> tuple[dict, dict]:
    """(batch for the train step, host-side metrics and per-row details for logging)."""
    group, sample = rollouts.group_size, rollouts.sample
    targets = {id(p): _target_png(p.record.target) for p in rollouts.prompts.prompts}
    w = config.reward
    parts = [
        reward(
            result,
            targets[id(rollouts.prompt_of(row))],
            w_exec=w.w_exec,
            w_vis=w.w_vis,
            w_def=w.w_def,
        )
        for row, result in enumerate(results)
    ]
    rewards = np.array([p.total for p in parts], np.float32)
    advantages = np.asarray(
        group_advantages(rewards, group, normalize_std=config.objective.normalize_std), np.float32
    )
    T = sample.tokens.shape[1]
    weights = np.ones((len(results), T), np.float32)
    for row, result in enumerate(results):
        n = int(sample.lengths[row])
        weights[row, :n] = token_weights(
            rollouts.texts[row],
            result,
            rollouts.requests[row].domain,
            rollouts.offsets[row],
            gamma=config.objective.credit_gamma,
            renormalize=config.objective.credit_renormalize,
        )
    image_size = tuple(config.data.image_size) if any(config.data.image_size) else None
    teacher = [
        teacher_prompt(encoder, rollouts.prompt_of(row), result, config.teacher, image_size)
        for row, result in enumerate(results)
    ]
    batch = assemble(
        encoder.collate,
        [rollouts.prompt_of(row).encoded for row in range(len(results))],
        teacher,
        tokens=sample.tokens,
        lengths=sample.lengths,
        sampler_logprobs=sample.logprobs,
        weights=weights,
        advantages=advantages,
        group_size=group,
        microbatches=config.train.microbatches,
        max_prompt_tokens=config.data.max_prompt_tokens,
    )
    stats = rollout_stats(results, parts, sample, weights)
    stats["hist/advantages"] = advantages
    stats["hist/rewards"] = rewards
    return batch, stats


def rollout_stats(results, parts, sample: SampleOutput, weights: np.ndarray) -> dict:
    """Scalars for TensorBoard: reward parts, execution rate, defects per kind, lengths, finish
    reasons, credit; and the credit weights of real tokens as a histogram."""
    n = len(results)
    kinds = collections.Counter(d.kind for r in results for d in r.defects)
    lengths = sample.lengths.astype(np.float64)
    real = np.arange(weights.shape[1])[None, :] < sample.lengths[:, None]
    stats = {
        "reward/mean": float(np.mean([p.total for p in parts])),
        "reward/executed": float(np.mean([p.executed for p in parts])),
        "reward/visual": float(np.mean([p.visual for p in parts])),
        "reward/defect_penalty": float(np.mean([p.defect_penalty for p in parts])),
        "rollouts/execution_rate": sum(r.ok for r in results) / n,
        "rollouts/length_mean": float(lengths.mean()),
        "rollouts/length_max": float(lengths.max()),
        "rollouts/credited_share": float((weights[real] > 1).mean()) if real.any() else 0.0,
        "rollouts/defects_per_rollout": sum(kinds.values()) / n,
    }
    stats |= {f"defects/{kind}": kinds[kind] / n for kind in DEFECT_KINDS}
    stats |= {
        f"finish/{name}": float(np.mean(sample.finish_reason == i))
        for i, name in enumerate(FINISH_NAMES)
    }
    stats["hist/credit_weights"] = weights[real]
    return stats
