"""Seconds per phase of a tiny training run, and how much render time off-policy lag 1 hides.

Runs the same tiny recipe twice, with `train.offpolicy_lag=0` (render waits for generation to
finish: its wait is the whole render time) and with lag 1 (the next step's generation runs while
this step renders). Hidden share = 1 − wait(lag 1) / wait(lag 0), over the steps after the first
(which compiles).

    python benchmarks/train_e2e.py [--config chart_tiny] [--steps 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

from sdpo_jax.config import load_config
from sdpo_jax.trainer import train

PHASES = ("time/generate", "time/render_wait", "time/teacher_and_batch", "time/update", "time/step")


def phases(recipe: str, steps: int, lag: int, run_dir: str) -> dict[str, float]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = load_config(
        recipe, [f"train.steps={steps}", f"train.offpolicy_lag={lag}", f"run_dir={run_dir}"]
    )
    train(config, ["benchmark"])
    events = EventAccumulator(f"{run_dir}/tb")
    events.Reload()
    return {p: statistics.median(e.value for e in events.Scalars(p)[1:]) for p in PHASES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="chart_tiny")
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = {lag: phases(args.config, args.steps, lag, f"{tmp}/lag{lag}") for lag in (0, 1)}
    print(f"\n{args.config}, median over steps 2..{args.steps} (seconds)")
    print(f"{'phase':<26} {'lag 0':>8} {'lag 1':>8}")
    for phase in PHASES:
        print(f"{phase:<26} {runs[0][phase]:>8.2f} {runs[1][phase]:>8.2f}")
    hidden = 1 - runs[1]["time/render_wait"] / max(runs[0]["time/render_wait"], 1e-9)
    print(f"{'render time hidden':<26} {'':>8} {hidden:>8.0%}")


if __name__ == "__main__":
    main()
