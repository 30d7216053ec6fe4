"""The learning benchmark: Visual-SDPO against GRPO and the starting policy, with ablations and
seeds, written up as docs/results.md (`make bench-learning`).

    python benchmarks/learning.py            # every arm below; at most 120 min on 2 CPU cores
    python benchmarks/learning.py --quick    # one task, the three core arms, 3 seeds
    python benchmarks/learning.py --report   # rewrite the page from the finished runs only
    python benchmarks/learning.py --set model.path=DIR --out runs/other --docs runs/other
                                             # every run from another policy, on its own page

Every trained arm starts from the same policy (the task's shipped warm start, or the folder
`--set model.path=...` names) with the recipe's budget (steps x
prompts x samples) and, for a given seed, the same prompt order and sampling key: arms differ
only in their objective or teacher. Each run scores the held-out split with the trainer's quick
check (64 items x 4 samples, sampled as in training with a fixed key) before the first step,
every `eval.quick_every` steps and after the last one. The table ranks by each benchmark's
primary score (`primary` in `make eval`'s report.json: ChartMimic's low-level score for charts,
the slide score for slides), which is the visual part of the reward those checks record.

Each (task, arm, seed) run keeps its folder under `--out` (default runs/learning) and writes
result.json when it ends; a second invocation skips finished runs and resumes an interrupted
one from its last checkpoint. Settings are chosen on training rewards, never on held-out data.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `python benchmarks/learning.py` from anywhere


@dataclasses.dataclass(frozen=True)
class Arm:
    label: str
    overrides: tuple[str, ...] | None  # None: not trained (the warm start itself)


ARMS = {
    "base": Arm("base (the warm start, no training)", None),
    "grpo": Arm("GRPO (λ = 0)", ("objective.sd_weight=0",)),
    "vsdpo": Arm("Visual-SDPO (GRPO + λ·SD, γ = 1, render shown)", ()),
    "sd_only": Arm("SD only (no GRPO term)", ("objective.grpo_weight=0",)),
    "no_credit": Arm("no credit (γ = 0)", ("objective.credit_gamma=0",)),
    "no_render": Arm(
        "no render image (defect text and errors only)", ("teacher.show_render=false",)
    ),
    "solution": Arm("+ a sibling's solution (SDPO)", ("teacher.solution=true",)),
    "skip_clean": Arm("+ no distillation on clean rollouts (SDPO)", ("teacher.skip_clean=true",)),
    "ema": Arm("EMA teacher (rate 0.05)", ("teacher.weights=ema",)),
}
CORE = ("base", "grpo", "vsdpo")
ABLATIONS = ("no_credit", "no_render", "sd_only", "ema", "solution", "skip_clean")
# The primary score of each task's benchmark, as the trainer's held-out check records it.
PRIMARY = {"chart": "ChartMimic low-level", "slide": "slide score", "web": "Design2Code low-level"}
# Collapse signals read from each run's TensorBoard events.
SIGNALS = ("sd/entropy", "sd/divergence", "rollouts/execution_rate", "reward/mean")


@dataclasses.dataclass(frozen=True)
class Plan:
    """Which runs make up the benchmark. The held-out check costs as much as 15-25 training
    steps here (256 samples rendered), so core runs check at the start, at `midpoint` of their
    steps (the 60% of the steps-to-match target) and at the end; ablations at the start and the
    end; and the start, the same for every arm of a seed, once per (task, seed)."""

    tasks: tuple[str, ...]  # the core arms run on each
    ablation_task: str | None  # the ablations run on this one
    ablations: tuple[str, ...]
    seeds: tuple[int, ...]
    single_seed: tuple[str, ...] = ()  # ablations run on the first seed only (a sweep)
    midpoint: float = 0.6
    extra: tuple[str, ...] = ()  # overrides for every run (a smaller budget)

    def runs(self) -> list[tuple[str, str, int]]:
        """(task, arm, seed) of every trained run, core arms first, seeds innermost."""
        cells = [(task, arm) for task in self.tasks for arm in CORE if arm != "base"]
        if self.ablation_task:
            cells += [(self.ablation_task, arm) for arm in self.ablations]
        return [
            (task, arm, seed)
            for task, arm in cells
            for seed in (self.seeds[:1] if arm in self.single_seed else self.seeds)
        ]

    def overrides(self, task: str, arm: str, seed: int, out: Path) -> list[str]:
        """The run's settings: its arm's, its seed, its checks, its folder."""
        from sdpo_jax.config import load_config

        steps = load_config(f"{task}_tiny", list(self.extra)).train.steps
        every = round(steps * self.midpoint) if arm in CORE else 0
        first = next(a for t, a, s in self.runs() if t == task and s == seed) == arm
        return [
            *ARMS[arm].overrides,
            f"train.seed={seed}",
            f"eval.quick_every={every}",
            f"eval.quick_before={str(first).lower()}",
            f"run_dir={out / task / arm / f'seed{seed}'}",
            *self.extra,
        ]


FULL = Plan(
    tasks=("chart", "slide"),
    ablation_task="chart",
    ablations=ABLATIONS,
    seeds=(0, 1, 2),
    single_seed=("solution", "skip_clean", "ema"),
)
# Half the chart recipe's steps and half the held-out items: a preview within 20 minutes.
QUICK = Plan(
    tasks=("chart",),
    ablation_task=None,
    ablations=(),
    seeds=(0, 1, 2),
    extra=("train.steps=30", "eval.quick_items=32"),
)


def plan_of(quick: bool, settings: Sequence[str] = ()) -> Plan:
    """The quick or the full plan with `settings` added to every run; exits with one line
    where a task's recipe refuses them."""
    from sdpo_jax.config import ConfigError, load_config

    plan = QUICK if quick else FULL
    plan = dataclasses.replace(plan, extra=(*plan.extra, *settings))
    for task in sorted({task for task, _, _ in plan.runs()}):
        try:
            load_config(f"{task}_tiny", list(plan.extra))
        except ConfigError as err:
            sys.exit(f"error: --set: {err}")
    return plan


