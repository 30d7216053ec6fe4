"""The training loop. Each step is the algorithm, in order:

    generate   prompts_k -> G completions each with θ (sampler), programs extracted
    render     the programs in the pool's sandboxed processes (and each new prompt's reference)
    feedback   rewards and group advantages; credit weights; the teacher's contexts
    step       θ_{k+1} = train_step(θ_k, batch_k):  L = L_GRPO + λ · L_SD
    log        TensorBoard, progress, checkpoints (`Monitor`)

With `train.offpolicy_lag=1` step k+1 is generated with θ_k while step k's programs render, and
the importance ratios against the sampler's log-probs correct for the one step of lag.

Checkpoints hold the train state and the data iterator's position after step k's prompts, so a
resumed run sees the same prompts (with lag 1 the first resumed step is generated on-policy).
Ctrl-C saves a checkpoint of the last completed step and exits cleanly. A loss that is not
finite leaves the parameters as they were (the step skips its update), saves the last good
step and stops the run with one line.

With `eval.quick_items`, the run scores that many held-out items before the first step and
after the last one (sampled as in training, with the same key every time) and ends with one
line: held-out reward before -> after. `eval.quick_every=N` scores them every N steps as well,
for curves; `eval.quick_before=false` skips the check before the first step. Each check is a
line of `<run_dir>/heldout.jsonl`: the step, the training seconds so far (checks excluded),
which check it was and the scores. A resumed run keeps the checks before the step it resumes
from, its "before" included, and makes the others again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import time
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np
from flax import nnx
from tqdm import tqdm

from render_service import RenderPool, metrics
from sdpo_jax import hosts
from sdpo_jax.config import Config
from sdpo_jax.data.pipeline import SkipCounter, prompt_batches
from sdpo_jax.errors import RunError
from sdpo_jax.loop import rundir
from sdpo_jax.loop.board import Board
from sdpo_jax.loop.checkpoints import Checkpointer
from sdpo_jax.loop.heldout import attempt
from sdpo_jax.loop.pictures import credited_code, target_vs_render
from sdpo_jax.loop.policy import sample
from sdpo_jax.loop.rollouts import References, Rollouts, decode, render_requests, score, train_batch
from sdpo_jax.loop.train_step import (
    CompiledSteps,
    batch_shardings,
    init_state,
    lr_schedule,
    make_optimizer,
    make_train_step,
    place_state,
)
from sdpo_jax.method.rewards import RECORDS
from sdpo_jax.runtime import (
    check_rows_fit,
    describe_devices,
    heldout_prompts,
    load_model,
    load_records,
    make_mesh,
    sharding_rules,
)


@dataclasses.dataclass
class Launched:
    """A step whose completions are generated and whose renders are in flight."""

    rollouts: Rollouts
    futures: list
    data_state: dict  # iterator position after this step's prompts


def timed(name: str) -> Callable:
    """Records a phase's seconds in `self.seconds`, so the loop itself stays the algorithm."""

    def decorate(method: Callable) -> Callable:
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            began = time.perf_counter()
            try:
                return method(self, *args, **kwargs)
            finally:
                self.seconds[f"time/{name}"] = time.perf_counter() - began

        return wrapper

    return decorate


class CompileClock:
    """Seconds XLA spends compiling, from jax's monitoring events. A step that meets a new
    shape (a longer completion or teacher context bucket) compiles the train step again; each
    step's `time/compile` says how much of its time that was."""

    EVENT = "/jax/core/compile/backend_compile_duration"

    def __init__(self):
        self.seconds = 0.0
        jax.monitoring.register_event_duration_secs_listener(self._record)

    def _record(self, event: str, duration: float, **_) -> None:
        if event == self.EVENT:
            self.seconds += duration

    def close(self) -> None:
        jax.monitoring.unregister_event_duration_listener(self._record)


def say(line: str) -> None:
    """A line of the run's log, from process 0 (the others run the same loop)."""
    if hosts.is_main():
        print(line, flush=True)


