"""The training loop: prompts -> sampler -> RenderPool -> rewards, credit, teacher contexts ->
train step -> metrics, checkpoints.

One step, with `train.offpolicy_lag=1` the next step's generation running while this step's
programs render in the pool's processes (the importance ratios against the sampler's log-probs
correct for the one step of lag):

    launch(k): prompts_k -> generate with θ -> submit render requests   (returns at once)
    launch(k+1) with θ_k                      (lag 1: overlaps the renders of step k)
    wait for renders_k -> train batch -> θ_{k+1} = step(θ_k, batch_k) -> log, checkpoint

Checkpoints hold the train state and the data iterator's position after step k's prompts, so a
resumed run sees the same prompts (with lag 1 the first resumed step is generated on-policy).
Ctrl-C saves a checkpoint of the last completed step and exits cleanly.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import jax
from flax import nnx
from tqdm import tqdm

from render_service import RenderPool
from sdpo_jax import rundir
from sdpo_jax.board import Board, credited_code, target_vs_render
from sdpo_jax.checkpoints import Checkpointer
from sdpo_jax.config import Config
from sdpo_jax.data.pipeline import SkipCounter, prompt_batches
from sdpo_jax.rollouts import Rollouts, decode, train_batch
from sdpo_jax.runtime import load_model, load_records, make_mesh, pool_config, sharding_rules
from sdpo_jax.sampling import generate
from sdpo_jax.train_step import (
    init_state,
    jit_train_step,
    lr_schedule,
    make_optimizer,
    make_train_step,
)


@dataclasses.dataclass
class Launched:
    """A step whose completions are generated and whose renders are in flight."""

    rollouts: Rollouts
    futures: list
    data_state: dict  # iterator position after this step's prompts
    generate_seconds: float
    generated_tokens: int


# Never sampled: a completion holding one would claim image features in the forward pass.
VISION_TOKENS = (
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)


def eos_ids(tokenizer) -> list[int]:
    ids = {tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.eos_token_id}
    return sorted(i for i in ids if isinstance(i, int) and i >= 0)


def train(config: Config, argv: list[str] | None = None) -> dict[str, float]:
    """Runs (or resumes) the configured training; returns the last step's scalar metrics."""
    run_dir, reopened = rundir.prepare(config, argv)
    mesh, rules = make_mesh(config.mesh), sharding_rules(config.mesh)
    model, encoder = load_model(config.model, seed=config.train.seed, mesh=mesh, rules=rules)
    optimizer = make_optimizer(config.optim, config.train.steps)
    graphdef, state = init_state(model, optimizer, config.teacher)
    del model  # the state holds its arrays
    step_fn = make_train_step(graphdef, optimizer, config.objective, config.teacher)
    sampling, train_cfg = config.sampling, config.train
    tokenizer = encoder.tokenizer
    eos, pad_id = eos_ids(tokenizer), tokenizer.pad_token_id or 0
    vision_ids = tokenizer.convert_tokens_to_ids(list(VISION_TOKENS))
    key = jax.random.key(train_cfg.seed)
    skipped = SkipCounter()
    domain = "slide_html" if config.data.task == "slide" else config.data.task

    with (
        RenderPool(pool_config(config), warm_domains=(domain,)) as pool,
        Checkpointer(
            run_dir / "checkpoints",
            save_every=train_cfg.checkpoint_every,
            keep=train_cfg.keep_checkpoints,
        ) as ckpt,
    ):
        records, problems = load_records(config, pool.render)
        for problem in problems:
            skipped.add(problem)
        data = prompt_batches(
            records,
            encoder,
            batch_size=train_cfg.batch_prompts,
            seed=config.data.seed,
            max_prompt_tokens=config.data.max_prompt_tokens,
            image_size=tuple(config.data.image_size) if any(config.data.image_size) else None,
            shard=(jax.process_index(), jax.process_count()),
            skipped=skipped,
        )
        start = ckpt.latest_step() or 0
        if start:
            state, saved, _ = ckpt.restore(start, like=state)
            data.set_state(saved["iterator"])
        print(
            f"{'resuming' if start else 'starting'} {config.name} in {run_dir}"
            + (f" from step {start}" if start else "")
            + (" (run dir existed: same folder, same run)" if reopened and not start else ""),
            flush=True,
        )

        def launch(step: int, state) -> Launched:
            prompts = next(data)
            position = data.get_state()
            began = time.perf_counter()
            out = generate(
                nnx.merge(graphdef, state.params),
                prompts.inputs,
                max_new_tokens=sampling.max_new_tokens,
                num_samples=sampling.num_samples,
                temperature=sampling.temperature,
                top_k=sampling.top_k,
                top_p=sampling.top_p,
                eos_ids=eos,
                rng=jax.random.fold_in(key, step),
                pad_id=pad_id,
                suppress_ids=vision_ids,
                mesh=mesh,
            )
            rollouts = decode(prompts, out, tokenizer, step=step)
            seconds = time.perf_counter() - began
            futures = [pool.submit(r) for r in rollouts.requests]
            return Launched(
                rollouts, futures, position, seconds, int(rollouts.sample.lengths.sum())
            )

        def save_final() -> None:
            """The last completed step, unless the interval already saved it."""
            if done != last_saved:
                ckpt.save(
                    done, state, data={"iterator": saved_position}, meta={"step": done}, force=True
                )

        board = Board(str(run_dir / "tb"))
        jitted, metrics, done = None, {}, start
        saved_position = data.get_state()  # the data position that goes with step `done`
        last_saved = start
        progress = tqdm(
            total=train_cfg.steps, initial=start, desc=config.name, unit="step", dynamic_ncols=True
        )
        pending = None
        try:
            for step in range(start, train_cfg.steps):
                began = time.perf_counter()
                current = pending or launch(step, state)
                lagged = train_cfg.offpolicy_lag and step + 1 < train_cfg.steps
                pending = launch(step + 1, state) if lagged else None
                waited = time.perf_counter()
                results = [f.result() for f in current.futures]
                rendered = time.perf_counter()
                batch, stats = train_batch(config, current.rollouts, results, encoder)
                built = time.perf_counter()
                if jitted is None:
                    jitted = jit_train_step(step_fn, state, batch, mesh, rules)
                state, step_metrics = jitted(state, batch)
                step_metrics = {k: float(v) for k, v in step_metrics.items()}
                updated = time.perf_counter()
                done, saved_position = step + 1, current.data_state
                timings = {
                    "time/generate": current.generate_seconds,
                    "time/render_wait": rendered - waited,
                    "time/teacher_and_batch": built - rendered,
                    "time/update": updated - built,
                    "time/step": updated - began,
                    "throughput/generated_tokens_per_s": current.generated_tokens
                    / max(current.generate_seconds, 1e-9),
                }
                metrics = (
                    step_metrics
                    | {k: v for k, v in stats.items() if not k.startswith("hist/")}
                    | timings
                )
                metrics["optim/lr"] = float(lr_schedule(config.optim, train_cfg.steps)(step))
                metrics["data/skipped_records"] = skipped.count
                if done % train_cfg.log_every == 0:
                    _log(
                        board,
                        done,
                        metrics,
                        stats,
                        current.rollouts,
                        results,
                        done % train_cfg.image_every == 0,
                    )
                if ckpt.save(done, state, data={"iterator": saved_position}, meta={"step": done}):
                    last_saved = done
                progress.set_postfix(
                    loss=f"{metrics['loss/total']:.4g}",
                    reward=f"{metrics['reward/mean']:.2f}",
                    exec=f"{metrics['rollouts/execution_rate']:.2f}",
                    tok_s=f"{metrics['throughput/generated_tokens_per_s']:.0f}",
                )
                progress.update(1)
        except KeyboardInterrupt:
            progress.write(f"interrupted: saving step {done} to {ckpt.directory}")
            save_final()
        else:
            save_final()
        finally:
            progress.close()
            board.close()
    print(
        f"done: step {done}; checkpoints in {run_dir / 'checkpoints'}, TensorBoard events in {run_dir / 'tb'}"
    )
    return metrics


def _log(
    board: Board, step: int, metrics: dict, stats: dict, rollouts: Rollouts, results, images: bool
) -> None:
    board.scalars(step, metrics)
    for tag in ("hist/advantages", "hist/rewards", "hist/credit_weights"):
        board.histogram(step, tag.removeprefix("hist/"), stats[tag])
    if not images:
        return
    for row in range(min(2, len(results))):
        result, record = results[row], rollouts.prompt_of(row).record
        target = Path(record.target).read_bytes() if record.target else None
        board.image(
            step, f"renders/{row}", target_vs_render(target, result.image_png, result.defects)
        )
        lines = {line: d.message for d in result.defects for line in d.source_lines}
        if not result.ok:
            lines.setdefault(0, (result.error or "").splitlines()[0] if result.error else "error")
        header = f"**{record.id}** ok={result.ok} defects={len(result.defects)}\n\n"
        board.text(
            step,
            f"completions/{row}",
            header + credited_code(rollouts.requests[row].code, lines, lines),
        )
    board.flush()