def train_one(task: str, arm: str, seed: int, out: Path, plan: Plan) -> dict:
    """Trains one (task, arm, seed), or returns its finished result."""
    overrides = plan.overrides(task, arm, seed, out)
    run_dir = out / task / arm / f"seed{seed}"
    done = run_dir / "result.json"
    from sdpo_jax import memory_maps
    from sdpo_jax.config import load_config
    from sdpo_jax.loop.trainer import train

    config = load_config(f"{task}_tiny", overrides)
    if done.exists():
        changed = changed_settings(json.loads((run_dir / "config.json").read_text()), config)
        if changed:
            sys.exit(
                f"error: {run_dir} holds a run with other settings ({', '.join(changed)}); "
                "delete that folder or pass another --out"
            )
        return json.loads(done.read_text())
    memory_maps.release_near_limit()  # the last runs' programs stay cached in this process
    began = time.perf_counter()
    train(config, ["benchmarks/learning.py", *overrides])
    result = {
        "task": task,
        "arm": arm,
        "seed": seed,
        "overrides": overrides,
        "check": f"{config.eval.quick_items} items x {config.sampling.num_samples} samples",
        "budget": f"{config.train.steps} steps x {config.train.batch_prompts} prompts x "
        f"{config.sampling.num_samples} samples",
        "minutes": (time.perf_counter() - began) / 60,
        "curve": [
            json.loads(line) for line in (run_dir / "heldout.jsonl").read_text().splitlines()
        ],
        "signals": read_signals(run_dir / "tb"),
    }
    done.write_text(json.dumps(result) + "\n")
    return result


def changed_settings(stored: dict, config) -> list[str]:
    """The dotted keys whose value in a finished run's config.json differs from `config`'s:
    a changed recipe default invalidates a cached run as surely as a changed override. The
    folder itself may have moved."""
    current = json.loads(json.dumps(dataclasses.asdict(config)))
    stored, current = ({k: v for k, v in d.items() if k != "run_dir"} for d in (stored, current))

    def walk(a, b, prefix=""):
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(a.keys() | b.keys()):
                yield from walk(a.get(key), b.get(key), f"{prefix}{key}.")
        elif a != b:
            yield prefix[:-1]

    return list(walk(stored, current))


def read_signals(logdir: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(logdir), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in SIGNALS}


# --------------------------------------------------------------------------- statistics


def paired_interval(
    a: np.ndarray, b: np.ndarray, level: float = 0.95
) -> tuple[float, float, float]:
    """(mean, low, high) of a − b over paired seeds: Student's t interval of the mean
    difference (the interval of scipy's `ttest_rel`); NaN bounds with one seed."""
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    if d.size < 2:
        return float(d.mean()), float("nan"), float("nan")
    half = stats.t.ppf(0.5 + level / 2, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size)
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half)


