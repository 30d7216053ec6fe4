"""The feedback gap: how much better the policy writes with the teacher's context than without.

    python -m sdpo_jax feedback-gap chart_tiny [key=value ...]      (make feedback-gap CONFIG=...)

Self-distillation can only move into the student what the teacher does better, so this is the
room Visual-SDPO has to work in, measured on the policy as it stands (`model.path`). For each
item of `eval.quick_split` (the first `eval.quick_items`; all when 0) the policy writes
`sampling.num_samples` attempts as in training, then revises each attempt once from the teacher's
context on it: its render and defects, or its error. The revision runs with the render image
shown and with it hidden (`teacher.show_render`), so the table also says what the image adds;
with `teacher.departures`, also without the departures.
Each row gives execution, defects, reward, the benchmark's visual score and the parts it
averages (ChartMimic's four F1s, Design2Code's four block scores): a teacher that fixes defects
but draws no closer to the target teaches clean programs, not faithful ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import numpy as np

from render_service import RenderPool, metrics
from render_service.metrics import (
    BLOCK_SCORES,
    SLIDE_SCORES,
    chartmimic_scores,
    design2code_scores,
    slide_scores,
)
from render_service.metrics.chartmimic import CHARTMIMIC_METRICS
from sdpo_jax.config import Config, TeacherConfig
from sdpo_jax.data.pipeline import Prompt
from sdpo_jax.errors import RunError
from sdpo_jax.loop.heldout import Attempts, attempt
from sdpo_jax.loop.rollouts import References
from sdpo_jax.method.rewards import RECORDS
from sdpo_jax.method.teacher import teacher_prompt
from sdpo_jax.runtime import load_model, load_prompts, split_records

ROWS = ("executed", "defect-free", "defects / program", "reward", "visual")
SUMMARY_KEYS = ("execution_rate", "clean_rate", "defects_per_rollout", "reward", "visual")
PARTS = (*CHARTMIMIC_METRICS, *BLOCK_SCORES, *SLIDE_SCORES)


def visual_parts(attempts: Attempts, references: References, visual: str) -> dict[str, float]:
    """The mean of each part the `visual` score averages, over the attempts (a failed one scores
    0 on every part, as in the visual score); {} for scores without parts."""
    record = RECORDS[visual]
    names = {"chartmimic": CHARTMIMIC_METRICS, "design2code": BLOCK_SCORES, "slide": SLIDE_SCORES}
    if visual not in names:
        return {}
    rows = []
    for row, result in enumerate(attempts.results):
        reference = references.get(attempts.rollouts.prompt_of(row).record)
        if not (result.ok and result.image_png):
            scores = {}
        elif visual == "slide":
            scores = slide_scores(result.metrics)  # the slide's own measures: no reference
        elif reference is None or not reference.ok:
            scores = {}
        elif visual == "chartmimic":
            scores = chartmimic_scores(result.metrics[record], reference.metrics[record])
        else:
            scores = design2code_scores(result.metrics[record], reference.metrics[record])
        rows.append(scores)
    return {name: float(np.mean([r.get(name, 0.0) for r in rows])) for name in names[visual]}


def gap(
    config: Config,
    model,
    encoder,
    prompts: Sequence[Prompt],
    pool,
    *,
    teachers: dict[str, TeacherConfig],
    rng: jax.Array,
    num_samples: int | None = None,
    temperature: float | None = None,
) -> dict[str, dict[str, float]]:
    """{row name: scores}: the attempts written without feedback (`num_samples` per prompt, at
    `temperature`; the config's when None), then each revised once at the same temperature from
    the context of each of `teachers`, all revisions with one key."""
    references = References(pool, config.reward.visual)
    write = attempt(
        model, encoder, prompts, config, pool, references, rng=rng, num_samples=num_samples,
        temperature=temperature,
    )  # fmt: skip
    rows = {"without feedback": write}
    attempted = [write.rollouts.prompt_of(row) for row in range(len(write.results))]
    for name, teacher in teachers.items():
        contexts = [
            teacher_prompt(
                encoder, prompt, result, teacher, config.data.letterbox,
                reference=references.get(prompt.record),
            )[0]
            for prompt, result in zip(attempted, write.results)
        ]  # fmt: skip
        rows[name] = attempt(
            model, encoder, attempted, config, pool, references, rng=jax.random.fold_in(rng, 1),
            num_samples=1, temperature=temperature, encodings=contexts,
        )  # fmt: skip
    return {
        name: attempts.summary() | visual_parts(attempts, references, config.reward.visual)
        for name, attempts in rows.items()
    }


def table(scores: dict[str, dict[str, float]], visual: str) -> str:
    """The gap as Markdown: one row per setting, the visual score's parts after it."""
    if not scores:
        return "Not measured: no item was scored."
    parts = [k for k in next(iter(scores.values())) if k in PARTS]
    labels = [*ROWS[:-1], f"visual ({visual})", *parts]
    lines = ["| | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
    for name, values in scores.items():
        cells = [values[k] for k in (*SUMMARY_KEYS, *parts)]
        lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in cells) + " |")
    return "\n".join(lines)


def measure(config: Config) -> dict[str, dict[str, float]]:
    """The gap of the config's policy on its quick split, revising with the render and without."""
    model, encoder = load_model(config.model, seed=config.train.seed, mesh=None, rules=None)
    domain = "slide_html" if config.data.task == "slide" else config.data.task
    with RenderPool(config.render, registry=metrics.registry(), warm_domains=(domain,)) as pool:
        records = split_records(config, config.eval.quick_split, pool.render)
        records = records[: config.eval.quick_items or None]
        prompts = load_prompts(config, encoder, records)
        if not prompts:
            raise RunError(f"no {config.eval.quick_split} item of {config.name} loads")
        teachers = revision_teachers(config.teacher)
        key = jax.random.key(config.train.seed)
        return gap(config, model, encoder, prompts, pool, teachers=teachers, rng=key)


def revision_teachers(teacher: TeacherConfig) -> dict[str, TeacherConfig]:
    """{row name: context} each attempt is revised from: the config's with the render shown and
    hidden and, when it adds departures, without them too, so the table says what each adds."""
    rows = {
        f"with feedback, render {'shown' if show else 'hidden'}": dataclasses.replace(
            teacher, show_render=show
        )
        for show in (True, False)
    }
    if teacher.departures:
        rows["with feedback, no departures, render shown"] = dataclasses.replace(
            teacher, show_render=True, departures=False
        )
    return rows
