"""Seconds per phase of a tiny training run, and how much render time off-policy lag 1 hides.

Runs the same tiny recipe with `train.offpolicy_lag=0` (render waits for generation to finish:
its wait is the whole render time) and with lag 1 (the next step's generation runs while this
step renders). Hidden share = 1 − wait(lag 1) / wait(lag 0), over the steps after the first
(which compiles).

Steps 2..N that compiled (a new completion or teacher-context length bucket compiles the train
step again; `time/compile` in TensorBoard) are left out of the medians and counted apart.

Each pair of runs is made twice: rendering what was sampled (the warm-started policy's programs,
some of which fail at once), and rendering each prompt's gold program in its place (the render
load of a policy whose programs all work; the tokens the update trains on are the sampled ones
either way). The held-out check is off: it is not part of a step.

    python benchmarks/train_e2e.py [--config chart_tiny] [--steps 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
from unittest import mock

import sdpo_jax.loop.trainer
from sdpo_jax.config import load_config
from sdpo_jax.loop.rollouts import decode
from sdpo_jax.loop.rundir import machine
from sdpo_jax.loop.trainer import train

PHASES = (
    "time/generate",
    "time/render_wait",
    "time/teacher_and_batch",
    "time/update",
    "time/step",
    "time/compile",
)
COMPILING = 0.5  # seconds of compiling that mark a step as one that met a new shape


def decode_rendering_gold(prompts, sample, tokenizer, *, step):
    """`decode`, with every request's program replaced by its prompt's gold program."""
    rollouts = decode(prompts, sample, tokenizer, step=step)
    rollouts.requests = [
        dataclasses.replace(request, code=rollouts.prompt_of(row).record.gold)
        for row, request in enumerate(rollouts.requests)
    ]
    return rollouts


def phases(recipe: str, steps: int, lag: int, gold: bool, run_dir: str) -> dict[str, float]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = load_config(
        recipe,
        [
            f"train.steps={steps}",
            f"train.offpolicy_lag={lag}",
            f"run_dir={run_dir}",
            "eval.quick_items=0",
        ],
    )
    with mock.patch.object(
        sdpo_jax.loop.trainer, "decode", decode_rendering_gold if gold else decode
    ):
        train(config, ["benchmark"])
    events = EventAccumulator(f"{run_dir}/tb")
    events.Reload()
    steps = [
        dict(zip(PHASES, row))
        for row in zip(*([e.value for e in events.Scalars(p)[1:]] for p in PHASES))
    ]
    # A step that met a new length bucket compiled the train step again: its phases are not
    # the steady step's, so the medians leave it out and the compiles are reported on their own.
    steady = [s for s in steps if s["time/compile"] < COMPILING] or steps
    medians = {p: statistics.median(s[p] for s in steady) for p in PHASES}
    medians["steps that compiled"] = len(steps) - len(steady)
    medians["compile seconds"] = sum(s["time/compile"] for s in steps)
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="chart_tiny")
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for gold in (False, True):
            for lag in (0, 1):
                run_dir = f"{tmp}/{'gold' if gold else 'sampled'}-lag{lag}"
                runs[gold, lag] = phases(args.config, args.steps, lag, gold, run_dir)
    print(
        f"\n{machine()}\n{args.config}, median over steps 2..{args.steps} that compiled "
        "nothing new (seconds)"
    )
    print(f"{'':<26} {'sampled programs':>17} {'gold programs':>17}")
    print(f"{'phase':<26} {'lag 0':>8} {'lag 1':>8} {'lag 0':>8} {'lag 1':>8}")
    for phase in [*PHASES[:-1], "steps that compiled", "compile seconds"]:
        cell = lambda v: f"{v:>8d}" if isinstance(v, int) else f"{v:>8.2f}"
        row = " ".join(cell(runs[key][phase]) for key in sorted(runs))
        print(f"{phase:<26} {row}")
    hidden = [
        1 - runs[gold, 1]["time/render_wait"] / max(runs[gold, 0]["time/render_wait"], 1e-9)
        for gold in (False, True)
    ]
    print(f"{'render time hidden':<26} {'':>8} {hidden[0]:>8.0%} {'':>8} {hidden[1]:>8.0%}")


if __name__ == "__main__":
    main()