def steps_to_reach(steps: list[int], curve: np.ndarray, target: float) -> int | None:
    """The first checked step after the start at which `curve` reaches `target`; None if it
    never does."""
    reached = [s for s, v in zip(steps, curve, strict=True) if s > 0 and v >= target]
    return reached[0] if reached else None


def summarize(results: list[dict]) -> dict:
    """Every number of the page, per task: the arms' final scores over seeds, their curves,
    the paired differences against GRPO and the verdicts on the targets."""
    tasks: dict[str, dict] = {}
    for task in dict.fromkeys(r["task"] for r in results):
        runs = [r for r in results if r["task"] == task]
        starts: dict[int, list[dict]] = {}  # the step-0 checks of each seed
        for r in runs:
            if r["curve"][0]["step"] == 0:
                starts.setdefault(r["seed"], []).append(r["curve"][0])
        arms: dict[str, dict] = {}
        arms["base"] = _arm_summary(
            {seed: points[:1] for seed, points in starts.items()},
            consistent=all(_same_scores(p) for p in starts.values()),
        )
        for arm in dict.fromkeys(r["arm"] for r in runs):
            chosen = {
                r["seed"]: r["curve"]
                if r["curve"][0]["step"] == 0
                else starts[r["seed"]][:1] + r["curve"]
                for r in runs
                if r["arm"] == arm
            }
            arms[arm] = _arm_summary(chosen) | {"signals": _mean_signals(runs, arm)}
            arms[arm]["minutes"] = float(np.mean([r["minutes"] for r in runs if r["arm"] == arm]))
        tasks[task] = {"primary": PRIMARY[task], "arms": arms, "settings": _settings(runs)}
        tasks[task] |= _against_grpo(arms)
    return tasks


