"""Does the policy read its feedback? The cost of the tokens a content edit changed.

    python -m sdpo_jax feedback-reading chart_tiny [key=value ...]  (make feedback-reading CONFIG=...)

A teacher knows better than the student only where it reads its context. `make feedback-gap`
samples whole revisions, where reading is mixed with everything else. This asks one question,
teacher-forced. Each item of `eval.quick_split` (the first `eval.quick_items`; all when 0) has
its gold program changed in one scored property (`sdpo_jax.warmstart.content_edits`: a title, a colour,
a plot call), and the edit is rendered. Then the gold tokens the edit changed are scored, as
negative log-likelihood per token, under four contexts:

- the prompt alone;
- the teacher's context for the edited attempt: its render and defect list;
- the same with the departures, which name the change (`teacher.departures`);
- the same with the gold program itself shown as a solution.

A policy that reads its context pays less in each row below the first. One that does not pays
the same in all four: its teacher has nothing to pass on about what the benchmark scores.
Charts, web pages and HTML slides: the departures compare ChartMimic records or Design2Code
blocks.
"""

from __future__ import annotations

import dataclasses
import random

import numpy as np

from render_service import RenderPool, RenderRequest, metrics
from render_service.metrics.scoring import scoring_options
from sdpo_jax.config import DEPARTED_SCORES, Config
from sdpo_jax.data.records import TASK_DOMAINS
from sdpo_jax.errors import RunError
from sdpo_jax.loop.rollouts import References
from sdpo_jax.loop.train_step import completion_logits, token_logprobs
from sdpo_jax.method.teacher import feedback_text, render_image, teacher_prompt
from sdpo_jax.runtime import load_model, load_prompts, split_records
from sdpo_jax.warmstart.content_edits import changed_tokens, edits_for
from sdpo_jax.warmstart.examples import Example, answer_ids, answer_text, make_batch

CONTEXTS = (
    "the prompt only",
    "revision, defects only",
    "revision, defects and departures",
    "revision, departures and the gold program as a solution",
)


def nll(model, encoder, context: dict, images, answer: np.ndarray, positions) -> float:
    """Mean negative log-likelihood of `answer[positions]` after `context`."""
    batch = make_batch(encoder, [Example.of(context, images, answer)])
    logits = completion_logits(model, batch["inputs"], batch["tokens"].shape[1])
    logprobs = np.asarray(token_logprobs(logits, batch["tokens"]))[0]
    return float(-logprobs[positions].mean())


def measure(config: Config) -> dict[str, dict[str, float]]:
    """{edit: {context: mean NLL per changed token, "items": how many items it applied to}} for
    the config's policy on its quick split."""
    if config.reward.visual not in DEPARTED_SCORES:
        raise RunError(
            f"feedback_reading compares the records of reward.visual="
            f"{', '.join(DEPARTED_SCORES)}: run it on a chart, web or slide recipe"
        )
    model, encoder = load_model(config.model, seed=config.train.seed, mesh=None, rules=None)
    domain = TASK_DOMAINS[config.data.task]
    with RenderPool(config.render, registry=metrics.registry(), warm_domains=(domain,)) as pool:
        records = split_records(config, config.eval.quick_split, pool.render)
        prompts = load_prompts(config, encoder, records[: config.eval.quick_items or None])
        return costs(config, model, encoder, prompts, pool)


def costs(config: Config, model, encoder, prompts, pool) -> dict[str, dict[str, float]]:
    """The table `measure` makes, for `prompts` (of one domain, at least 2) and a live pool."""
    tokenizer, size = encoder.tokenizer, config.data.letterbox
    teacher = dataclasses.replace(config.teacher, departures=True)
    plain = dataclasses.replace(teacher, departures=False)
    if len(prompts) < 2:
        raise RunError(f"content edits need 2 {config.eval.quick_split} items of {config.name}")
    domain = prompts[0].record.domain
    references = References(pool, config.reward.visual)
    references.submit([p.record for p in prompts])
    edits = [
        (name, i, edit(p.record.gold, prompts[(i + 1) % len(prompts)].record.gold,
                       random.Random(f"{config.train.seed}:{p.record.id}:{name}")))
        for name, edit in edits_for(domain).items()
        for i, p in enumerate(prompts)
    ]  # fmt: skip
    edits = [(name, i, code) for name, i, code in edits if code is not None]
    requests = [
        scoring_options(RenderRequest(f"{name}-{i}", domain, code)) for name, i, code in edits
    ]
    results = pool.render(requests)
    found: dict[str, dict[str, list[float]]] = {}
    for (name, i, code), result in zip(edits, results, strict=True):
        prompt, reference = prompts[i], references.get(prompts[i].record)
        if feedback_text(result, teacher, reference) == feedback_text(result, plain):
            continue  # failed to run, or the departures say nothing
        gold = prompt.record.gold
        answer = answer_ids(tokenizer, gold, domain)
        positions = changed_tokens(tokenizer, answer_text(code, domain), answer_text(gold, domain))
        images = [*prompt.images, render_image(result, size)]
        contexts = {
            CONTEXTS[0]: (prompt.encoded, prompt.images),
            CONTEXTS[1]: (teacher_prompt(encoder, prompt, result, plain, size)[0], images),
            CONTEXTS[2]: (
                teacher_prompt(encoder, prompt, result, teacher, size, reference=reference)[0],
                images,
            ),
            CONTEXTS[3]: (
                teacher_prompt(
                    encoder, prompt, result, teacher, size, solution=gold, reference=reference
                )[0],
                images,
            ),
        }
        row = found.setdefault(name, {c: [] for c in CONTEXTS})
        for context, (encoded, shown) in contexts.items():
            row[context].append(nll(model, encoder, encoded, shown, answer, positions))
    return {
        name: {c: float(np.mean(v)) for c, v in row.items()} | {"items": len(row[CONTEXTS[0]])}
        for name, row in found.items()
    }


def read_shares(scores: dict[str, dict[str, float]]) -> dict[str, float]:
    """Per edit, the changed tokens' NLL with the departures that name the change as a share of
    their NLL from the prompt alone: 1 reads nothing, 0 copies perfectly."""
    return {name: row[CONTEXTS[2]] / row[CONTEXTS[0]] for name, row in scores.items()}


def table(scores: dict[str, dict[str, float]]) -> str:
    """Markdown: one row per context, one column per edit."""
    names = list(scores)
    lines = [
        "| context | " + " | ".join(f"{n} ({scores[n]['items']} items)" for n in names) + " |",
        "|---" * (len(names) + 1) + "|",
    ]
    for context in CONTEXTS:
        lines.append(
            f"| {context} | " + " | ".join(f"{scores[n][context]:.3f}" for n in names) + " |"
        )
    return "\n".join(lines)