def resumed_position(saved: dict, batch_prompts: int) -> dict:
    """This process's data position from a checkpoint: its own when the run that saved it had
    as many processes; otherwise the first global batch that no process had begun, which is
    exact unless records were skipped. (Positions are grain's `next_index` into this process's
    records; checkpoints from before several processes hold one, as "iterator".)"""
    positions = saved.get("iterators") or [saved["iterator"]]
    count = jax.process_count()
    if len(positions) == count:
        return positions[jax.process_index()]
    share = batch_prompts // len(positions)
    begun = max(-(-p["next_index"] // share) for p in positions)
    return {"next_index": begun * (batch_prompts // count)}


def sampling_keys(seed: int) -> tuple[jax.Array, jax.Array]:
    """(training, held-out) keys: training step s samples with fold_in(training, s), held-out
    batch k with fold_in(held-out, k·batch_prompts). From one key both would be the same draw
    (step 2 and held-out batch 1 at 2 prompts a batch)."""
    training, heldout = jax.random.split(jax.random.key(seed))
    return training, heldout


def train(config: Config, argv: list[str] | None = None) -> dict[str, float]:
    """Runs (or resumes) the configured training; returns the last step's scalar metrics."""
    steps, lag = config.train.steps, config.train.offpolicy_lag
    with contextlib.ExitStack() as stack:
        run = Run(config, argv, stack)
        monitor = stack.enter_context(Monitor(run))
        if not run.start and config.eval.quick_before:
            monitor.heldout("before", 0, run.heldout())
        elif run.start and run.start < steps and monitor.check_due(run.start):
            # A resumed run keeps the first "before" and redoes the check it dropped here.
            monitor.heldout("during", run.start, run.heldout())
        try:
            pending = run.generate(run.start)
            for step in range(run.start, steps):
                current, more = pending, step + 1 < steps
                if lag and more:
                    pending = run.generate(step + 1)  # with θ_k, while step k renders
                results = run.render(current)
                batch, stats = run.feedback(current, results)
                metrics = run.update(batch)
                monitor.step(step + 1, metrics, stats, current, results)
                if more and monitor.check_due(step + 1):
                    monitor.heldout("during", step + 1, run.heldout())
                if not lag and more:
                    pending = run.generate(step + 1)
        except KeyboardInterrupt:
            monitor.interrupted()
            return monitor.last
        monitor.finish()
        monitor.heldout("after", steps, run.heldout())
    say(monitor.summary())
    return monitor.last


class Run:
    """What one training run holds (the train state, the data iterator, the render pool, the
    checkpoints) and its phases, one method each."""

    def __init__(self, config: Config, argv: list[str] | None, stack: contextlib.ExitStack):
        self.config = config
        share = hosts.share(config.train.batch_prompts)
        self.run_dir, reopened = (
            rundir.prepare(config, argv) if hosts.is_main() else (rundir.resolve(config), False)
        )
        say(describe_devices())
        self.mesh, self.rules = make_mesh(config.mesh), sharding_rules(config.mesh)
        rows = config.train.batch_prompts * config.sampling.num_samples
        check_rows_fit(self.mesh, self.rules, rows // config.train.microbatches)
        model, self.encoder = load_model(
            config.model, seed=config.train.seed, mesh=self.mesh, rules=self.rules
        )
        optimizer = make_optimizer(config.optim, config.train.steps)
        self.graphdef, self.state = init_state(model, optimizer, config.teacher, config.objective)
        self.state = place_state(self.state, self.mesh, self.rules)
        self.step_fn = make_train_step(self.graphdef, optimizer, config.objective, config.teacher)
        self.steps = CompiledSteps(self.step_fn, self.mesh, self.rules)
        self.key, self.heldout_key = sampling_keys(config.train.seed)
        self.skipped = SkipCounter()
        self.seconds: dict[str, float] = {}
        domain = "slide_html" if config.data.task == "slide" else config.data.task
        scored = RECORDS[config.reward.visual] is not None
        self.pool = stack.enter_context(
            RenderPool(
                config.render,
                registry=metrics.registry() if scored else None,
                warm_domains=(domain,),
            )
        )
        self.ckpt = stack.enter_context(
            Checkpointer(
                self.run_dir / "checkpoints",
                save_every=config.train.checkpoint_every,
                keep=config.train.keep_checkpoints,
            )
        )
        records, problems = load_records(config, self.pool.render)
        for problem in problems:
            self.skipped.add(problem)
        self.data = prompt_batches(
            records,
            self.encoder,
            batch_size=share,
            seed=config.data.seed,
            max_prompt_tokens=config.data.max_prompt_tokens,
            image_size=config.data.letterbox,
            shard=(jax.process_index(), jax.process_count()),
            skipped=self.skipped,
        )
        self.start = self.ckpt.latest_step() or 0
        if self.start:
            self.state, saved, _ = self.ckpt.restore(self.start, like=self.state)
            self.data.set_state(resumed_position(saved, config.train.batch_prompts))
        self.references = References(self.pool, config.reward.visual)
        self.heldout_prompts = heldout_prompts(config, self.encoder, self.pool.render)
        say(
            f"{'resuming' if self.start else 'starting'} {config.name} in {self.run_dir}"
            + (f" from step {self.start}" if self.start else "")
            + (" (run dir existed: same folder, same run)" if reopened and not self.start else "")
        )

    def policy(self):
        return nnx.merge(self.graphdef, self.state.params)

    @timed("generate")
    def generate(self, step: int) -> Launched:
        """prompts -> G completions each -> programs submitted to the pool (returns at once)."""
        prompts = next(self.data)
        position = self.data.get_state()
        tokenizer = self.encoder.tokenizer
        out = sample(
            self.policy(),
            prompts.inputs,
            tokenizer,
            self.config.sampling,
            rng=jax.random.fold_in(self.key, step),
            mesh=self.mesh,
        )
        rollouts = decode(prompts.prompts, out, tokenizer, step=step)
        self.references.submit(prompts.records)
        requests = render_requests(rollouts.requests, self.references)
        return Launched(rollouts, [self.pool.submit(r) for r in requests], position)

    @timed("render_wait")
    def render(self, launched: Launched) -> list:
        return [f.result() for f in launched.futures]

    @timed("teacher_and_batch")
    def feedback(self, launched: Launched, results) -> tuple[dict, dict]:
        """Rewards and advantages, credit weights, teacher contexts: the train batch."""
        parts = score(self.config, launched.rollouts, results, self.references)
        return train_batch(
            self.config, launched.rollouts, results, parts, self.encoder, self.references
        )

    @timed("update")
    def update(self, batch: dict) -> dict:
        """θ <- train_step(θ, batch); the metrics stay on the device. Waits for the step to
        finish (the loop reads its finite-loss flag next anyway), so `time/update` is the
        update's compute, not its dispatch."""
        if jax.process_count() > 1:  # every process's rows, as global arrays
            batch = hosts.global_batch(batch, batch_shardings(batch, self.mesh, self.rules))
        self.state, step_metrics = self.steps(self.state, batch)
        step_metrics["loss/finite"].block_until_ready()
        return step_metrics

    def heldout(self) -> dict[str, float] | None:
        """The quick held-out check (`eval.quick_items`), with the same key every time."""
        if not self.heldout_prompts:
            return None
        found = attempt(
            self.policy(),
            self.encoder,
            self.heldout_prompts,
            self.config,
            self.pool,
            self.references,
            rng=self.heldout_key,
        )
        return found.summary()


class Monitor:
    """What the loop reports and keeps: the progress bar, TensorBoard, checkpoints, the check
    that the loss stayed finite, and the held-out check. Device metrics come to the host only
    at log steps; the finite-loss flag is read every step (the next step waits for the update
    anyway)."""

    def __init__(self, run: Run):
        self.run, self.config, self.ckpt = run, run.config, run.ckpt
        self.done = self.saved_step = run.start
        self.position = run.data.get_state()  # the data position that goes with step `done`
        self.last: dict[str, float] = {}
        self.scores: dict[str, tuple[int, dict]] = {}
        # Process 0 writes TensorBoard, heldout.jsonl and the progress bar.
        self.board = Board(str(run.run_dir / "tb")) if hosts.is_main() else None
        self.checks = run.run_dir / "heldout.jsonl"
        self.trained = self._resume_checks(run.start)  # training seconds up to step `done`
        self.tick = time.perf_counter()  # when the last step (or held-out check) ended
        self.compiles = CompileClock()
        self.compiled = 0.0  # compile seconds up to the last step's end
        self.progress = tqdm(
            total=self.config.train.steps,
            initial=run.start,
            desc=self.config.name,
            unit="step",
            dynamic_ncols=True,
            disable=not hosts.is_main(),
        )

    def save(self, step: int, *, force: bool = False) -> None:
        """Every process calls it (orbax writes each one's shards, process 0 the JSON)."""
        positions = [
            {"next_index": int(n)} for n in hosts.gather(np.asarray([self.position["next_index"]]))
        ]
        data = {"iterators": positions}
        if self.ckpt.save(step, self.run.state, data=data, meta={"step": step}, force=force):
            self.saved_step = step

    def step(self, done: int, step_metrics, stats, launched: Launched, results) -> None:
        train_cfg = self.config.train
        if not bool(step_metrics["loss/finite"]):
            self.save(self.done, force=True)  # the step left the state as it was
            raise RunError(
                f"the loss is not finite at step {done}; the last good step {self.done} is saved "
                f"in {self.ckpt.directory}. Lower optim.lr or check the data, then resume"
            )
        self.done, self.position = done, launched.data_state
        now = time.perf_counter()
        elapsed, self.tick = now - self.tick, now
        compiled, self.compiled = self.compiles.seconds - self.compiled, self.compiles.seconds
        self.trained += elapsed
        if done % train_cfg.log_every == 0:
            seconds = self.run.seconds | {"time/step": elapsed, "time/compile": compiled}
            host = {k: float(v) for k, v in step_metrics.items() if k != "loss/finite"}
            self.last = host | {k: v for k, v in stats.items() if not k.startswith("hist/")}
            # Every process generates as many tokens per row on average: length_mean is global.
            rows = len(launched.rollouts.texts) * jax.process_count()
            self.last |= seconds | {
                "throughput/generated_tokens_per_s": stats["rollouts/length_mean"]
                * rows
                / max(seconds.get("time/generate", 0.0), 1e-9),
                "optim/lr": float(lr_schedule(self.config.optim, train_cfg.steps)(done - 1)),
                "data/skipped_records": hosts.total(self.run.skipped.count),
            }
            if self.board:
                images = done % train_cfg.image_every == 0
                _log(self.board, done, self.last, stats, launched.rollouts, results, images)
        self.save(done)
        self.progress.set_postfix(
            exec=f"{stats['rollouts/execution_rate']:.2f}",
            reward=f"{stats['reward/mean']:.2f}",
            defects=f"{stats['rollouts/defects_per_rollout']:.2f}",
        )
        self.progress.update(1)

    def finish(self) -> None:
        """Saves the last completed step unless the interval already did."""
        if self.done != self.saved_step:
            self.save(self.done, force=True)

    def interrupted(self) -> None:
        if hosts.is_main():
            self.progress.write(f"interrupted: saving step {self.done} to {self.ckpt.directory}")
        self.finish()

    def check_due(self, step: int) -> bool:
        every = self.config.eval.quick_every
        return bool(every) and step % every == 0

    def heldout(self, when: str, step: int, scores: dict[str, float] | None) -> None:
        """Logs a quick check ("before", "during" or "after") to TensorBoard and heldout.jsonl;
        the time it took does not count as training."""
        if scores is not None:
            self.scores[when] = (step, scores)
        if scores is not None and self.board:
            split = self.config.eval.quick_split
            self.board.scalars(step, {f"{split}/{k}": v for k, v in scores.items()})
            self.board.flush()
            line = {"step": step, "seconds": round(self.trained, 3), "split": split}
            line |= {"check": when} | scores
            with self.checks.open("a") as out:
                out.write(json.dumps(line) + "\n")
        self.tick, self.compiled = time.perf_counter(), self.compiles.seconds

    def _resume_checks(self, start: int) -> float:
        """Keeps the checks of the steps before `start` (a resumed run redoes the others) and
        returns the training seconds recorded up to `start` (process 0's file)."""
        if not hosts.is_main() or not self.checks.exists():
            return 0.0
        lines = [json.loads(line) for line in self.checks.read_text().splitlines() if line]
        kept = [line for line in lines if line["step"] < start]
        self.checks.write_text("".join(json.dumps(line) + "\n" for line in kept))
        first = next((line for line in kept if line.get("check", "before") == "before"), None)
        if start and first is not None and first["step"] == 0:  # the weights it started from
            scores = {
                k: v for k, v in first.items() if k not in ("step", "seconds", "split", "check")
            }
            self.scores["before"] = (0, scores)
        upto = [line for line in lines if line["step"] <= start]
        return upto[-1]["seconds"] if upto else 0.0

    def summary(self) -> str:
        run_dir = self.run.run_dir
        lines = [
            f"done: step {self.done}; checkpoints in {run_dir / 'checkpoints'}, "
            f"TensorBoard events in {run_dir / 'tb'}"
        ]
        if {"before", "after"} <= self.scores.keys():
            (_, before), (_, after) = self.scores["before"], self.scores["after"]
            items = self.config.eval.quick_items
            samples = self.config.sampling.num_samples
            split = self.config.eval.quick_split.replace("heldout", "held-out")
            lines.append(
                f"{split} reward ({items} items x {samples} samples): "
                f"{before['reward']:.3f} -> {after['reward']:.3f} "
                f"(executed {before['execution_rate']:.2f} -> {after['execution_rate']:.2f}, "
                f"defects per program {before['defects_per_rollout']:.2f} -> "
                f"{after['defects_per_rollout']:.2f}, visual {before['visual']:.3f} -> "
                f"{after['visual']:.3f})"
            )
        return "\n".join(lines)

    def close(self) -> None:
        self.progress.close()
        self.compiles.close()
        if self.board:
            self.board.close()

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


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
