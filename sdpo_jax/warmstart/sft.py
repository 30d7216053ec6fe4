"""Warm start: supervised fine-tuning that makes the tiny model a policy worth reinforcing.

    python -m sdpo_jax warmstart chart_tiny [key.sub=value ...]      (make warmstart CONFIG=...)

A random tiny model writes nothing that runs, so no reward, render or defect ever reaches the
teacher. The tiny recipes therefore start from weights this module trains on the bundled train
split (never the held-out split), teaching the two skills Visual-SDPO rests on:

- writing the program from the prompt: the gold program, or with probability
  `warmstart.defect_share` the gold program with one injected defect of a known kind
  (`render_service.injections`), kept only where the detectors see it. The policy so starts
  out writing defects at a known rate, as a small instruct model does;
- revising from feedback, with probability `warmstart.revise_share`: the prompt is exactly the
  teacher context the trainer builds (`sdpo_jax.method.teacher.teacher_prompt`) for an attempt (the
  clean gold program, a defective one or a failing one, rendered by the same pool), and the
  answer is the gold program. With `teacher.departures` the context also says how the attempt's
  chart departs from the gold render, and another train item's gold program joins the attempts
  as a chart that departs in type, text and colour, so that the policy learns to act on those
  lines; so do content edits of the gold program (`sdpo_jax.warmstart.content_edits`: a changed title,
  colour or plot call, which only the departures name), drawn as a share `content_share` of
  the revisions. A share `solution_share` of the revisions of failed or defective
  attempts is also shown the gold program as a sibling's solution. This is the skill the
  self-distillation moves into the student: without it the teacher is no better than the
  student.

The answer is written as a chat model writes it: a fenced block, then the end of turn.
Training ends with the teacher's lead, on the validation split (`sdpo_jax.warmstart.lead`):
how far the feedback lowers the cost of what it names, how much better the revisions written
from it are, and whether teacher and student disagree most where it points. The folder it writes (`save_hf`, with
the tiny tokenizer) holds a README with the command, the data seed and that table.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from tqdm import tqdm

from render_service import RenderPool, RenderRequest, injections, metrics
from render_service.metrics.scoring import scoring_options
from sdpo_jax import memory_maps
from sdpo_jax.config import Config, OptimConfig
from sdpo_jax.data.pipeline import Prompt
from sdpo_jax.errors import RunError
from sdpo_jax.loop.rundir import machine
from sdpo_jax.loop.train_step import completion_logits, make_optimizer, token_logprobs
from sdpo_jax.method.teacher import feedback_text, render_image, teacher_prompt
from sdpo_jax.runtime import keep_compiled, load_prompts, split_records
from sdpo_jax.warmstart.content_edits import EDIT_NAMES, edits_for
from sdpo_jax.warmstart.examples import Example, answer_ids, answer_text, length_groups, make_batch
from sdpo_jax.warmstart.lead import lead, report
from sdpo_jax.warmstart.reading import changed_weights, reading_context, readings

KINDS = ("gold", "defective", "revise", "revise_content", "revise_solution", "read")
OTHER = "other item"  # the attempt that is another train item's gold program
CONTENT = "content"  # the kind of the content edits' attempts
RENDER_CHUNK = 64  # requests per progress-bar update while the attempts render


def build_examples(
    config: Config, encoder, prompts: Sequence[Prompt], pool
) -> tuple[dict[str, list[Example]], dict]:
    """The examples of each kind (see `KINDS`) for the train `prompts`, and counts of the
    injections that applied and were detected."""
    seed = config.warmstart.seed
    departures = config.teacher.departures
    attempts = []  # (prompt index, injection name, "gold" or OTHER, code)
    for index, prompt in enumerate(prompts):
        gold, domain = prompt.record.gold, prompt.record.domain
        attempts.append((index, "gold", gold))
        if departures and len(prompts) > 1:  # a whole other chart, to revise toward this one
            donor = prompts[(index + 1) % len(prompts)].record.gold
            attempts.append((index, OTHER, donor))
            for name, edit in edits_for(domain).items():  # or this one changed in one property
                edited = edit(gold, donor, random.Random(f"{seed}:{prompt.record.id}:{name}"))
                if edited is not None:
                    attempts.append((index, name, edited))
        for injection in injections.for_domain(domain):
            rng = random.Random(f"{seed}:{prompt.record.id}:{injection.name}")
            injected = injection.apply(gold, rng)
            if injected is not None:
                attempts.append((index, injection.name, injected.code))
    requests = [
        RenderRequest(f"warmstart-{i}", prompts[index].record.domain, code)
        for i, (index, _, code) in enumerate(attempts)
    ]
    if departures:  # the records the departures compare
        requests = [scoring_options(r) for r in requests]
    results = []
    with tqdm(total=len(requests), desc="rendering attempts", unit="render") as progress:
        for start in range(0, len(requests), RENDER_CHUNK):
            results += pool.render(requests[start : start + RENDER_CHUNK])
            progress.update(len(results) - progress.n)

    tokenizer, teacher = encoder.tokenizer, config.teacher
    examples: dict[str, list[Example]] = {kind: [] for kind in KINDS}
    counts: dict[str, dict[str, int]] = {}
    answers = [answer_ids(tokenizer, p.record.gold, p.record.domain) for p in prompts]
    golds = {index: r for (index, name, _), r in zip(attempts, results) if name == "gold"}
    for (index, name, code), result in tqdm(
        list(zip(attempts, results)), desc="encoding examples", unit="example"
    ):
        prompt, answer = prompts[index], answers[index]
        reference = golds[index] if departures else None
        if name in EDIT_NAMES:
            kind = CONTENT
        else:
            kind = name if name in ("gold", OTHER) else injections.INJECTIONS[name].kind
        if kind == injections.ERROR:
            seen = not result.ok
        elif kind in (OTHER, CONTENT):  # seen where the departures say something
            seen = feedback_text(result, teacher, reference) != feedback_text(result, teacher)
        else:
            seen = bool(result.defects)
        stats = counts.setdefault(name, {"applied": 0, "detected": 0})
        stats["applied"] += 1
        stats["detected"] += seen
        if name == "gold":
            examples["gold"].append(Example.of(prompt.encoded, prompt.images, answer))
        elif not seen:
            continue  # the renderer does not see it: no feedback to revise from
        elif kind not in (injections.ERROR, OTHER, CONTENT):
            ids = answer_ids(tokenizer, code, prompt.record.domain)
            examples["defective"].append(Example.of(prompt.encoded, prompt.images, ids))
        images = [*prompt.images, render_image(result, config.data.letterbox)]
        context, _ = teacher_prompt(
            encoder, prompt, result, teacher, config.data.letterbox, reference=reference
        )
        examples["revise_content" if kind == CONTENT else "revise"].append(
            Example.of(context, images, answer)
        )
        if name != "gold" and kind != CONTENT:
            context, _ = teacher_prompt(
                encoder, prompt, result, teacher, config.data.letterbox,
                solution=prompt.record.gold, reference=reference,
            )  # fmt: skip
            examples["revise_solution"].append(Example.of(context, images, answer))
    if config.warmstart.read_share:
        examples["read"] = read_examples(config, encoder, prompts, pool)
        counts["read"] = {"applied": len(examples["read"]), "detected": len(examples["read"])}
    return examples, counts


def read_examples(config: Config, encoder, prompts: Sequence[Prompt], pool) -> list[Example]:
    """Revisions of fresh content toward its gold program, the loss on the tokens the edit
    changed (`sdpo_jax.warmstart.reading`)."""
    found = []
    for item in tqdm(readings(config, encoder, prompts, pool), desc="reading examples"):
        answer = answer_ids(encoder.tokenizer, item.prompt.record.gold, "chart")
        weights = changed_weights(
            encoder.tokenizer,
            answer_text(item.attempt, "chart"),
            answer_text(item.prompt.record.gold, "chart"),
            len(answer),
        )
        context, images = reading_context(encoder, item, config)
        found.append(Example.of(context, images, answer, weights))
    return found


def draw(rng: np.random.Generator, config: Config, kinds: Sequence[str] = KINDS) -> str:
    """The kind of the next batch, in the configured mix: reading (with `read_share`), a
    revision (some shown a solution, some of a content edit where `kinds` has those), or
    writing (some with a defect). Without reading the random stream is what it always was."""
    ws = config.warmstart
    if ws.read_share and "read" in kinds and rng.random() < ws.read_share:
        return "read"
    if rng.random() < ws.revise_share:
        share = rng.random()
        if share < ws.solution_share:
            return "revise_solution"
        content = "revise_content" in kinds and share < ws.solution_share + ws.content_share
        return "revise_content" if content else "revise"
    return "defective" if rng.random() < ws.defect_share else "gold"


def sft_loss(graphdef, params, batch) -> jax.Array:
    """Mean negative log-likelihood of the answer tokens, weighted by the batch's mask."""
    model = nnx.merge(graphdef, params)
    logits = completion_logits(model, batch["inputs"], batch["tokens"].shape[1])
    logprobs = token_logprobs(logits, batch["tokens"])
    return -jnp.sum(logprobs * batch["mask"]) / jnp.maximum(batch["mask"].sum(), 1.0)


