"""From sampled completions to a train batch, on the host: decode, extract the program, render,
score, credit and build the teacher's context.

    SampleOutput ──decode──► completion text + per-token character offsets
                 ──extract_code──► RenderRequest ──RenderPool──► RenderResult
    RenderResult ──score──► R (visual score against the reference render) ──group_advantages──► A
                 ──token_weights──► w (credited statements)
                 ──teacher_prompt──► teacher context (feedback, a sibling's solution)
    all of it ──batch.assemble──► fixed-shape train batch

A completion ends, as chat models end, with an end-of-turn token. That token is trained on (the
policy must learn to stop) but it is not text: it never reaches the program, the teacher's
context or the credit offsets (its span is empty, at the end of the text).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from concurrent.futures import Future

import numpy as np

from render_service.metrics import scoring_options
from render_service.types import DEFECT_KINDS, RenderRequest, RenderResult
from sdpo_jax import hosts
from sdpo_jax.config import Config
from sdpo_jax.data.pipeline import Prompt, bucket_length
from sdpo_jax.data.records import PromptRecord
from sdpo_jax.loop.batch import assemble
from sdpo_jax.loop.policy import eos_ids
from sdpo_jax.loop.sampling import FINISH_NAMES, SampleOutput
from sdpo_jax.method.credit import decode_with_offsets, extract_code, token_weights
from sdpo_jax.method.objectives import group_advantages
from sdpo_jax.method.rewards import RECORDS, Reward, reward, visual_score
from sdpo_jax.method.teacher import teacher_prompt


@dataclasses.dataclass
class Rollouts:
    """One step's G rollouts per prompt, rows prompt-major (row r*G + g)."""

    prompts: list[Prompt]
    sample: SampleOutput  # host (NumPy) arrays
    texts: list[str]  # without the end-of-turn token
    offsets: list[list[tuple[int, int]]]  # one (start, end) per completion token
    requests: list[RenderRequest]

    @property
    def group_size(self) -> int:
        return len(self.texts) // len(self.prompts)

    def prompt_of(self, row: int) -> Prompt:
        return self.prompts[row // self.group_size]


def completion_text(tokenizer, ids: Sequence[int], end_ids: set[int]):
    """(text, offsets) of a completion's ids: a trailing end-of-turn or EOS id is kept out of
    the text and gets the empty span at its end."""
    ids = list(ids)
    body = ids[:-1] if ids and ids[-1] in end_ids else ids
    text, offsets = decode_with_offsets(tokenizer, body)
    return text, offsets + [(len(text), len(text))] * (len(ids) - len(body))


def decode(prompts: Sequence[Prompt], sample: SampleOutput, tokenizer, *, step: int) -> Rollouts:
    """Completion texts (the tokens up to each row's length) and the render requests."""
    sample = SampleOutput(*(np.asarray(x) for x in sample))
    rows = len(sample.lengths)
    group = rows // max(len(prompts), 1)  # no prompts, no rows (a process past a short batch)
    end_ids = set(eos_ids(tokenizer))
    texts, offsets, requests = [], [], []
    for row in range(rows):
        ids = sample.tokens[row, : sample.lengths[row]].tolist()
        text, spans = completion_text(tokenizer, ids, end_ids)
        record = prompts[row // group].record
        code, _ = extract_code(text, record.domain)
        texts.append(text)
        offsets.append(spans)
        requests.append(RenderRequest(id=f"{step}-{row}", domain=record.domain, code=code))
    return Rollouts(list(prompts), sample, texts, offsets, requests)


class References:
    """Renders of the prompts' reference (gold) programs, each rendered once through the pool
    with the records the benchmark visual scores read; nothing for `ssim`, which compares with
    the target image."""

    def __init__(self, pool, visual: str):
        self.pool, self.needed = pool, RECORDS[visual] is not None
        self._renders: dict[str, Future] = {}

    def submit(self, records: Sequence[PromptRecord]) -> None:
        for record in records:
            if self.needed and record.gold is not None and record.id not in self._renders:
                request = RenderRequest(f"reference:{record.id}", record.domain, record.gold)
                self._renders[record.id] = self.pool.submit(scoring_options(request))

    def get(self, record: PromptRecord) -> RenderResult | None:
        future = self._renders.get(record.id)
        return future.result() if future is not None else None


def render_requests(requests: Sequence[RenderRequest], references: References):
    """The rollouts' requests as the pool should get them: with the scores' records if needed."""
    return [scoring_options(r) if references.needed else r for r in requests]


def score(
    config: Config, rollouts: Rollouts, results: Sequence[RenderResult], references: References
) -> list[Reward]:
    """R and its parts for every rollout, its visual score against its prompt's reference."""
    targets: dict[str, bytes | None] = {}
    parts = []
    weights = config.reward
    for row, result in enumerate(results):
        record = rollouts.prompt_of(row).record
        if record.id not in targets:
            targets[record.id] = _read(record.target) if weights.visual == "ssim" else None
        visual = visual_score(weights.visual, result, references.get(record), targets[record.id])
        parts.append(
            reward(result, visual, w_exec=weights.w_exec, w_vis=weights.w_vis, w_def=weights.w_def)
        )
    return parts


def _read(path: str | None) -> bytes | None:
    if path is None:
        return None
    with open(path, "rb") as f:
        return f.read()


def solutions(
    rollouts: Rollouts, results: Sequence[RenderResult], parts: Sequence[Reward]
) -> list[str | None]:
    """Per row, the program of its group's best clean sibling, never its own. A clean row gets
    none: SDPO does not re-prompt a success with another success (dont_reprompt_on_self_success)."""
    group = rollouts.group_size
    shown: list[str | None] = []
    for row, result in enumerate(results):
        first = row - row % group
        siblings = [r for r in range(first, first + group) if r != row and results[r].clean]
        best = max(siblings, key=lambda r: parts[r].total, default=None)
        shown.append(None if result.clean or best is None else rollouts.requests[best].code)
    return shown


def train_batch(
    config: Config,
    rollouts: Rollouts,
    results: Sequence[RenderResult],
    parts: Sequence[Reward],
    encoder,
    references: References | None = None,
) -> tuple[dict, dict]:
    """(batch for the train step, host-side metrics and per-row details for logging).
    `references`: the gold renders, which `teacher.departures` compares each render with."""
    group = rollouts.group_size
    # Completions are trained at the length bucket of the longest one (of any process), not at
    # max_new_tokens.
    (longest,) = hosts.largest(int(rollouts.sample.lengths.max()))
    width = bucket_length(longest, rollouts.sample.tokens.shape[1])
    sample = rollouts.sample._replace(
        tokens=rollouts.sample.tokens[:, :width],
        logprobs=rollouts.sample.logprobs[:, :width],
        model_logprobs=rollouts.sample.model_logprobs[:, :width],
    )
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
    teacher_cfg = config.teacher
    shown = solutions(rollouts, results, parts) if teacher_cfg.solution else [None] * len(results)
    image_size = config.data.letterbox
    contexts = []
    for row, result in enumerate(results):
        prompt = rollouts.prompt_of(row)
        reference = references.get(prompt.record) if references else None
        contexts.append(
            teacher_prompt(encoder, prompt, result, teacher_cfg, image_size, shown[row], reference)
        )
    # SDPO's self-distillation mask: a row whose feedback teaches nothing is left out.
    distilled = np.array(
        [not (teacher_cfg.skip_clean and r.clean and s is None) for r, s in zip(results, shown)]
    )
    batch = assemble(
        encoder.collate,
        [rollouts.prompt_of(row).encoded for row in range(len(results))],
        [encoded for encoded, _ in contexts],
        tokens=sample.tokens,
        lengths=sample.lengths,
        sampler_logprobs=sample.model_logprobs,
        weights=weights,
        advantages=advantages,
        distilled=distilled,
        group_size=group,
        microbatches=config.train.microbatches,
        max_prompt_tokens=config.data.max_prompt_tokens,
    )
    stats = rollout_stats(results, parts, sample, weights)
    stats["teacher/context_cuts"] = hosts.total(sum(cut for _, cut in contexts))
    stats |= means(
        {
            "teacher/solution_share": [s is not None for s in shown],
            "teacher/distilled_share": distilled,
        }
    )
    stats["hist/advantages"] = hosts.gather(advantages)
    stats["hist/rewards"] = hosts.gather(rewards)
    return batch, stats


def means(columns: dict[str, Sequence[float]]) -> dict[str, float]:
    """Each column's mean over the rows of every process."""
    table = hosts.gather(np.asarray(list(columns.values()), np.float64).T)
    return dict(zip(columns, map(float, table.mean(axis=0))))


def rollout_stats(results, parts, sample: SampleOutput, weights: np.ndarray) -> dict:
    """Scalars for TensorBoard over the rollouts of every process: reward parts, execution
    rate, defects per kind, lengths, finish reasons, credit; and the credit weights of real
    tokens as a histogram."""
    lengths = sample.lengths.astype(np.float64)
    real = np.arange(weights.shape[1])[None, :] < sample.lengths[:, None]
    columns = {
        "reward/mean": [p.total for p in parts],
        "reward/executed": [p.executed for p in parts],
        "reward/visual": [p.visual for p in parts],
        "reward/defect_penalty": [p.defect_penalty for p in parts],
        "rollouts/execution_rate": [r.ok for r in results],
        "rollouts/clean_rate": [r.clean for r in results],
        "rollouts/length_mean": lengths,
        "rollouts/defects_per_rollout": [len(r.defects) for r in results],
        # Results whose defects and metrics are the program's own report (charts, for now).
        "render/unverified_share": [not r.verified for r in results],
    }
    columns |= {
        f"defects/{kind}": [sum(d.kind == kind for d in r.defects) for r in results]
        for kind in DEFECT_KINDS
    }
    columns |= {f"finish/{name}": sample.finish_reason == i for i, name in enumerate(FINISH_NAMES)}
    stats = means(columns)
    stats["rollouts/length_max"] = float(hosts.gather(lengths).max())
    credit = hosts.gather(weights[real])
    stats["rollouts/credited_share"] = float((credit > 1).mean()) if credit.size else 0.0
    stats["hist/credit_weights"] = credit
    return stats
