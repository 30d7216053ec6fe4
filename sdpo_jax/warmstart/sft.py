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
Training ends with the gap that SDPO has to work in, on the held-out split: the execution
rate, defects and visual score of programs written without feedback, against revisions of
those same programs written with the feedback on them. The folder it writes (`save_hf`, with
the tiny tokenizer) holds a README with the command, the data seed and that table.
"""

from __future__ import annotations

import dataclasses
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
from PIL import Image
from tqdm import tqdm

from render_service import RenderPool, RenderRequest, injections, metrics
from render_service.metrics.scoring import scoring_options
from sdpo_jax import memory_maps
from sdpo_jax.config import Config, OptimConfig
from sdpo_jax.data.pipeline import Prompt
from sdpo_jax.errors import RunError
from sdpo_jax.loop.batch import completion_mask, stack_microbatches
from sdpo_jax.loop.rundir import machine
from sdpo_jax.loop.train_step import completion_logits, make_optimizer, token_logprobs
from sdpo_jax.method.credit import DOMAIN_LANGUAGES
from sdpo_jax.method.teacher import feedback_text, render_image, teacher_prompt
from sdpo_jax.runtime import keep_compiled, load_prompts, split_records
from sdpo_jax.warmstart.content_edits import EDITS
from sdpo_jax.warmstart.feedback_gap import gap, table

KINDS = ("gold", "defective", "revise", "revise_content", "revise_solution")
OTHER = "other item"  # the attempt that is another train item's gold program
CONTENT = "content"  # the kind of the content edits' attempts
RENDER_CHUNK = 64  # requests per progress-bar update while the attempts render


@dataclasses.dataclass(frozen=True)
class Example:
    """One supervised sequence: an encoded prompt and its images, and the answer's token ids
    (end of turn included) that the loss is taken on. The images' pixel values are computed
    when a batch is made (a millisecond each): kept for thousands of examples they would take
    gigabytes."""

    prompt: dict[str, np.ndarray]  # input_ids, mm_token_type_ids, image_grid_thw
    images: tuple[Image.Image, ...]
    answer: np.ndarray

    @classmethod
    def of(cls, encoded: dict[str, np.ndarray], images, answer: np.ndarray) -> Example:
        """From an encoding whose images are the first of `images` (a teacher context holds the
        prompt's images, then the render unless the cap dropped it)."""
        kept = tuple(images[: len(encoded["image_grid_thw"])])
        return cls({k: v for k, v in encoded.items() if k != "pixel_values"}, kept, answer)


def answer_text(code: str, domain: str) -> str:
    """A program as the policy writes it: one fenced block in the domain's language."""
    return f"```{DOMAIN_LANGUAGES[domain][0]}\n{code.rstrip()}\n```"


def answer_ids(tokenizer, code: str, domain: str) -> np.ndarray:
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    ids = tokenizer.encode(answer_text(code, domain), add_special_tokens=False)
    return np.asarray([*ids, end], np.int32)


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
            for name, edit in EDITS.items():  # or this one changed in one scored property
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
        if name in EDITS:
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
    return examples, counts


def draw(rng: np.random.Generator, config: Config, kinds: Sequence[str] = KINDS) -> str:
    """The kind of the next batch, in the configured mix: a revision (some shown a solution,
    some of a content edit where `kinds` has those), or writing (some with a defect)."""
    ws = config.warmstart
    if rng.random() < ws.revise_share:
        share = rng.random()
        if share < ws.solution_share:
            return "revise_solution"
        content = "revise_content" in kinds and share < ws.solution_share + ws.content_share
        return "revise_content" if content else "revise"
    return "defective" if rng.random() < ws.defect_share else "gold"


# Padded lengths: powers of two and the midpoints between them, so a batch wastes at most a
# third on padding while the step compiles for a few dozen shapes (fewer live at once where
# the kernel's memory-map limit is near: see `memory_maps`).
LADDER = tuple(sorted({b for k in range(6, 13) for b in (1 << k, 3 << (k - 1))}))


def padded(length: int) -> int:
    return next(b for b in LADDER if b >= length)


def length_groups(examples: Sequence[Example]) -> dict[tuple[int, int], list[Example]]:
    """Examples by padded (prompt, answer) lengths: a batch drawn from one group is padded
    little, and the step compiles once per group."""
    groups: dict[tuple[int, int], list[Example]] = {}
    for e in examples:
        key = (padded(len(e.prompt["input_ids"])), padded(len(e.answer)))
        groups.setdefault(key, []).append(e)
    return groups


def make_batch(encoder, examples: Sequence[Example]) -> dict:
    """Prompts left-padded and answers right-padded to `padded` lengths, vision inputs padded
    to bucket sizes as in the train batch."""
    lengths = np.array([len(e.answer) for e in examples])
    width = padded(int(lengths.max()))
    tokens = np.zeros((len(examples), width), np.int32)
    for row, e in enumerate(examples):
        tokens[row, : len(e.answer)] = e.answer
    prompt_len = padded(max(len(e.prompt["input_ids"]) for e in examples))
    pixels = lambda e: encoder.image_processor(e.images)["pixel_values"]
    inputs = stack_microbatches(
        [e.prompt | {"pixel_values": pixels(e)} for e in examples],
        encoder.collate,
        [np.arange(len(examples))],
        prompt_len,
        tokens,
        lengths,
    )
    return {
        "inputs": {k: v[0] for k, v in inputs.items()},
        "tokens": tokens,
        "mask": completion_mask(lengths, width).astype(np.float32),
    }


def sft_loss(graphdef, params, batch) -> jax.Array:
    """Mean negative log-likelihood of the answer tokens."""
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


def readme(config: Config, argv: Sequence[str], scores: dict, counts: dict, info: dict) -> str:
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
{ws.solution_share}, content share {ws.content_share}), seed {ws.seed};
{info["minutes"]:.1f} minutes on {info["machine"]}; final loss {info["final_loss"]:.3f}
(mean of the last 50 steps).

## Held-out scores ({info["eval_items"]} items, one sample each at temperature 1)

Written without feedback, then revised with the feedback on that same attempt (the teacher's
context the trainer builds: the render, the defect list or the error):

{table(scores, config.reward.visual)}

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
        heldout_records = split_records(config, "heldout", pool.render)
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
        heldout = load_prompts(config, encoder, heldout_records[: config.warmstart.eval_items])
        scores = {}
        if heldout:
            scores = gap(
                config, stored, encoder, heldout, pool, teachers={"with feedback": config.teacher},
                rng=jax.random.key(config.warmstart.seed), num_samples=1, temperature=1.0,
            )  # fmt: skip
    info = {
        "steps": config.warmstart.steps,
        "minutes": (time.perf_counter() - began) / 60,
        "machine": machine(),
        "final_loss": float(np.mean(losses[-50:])),
        "eval_items": len(heldout),
    }
    (out / "README.md").write_text(readme(config, argv, scores, counts, info))
    (out / "warmstart.json").write_text(
        json.dumps({"scores": scores, "injections": counts, "losses": losses, **info}, indent=1)
    )
    print(table(scores, config.reward.visual))
    print(f"warm-started weights in {out}")
    return out