def train_reward(run: dict) -> float:
    """The run's mean training reward over the last third of its steps: what the recipe's
    settings are chosen on (never the held-out split)."""
    values = [v for _, v in run["signals"]["reward/mean"]]
    return float(np.mean(values[len(values) * 2 // 3 :] or values))


def _settings(runs: list[dict]) -> dict[str, dict]:
    """Each trained arm against the recipe (Visual-SDPO) on training reward, paired over seeds.
    A setting replaces the recipe's default only where its whole 95% interval is above 0."""
    recipe = {r["seed"]: train_reward(r) for r in runs if r["arm"] == "vsdpo"}
    out = {}
    for arm in dict.fromkeys(r["arm"] for r in runs if r["arm"] != "vsdpo"):
        seeds = [r["seed"] for r in runs if r["arm"] == arm and r["seed"] in recipe]
        if not seeds:
            continue
        mine = [train_reward(r) for s in seeds for r in runs if r["arm"] == arm and r["seed"] == s]
        mean, low, high = paired_interval(np.array(mine), np.array([recipe[s] for s in seeds]))
        verdict = (
            "one seed: a sweep, not a decision"
            if np.isnan(low)
            else "better: make it the default"
            if low > 0
            else "worse"
            if high < 0
            else "within the seed noise: keep the default"
        )
        out[arm] = {"mean": mean, "low": low, "high": high, "seeds": seeds, "verdict": verdict}
    return out


def _same_scores(points: list[dict]) -> bool:
    """The step-0 checks of one seed's runs agree (same weights, same key)."""
    return all(abs(p["visual"] - points[0]["visual"]) < 1e-9 for p in points)


def _arm_summary(curves: dict[int, list[dict]], consistent: bool = True) -> dict:
    seeds = sorted(curves)
    final = {key: [curves[s][-1][key] for s in seeds] for key in curves[seeds[0]][-1]}
    numbers = {k: v for k, v in final.items() if k not in ("step", "split", "check")}
    steps = [p["step"] for p in curves[seeds[0]]]
    return {
        "seeds": seeds,
        "final": {
            k: {"mean": float(np.mean(v)), "sd": _sd(v), "values": v} for k, v in numbers.items()
        },
        "steps": steps,
        "curve": [
            float(np.mean([curves[s][i]["visual"] for s in seeds])) for i in range(len(steps))
        ],
        "curve_min": [float(min(curves[s][i]["visual"] for s in seeds)) for i in range(len(steps))],
        "curve_max": [float(max(curves[s][i]["visual"] for s in seeds)) for i in range(len(steps))],
        "minutes_at": [
            float(np.mean([curves[s][i]["seconds"] for s in seeds])) / 60 for i in range(len(steps))
        ],
        "base_checks_agree": consistent,
    }


def _sd(values) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def _mean_signals(runs: list[dict], arm: str) -> dict[str, dict]:
    chosen = [r["signals"] for r in runs if r["arm"] == arm]
    out = {}
    for tag in SIGNALS:
        series = [dict(s[tag]) for s in chosen if s.get(tag)]
        if not series:
            continue
        steps = sorted(set.intersection(*(set(s) for s in series)))
        values = [float(np.mean([s[k] for s in series])) for k in steps]
        third = values[len(values) * 2 // 3 :] or values
        out[tag] = {"steps": steps, "values": values, "last_third": float(np.mean(third))}
    return out


def _against_grpo(arms: dict[str, dict]) -> dict:
    if "grpo" not in arms:
        return {}
    grpo = arms["grpo"]
    paired = {}
    for name, arm in arms.items():
        if name == "grpo":
            continue
        seeds = [s for s in arm["seeds"] if s in grpo["seeds"]]
        mine = [arm["final"]["visual"]["values"][arm["seeds"].index(s)] for s in seeds]
        theirs = [grpo["final"]["visual"]["values"][grpo["seeds"].index(s)] for s in seeds]
        mean, low, high = paired_interval(np.array(mine), np.array(theirs))
        reach = steps_to_reach(
            arm["steps"], np.array(arm["curve"]), grpo["final"]["visual"]["mean"]
        )
        paired[name] = {"mean": mean, "low": low, "high": high, "reaches_grpo_final_at": reach}
    return {"against_grpo": paired, "targets": _targets(arms, paired)}


def _targets(arms: dict[str, dict], paired: dict[str, dict]) -> dict[str, dict]:
    """The paper's claims at small scale, each with its verdict and the numbers behind it."""

    def beats(a: str, b: str) -> dict:
        fa, fb = arms[a]["final"]["visual"], arms[b]["final"]["visual"]
        gap, spread = fa["mean"] - fb["mean"], max(fa["sd"], fb["sd"])
        return {"met": bool(gap > spread), "gap": gap, "spread": spread}

    out = {}
    if "vsdpo" in arms:
        out["Visual-SDPO > GRPO by more than the seed spread"] = beats("vsdpo", "grpo")
        total = arms["grpo"]["steps"][-1]
        reach = paired["vsdpo"]["reaches_grpo_final_at"]
        share = None if reach is None else reach / total
        out["Visual-SDPO reaches GRPO's final score in at most 60% of the steps"] = {
            "met": share is not None and share <= 0.6,
            "step": reach,
            "share": share,
        }
    out["GRPO > base by more than the seed spread"] = beats("grpo", "base")
    if "no_credit" in arms and "vsdpo" in arms:
        out["credit helps: γ = 1 over γ = 0 by more than the seed spread"] = beats(
            "vsdpo", "no_credit"
        )
    return out


# --------------------------------------------------------------------------- the page


def plot_curves(tasks: dict, path: Path) -> None:
    """Held-out primary score against step and against training minutes, mean over seeds
    (band: min-max), one row per task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(tasks), 2, figsize=(11, 3.6 * len(tasks)), squeeze=False)
    for row, (task, summary) in enumerate(tasks.items()):
        for column, x_key in enumerate(("steps", "minutes_at")):
            ax = axes[row, column]
            for name, arm in summary["arms"].items():
                if name == "base":
                    ax.axhline(arm["final"]["visual"]["mean"], color="grey", ls=":", label="base")
                    continue
                x = arm[x_key]
                (line,) = ax.plot(x, arm["curve"], marker="o", ms=3, label=ARMS[name].label)
                ax.fill_between(
                    x, arm["curve_min"], arm["curve_max"], color=line.get_color(), alpha=0.12
                )
            ax.set_xlabel("step" if column == 0 else "training minutes (held-out checks excluded)")
            ax.set_ylabel(f"held-out {summary['primary']}")
            ax.set_title(f"{task}_tiny", fontsize=10)
            ax.grid(alpha=0.3)
        axes[row, 1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_signals(tasks: dict, path: Path) -> None:
    """The collapse signals over training steps for each arm (mean over seeds, smoothed over 5
    steps), one row per task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        len(tasks), len(SIGNALS), figsize=(15, 3.2 * len(tasks)), squeeze=False
    )
    for row, (task, summary) in enumerate(tasks.items()):
        for column, tag in enumerate(SIGNALS):
            ax = axes[row, column]
            for name, arm in summary["arms"].items():
                series = arm.get("signals", {}).get(tag)
                if series:
                    ax.plot(series["steps"], _smooth(series["values"]), label=name, lw=1.2)
            ax.set_title(f"{task}_tiny: {tag}", fontsize=9)
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
        axes[row, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _smooth(values: list[float], window: int = 5) -> np.ndarray:
    v = np.asarray(values, np.float64)
    if v.size < window:
        return v
    kernel = np.ones(window) / window
    return np.convolve(
        np.pad(v, (window // 2, window - 1 - window // 2), mode="edge"), kernel, "valid"
    )


def _pm(entry: dict, digits: int = 3) -> str:
    return f"{entry['mean']:.{digits}f} ± {entry['sd']:.{digits}f}"


def page(tasks: dict, header: dict) -> str:
    lines = [
        "# Results: does Visual-SDPO learn faster than GRPO?",
        "",
        "Written by `benchmarks/learning.py` (do not edit by hand; rerun it). "
        "[training.md](training.md) discusses what these numbers mean.",
        "",
        f"- command: `{header['command']}`",
        f"- machine: {header['machine']}",
        f"- date: {header['date']}; runs: {header['runs']} of {header['planned']} planned "
        f"finished, {header['minutes']:.0f} min",
        f"- code: {header['commit']}",
        "- every trained arm: the same starting policy (the task's shipped warm start unless the "
        "command sets `model.path`), the recipe's budget "
        f"({header['budgets']}), the same prompt order and sampling key for a given seed",
        f"- held-out check ({header['checks']}): sampled at the training temperature with a "
        "fixed key; the score is each benchmark's primary score (`primary` in `make eval`'s "
        "report.json)",
        "- ± is the standard deviation over seeds; Δ vs GRPO is the mean paired difference over "
        "seeds with its 95% t interval",
    ]
    for task, summary in tasks.items():
        primary = summary["primary"]
        lines += [
            "",
            f"## {task}_tiny",
            "",
            f"Held-out after the last step; ranked by {primary}.",
            "",
        ]
        lines += [
            f"| arm | {primary} | Δ vs GRPO [95% CI] | reaches GRPO's final at step | reward | "
            "executed | defect-free | defects / program | train reward, last third |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        ranked = sorted(summary["arms"].items(), key=lambda kv: -kv[1]["final"]["visual"]["mean"])
        for name, arm in ranked:
            f = arm["final"]
            d = summary.get("against_grpo", {}).get(name)
            delta = "—" if d is None else f"{d['mean']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]"
            if d is not None and np.isnan(d["low"]):
                delta = f"{d['mean']:+.3f} (one seed)"
            reach = (
                "—" if d is None or name == "base" else str(d["reaches_grpo_final_at"] or "never")
            )
            train = arm.get("signals", {}).get("reward/mean")
            train = "—" if train is None else f"{train['last_third']:.3f}"
            lines.append(
                f"| {ARMS[name].label} | {_pm(f['visual'])} | {delta} | {reach} | {_pm(f['reward'])} | "
                f"{_pm(f['execution_rate'], 2)} | {_pm(f['clean_rate'], 2)} | "
                f"{_pm(f['defects_per_rollout'], 2)} | "
                f"{train} |"
            )
        kinds = sorted(
            k
            for k in ranked[0][1]["final"]
            if k.startswith("defects/")
            if any(arm["final"][k]["mean"] > 0 for _, arm in ranked)
        )
        if kinds:
            lines += ["", "Defects per held-out program, by kind (mean over seeds):", ""]
            lines += ["| arm | " + " | ".join(k.removeprefix("defects/") for k in kinds) + " |"]
            lines += ["|---" * (len(kinds) + 1) + "|"]
            for name, arm in ranked:
                values = " | ".join(f"{arm['final'][k]['mean']:.3f}" for k in kinds)
                lines.append(f"| {name} | {values} |")
        lines += ["", "Targets (the paper's claims at small scale):", ""]
        for claim, verdict in summary.get("targets", {}).items():
            detail = ", ".join(
                f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                for k, v in verdict.items()
                if k != "met"
            )
            lines.append(f"- {'**met**' if verdict['met'] else '**missed**'}: {claim} ({detail})")
        if summary.get("settings"):
            lines += [
                "",
                "Choosing the recipe's settings: training reward (last third of the steps) "
                "against Visual-SDPO, paired over seeds; a setting replaces the default only "
                "where its 95% interval is above 0:",
                "",
                "| arm | Δ train reward [95% CI] | seeds | verdict |",
                "|---|---|---|---|",
            ]
            for name, d in summary["settings"].items():
                interval = "" if np.isnan(d["low"]) else f" [{d['low']:+.3f}, {d['high']:+.3f}]"
                lines.append(
                    f"| {ARMS[name].label} | {d['mean']:+.3f}{interval} | {len(d['seeds'])} | "
                    f"{d['verdict']} |"
                )
        if not all(arm.get("base_checks_agree", True) for arm in summary["arms"].values()):
            lines.append("- warning: the step-0 checks of one seed differ between arms")
        signals = [
            (name, arm["signals"]) for name, arm in summary["arms"].items() if arm.get("signals")
        ]
        if signals:
            lines += ["", "Collapse signals, mean over the last third of the steps and seeds:", ""]
            lines += ["| arm | " + " | ".join(SIGNALS) + " |", "|---" * (len(SIGNALS) + 1) + "|"]
            for name, s in signals:
                cells = " | ".join(f"{s[t]['last_third']:.3f}" if t in s else "—" for t in SIGNALS)
                lines.append(f"| {name} | {cells} |")
    lines += [
        "",
        "## Curves",
        "",
        "![held-out score against step and training time](results_curves.png)",
        "",
        "![collapse signals](results_signals.png)",
        "",
        "Every number above is in [results.json](results.json).",
    ]
    return "\n".join(lines) + "\n"


def write_page(results: list[dict], docs: Path, header: dict) -> dict:
    tasks = summarize(results)
    docs.mkdir(parents=True, exist_ok=True)
    plot_curves(tasks, docs / "results_curves.png")
    plot_signals(tasks, docs / "results_signals.png")
    (docs / "results.json").write_text(
        json.dumps({"header": header, "tasks": tasks}, indent=1) + "\n"
    )
    (docs / "results.md").write_text(page(tasks, header))
    return tasks


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one task, the core arms, 3 seeds")
    parser.add_argument("--report", action="store_true", help="only rewrite the page")
    parser.add_argument("--out", type=Path, help="default: runs/learning[-quick]")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting for every run, as the trainer takes it (repeatable)",
    )
    args = parser.parse_args(argv)
    plan = plan_of(args.quick, args.set)
    args.out = args.out or ROOT / "runs" / ("learning-quick" if args.quick else "learning")

    import jax

    from sdpo_jax.loop.rundir import machine, versions

    # Arms compile the same programs: each is compiled once for the whole benchmark.
    jax.config.update("jax_compilation_cache_dir", str(args.out / "jax-cache"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)

    print(f"learning benchmark on {machine()}: {len(plan.runs())} runs in {args.out}", flush=True)
    results = []
    for index, (task, arm, seed) in enumerate(plan.runs(), start=1):
        finished = (args.out / task / arm / f"seed{seed}" / "result.json").exists()
        if args.report and not finished:
            continue
        print(f"[{index}/{len(plan.runs())}] {task} {arm} seed {seed}", flush=True)
        result = train_one(task, arm, seed, args.out, plan)
        shown = " -> ".join(f"{p['visual']:.3f} (step {p['step']})" for p in result["curve"])
        print(f"    held-out {PRIMARY[task]}: {shown}; {result['minutes']:.1f} min", flush=True)
        results.append(result)
    if not results:
        sys.exit(f"error: no finished runs in {args.out}; run without --report first")
    header = {
        # The command that trains these runs (`--report` only rewrites the page).
        "command": shlex.join(
            ["python", "benchmarks/learning.py"]
            + [a for a in (sys.argv[1:] if argv is None else argv) if a != "--report"]
        ),
        "machine": machine(),
        "date": datetime.date.today().isoformat(),
        "runs": len(results),
        "planned": len(plan.runs()),
        "budgets": "; ".join(sorted({f"{r['task']}: {r['budget']}" for r in results})),
        "checks": "; ".join(sorted({f"{r['task']}: {r['check']}" for r in results})),
        "minutes": sum(r["minutes"] for r in results),
        "commit": versions()["git_commit"][:12],
    }
    tasks = write_page(results, args.docs, header)
    print(f"wrote {args.docs / 'results.md'}")
    for task, summary in tasks.items():
        for claim, verdict in summary.get("targets", {}).items():
            print(f"{task}: {'met' if verdict['met'] else 'missed'}: {claim}")


if __name__ == "__main__":
    main()