def make_sft_step(graphdef, optimizer):
    def step(params, opt_state, batch):
        loss, grads = jax.value_and_grad(lambda p: sft_loss(graphdef, p, batch))(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return jax.jit(step, donate_argnums=(0, 1))


def initial_model(config: Config):
    """The model the warm start trains: `warmstart.init`'s weights, or a fresh preset."""
    from models.qwen3_vl import Qwen3VL, load_hf, preset
    from models.qwen3_vl.tokenizer import ChatEncoder

    if config.warmstart.init:
        return load_hf(config.warmstart.init, dtype=jnp.float32), ChatEncoder.tiny()
    model = Qwen3VL(
        preset(config.warmstart.preset),
        rngs=nnx.Rngs(config.warmstart.seed),
        dtype=jnp.float32,
        param_dtype=jnp.float32,
    )
    return model, ChatEncoder.tiny()


def train(config: Config, model, encoder, examples: dict[str, list[Example]]) -> list[float]:
    """`warmstart.steps` AdamW steps on drawn batches; returns the loss of every step."""
    ws = config.warmstart
    optim = OptimConfig(lr=ws.lr, warmup_steps=ws.warmup_steps, min_lr_ratio=0.05)
    optimizer = make_optimizer(optim, ws.steps)
    graphdef, params = nnx.split(model, nnx.Param)
    opt_state = optimizer.init(params)
    step = make_sft_step(graphdef, optimizer)
    rng = np.random.default_rng(ws.seed)
    groups = {kind: length_groups(found) for kind, found in examples.items() if found}
    losses, compiled = [], set()  # the batch shapes whose programs are live
    progress = tqdm(range(ws.steps), desc="warm start", unit="step", dynamic_ncols=True)
    for i in progress:
        kind = draw(rng, config, tuple(groups))
        by_length = groups.get(kind, groups["gold"])
        keys = sorted(by_length)
        sizes = np.array([len(by_length[k]) for k in keys], np.float64)
        group = by_length[keys[rng.choice(len(keys), p=sizes / sizes.sum())]]
        batch = make_batch(encoder, [group[j] for j in rng.integers(len(group), size=ws.batch)])
        shapes = tuple(np.shape(leaf) for leaf in jax.tree.leaves(batch))
        if shapes not in compiled:  # a new program: make room for it under the map limit
            if memory_maps.release_near_limit():
                compiled.clear()
            compiled.add(shapes)
        params, opt_state, loss = step(params, opt_state, batch)
        losses.append(float(loss))
        if i % 10 == 0:
            progress.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
    nnx.update(model, params)
    return losses


def readme(config: Config, argv: Sequence[str], measured: dict, counts: dict, info: dict) -> str:
    ws = config.warmstart
    injected = "\n".join(
        f"| {name} | {c['applied']} | {c['detected']} |" for name, c in counts.items()
    )
    return f"""# Warm-started policy for `{config.name}`

Made by `sdpo_jax.warmstart.sft` (supervised fine-tuning on the bundled {config.data.task} train
split, data seed {config.data.seed}, never the held-out split):

```bash
{" ".join(argv)}
```

{info["steps"]} steps of {ws.batch} sequences from {ws.init or f"fresh {ws.preset} weights"},
lr {ws.lr}, defect share {ws.defect_share}, revise share {ws.revise_share} (solution share
{ws.solution_share}, content share {ws.content_share}), read share {ws.read_share}, seed {ws.seed};
{info["minutes"]:.1f} minutes on {info["machine"]}; final loss {info["final_loss"]:.3f}
(mean of the last 50 steps).

## The teacher's lead ({info["eval_items"]} validation items, `sdpo_jax.warmstart.lead`)

{report(measured, config.reward.visual) if measured else "Not measured: no item was scored."}

## Injected defects in the training attempts

| injection | applied | seen by the renderer |
|---|---|---|
{injected}
"""


def warmstart(config: Config, argv: Sequence[str]) -> Path:
    """Trains, writes and evaluates the warm-started folder; returns its path. The weights are
    stored in bfloat16 (a few MB) and the table scores them as stored, reloaded."""
    from models.qwen3_vl import load_hf, save_hf
    from models.qwen3_vl.tokenizer import TINY_FOLDER

    out = Path(config.warmstart.out or f"runs/{config.name}-warmstart")
    keep_compiled()  # a program dropped near the map limit then loads instead of compiling
    began = time.perf_counter()
    model, encoder = initial_model(config)
    domain = "slide_html" if config.data.task == "slide" else config.data.task
    with RenderPool(config.render, registry=metrics.registry(), warm_domains=(domain,)) as pool:
        train_records = split_records(config, "train", pool.render)
        validation_records = split_records(config, "validation", pool.render)
        limit = config.warmstart.train_items or len(train_records)
        prompts = load_prompts(config, encoder, [r for r in train_records[:limit] if r.gold])
        if not prompts:
            raise RunError(f"no train record of {config.name} loads with a gold program")
        examples, counts = build_examples(config, encoder, prompts, pool)
        print(
            "examples: " + ", ".join(f"{kind} {len(examples[kind])}" for kind in KINDS),
            flush=True,
        )
        losses = train(config, model, encoder, examples)
        save_hf(model, out, dtype=jnp.bfloat16, source=TINY_FOLDER)
        stored = load_hf(out, dtype=jnp.float32)
        validation = load_prompts(
            config, encoder, validation_records[: config.warmstart.eval_items]
        )
        key = jax.random.key(config.warmstart.seed)
        measured = lead(config, stored, encoder, validation, pool, key) if validation else {}
    info = {
        "steps": config.warmstart.steps,
        "minutes": (time.perf_counter() - began) / 60,
        "machine": machine(),
        "final_loss": float(np.mean(losses[-50:])),
        "eval_items": len(validation),
    }
    (out / "README.md").write_text(readme(config, argv, measured, counts, info))
    (out / "warmstart.json").write_text(
        json.dumps({"lead": measured, "injections": counts, "losses": losses, **info}, indent=1)
    )
    if measured:
        print(report(measured, config.reward.visual))
    print(f"warm-started weights in {out}")
    return out
