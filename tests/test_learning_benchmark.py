"""benchmarks/learning.py: its statistics against scipy and NumPy float64, the summary and page
on made-up runs whose answers are known, and two real tiny runs that leave a finished,
cached result and a page."""

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import benchmarks.learning as learning  # noqa: E402


def test_the_paired_interval_is_scipys_ttest_rel_interval():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.5, 0.1, 3), rng.normal(0.45, 0.1, 3)
    mean, low, high = learning.paired_interval(a, b)
    reference = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert mean == pytest.approx(np.mean(a - b), abs=1e-12)
    assert (low, high) == pytest.approx((reference.low, reference.high), abs=1e-12)
    assert np.isnan(learning.paired_interval(a[:1], b[:1])[1])


def test_steps_to_reach_ignores_the_start():
    assert learning.steps_to_reach([0, 20, 40, 60], np.array([0.5, 0.4, 0.6, 0.7]), 0.55) == 40
    assert learning.steps_to_reach([0, 20], np.array([0.9, 0.1]), 0.5) is None


def point(step, visual, seconds=None):
    return {
        "step": step,
        "seconds": step * 3.0 if seconds is None else seconds,
        "split": "heldout",
        "reward": 1 + visual,
        "execution_rate": 0.9,
        "visual": visual,
        "defects_per_rollout": 0.1,
        "clean_rate": 0.8,
        "defects/text_overlap": 0.1,
    }


def made_up(arm, seed, visuals):
    steps = [0, 20, 40, 60]
    return {
        "task": "chart",
        "arm": arm,
        "seed": seed,
        "minutes": 5.0,
        "budget": "60 steps x 2 prompts x 4 samples",
        "check": "64 items x 4 samples",
        "curve": [point(s, v) for s, v in zip(steps, visuals, strict=True)],
        "signals": {tag: [(s, 1.0 + seed) for s in range(1, 61)] for tag in learning.SIGNALS},
    }


def made_up_runs():
    start = {0: 0.50, 1: 0.52, 2: 0.48}
    runs = []
    for seed, s0 in start.items():
        runs.append(made_up("grpo", seed, [s0, s0 + 0.01, s0 + 0.02, s0 + 0.04 + 0.01 * seed]))
        runs.append(made_up("vsdpo", seed, [s0, s0 + 0.06, s0 + 0.08, s0 + 0.10]))
        runs.append(made_up("no_credit", seed, [s0, s0 + 0.02, s0 + 0.03, s0 + 0.05]))
    return runs


def test_the_summary_on_made_up_runs():
    (chart,) = learning.summarize(made_up_runs()).values()
    arms = chart["arms"]
    assert arms["base"]["final"]["visual"]["mean"] == pytest.approx(0.50)
    assert arms["base"]["final"]["visual"]["sd"] == pytest.approx(np.std([0.5, 0.52, 0.48], ddof=1))
    grpo = np.array([0.54, 0.57, 0.54])
    assert arms["grpo"]["final"]["visual"]["values"] == pytest.approx(list(grpo))
    vsdpo = np.array([0.60, 0.62, 0.58])
    d = vsdpo - grpo
    half = stats.t.ppf(0.975, 2) * d.std(ddof=1) / np.sqrt(3)
    against = chart["against_grpo"]["vsdpo"]
    assert (against["mean"], against["low"], against["high"]) == pytest.approx(
        (d.mean(), d.mean() - half, d.mean() + half)
    )
    # Visual-SDPO's mean curve reaches GRPO's final mean (0.55) at step 20 of 60.
    assert against["reaches_grpo_final_at"] == 20
    targets = chart["targets"]
    assert targets["Visual-SDPO > GRPO by more than the seed spread"]["met"]
    reach = targets["Visual-SDPO reaches GRPO's final score in at most 60% of the steps"]
    assert reach["met"] and reach["share"] == pytest.approx(1 / 3)
    assert targets["GRPO > base by more than the seed spread"]["met"]
    credit = targets["credit helps: γ = 1 over γ = 0 by more than the seed spread"]
    assert credit["met"] and credit["gap"] == pytest.approx(0.05)
    assert arms["vsdpo"]["signals"]["reward/mean"]["last_third"] == pytest.approx(2.0)
    assert arms["base"]["base_checks_agree"]


def test_a_missed_target_is_reported_as_missed(tmp_path):
    runs = made_up_runs()
    for run in runs:
        if run["arm"] == "vsdpo":
            run["curve"][-1]["visual"] = 0.51
    (chart,) = learning.summarize(runs).values()
    assert not chart["targets"]["Visual-SDPO > GRPO by more than the seed spread"]["met"]
    header = {
        "command": "python benchmarks/learning.py",
        "machine": "test",
        "date": "2026-11-30",
        "runs": len(runs),
        "planned": len(runs),
        "minutes": 45.0,
        "commit": "abc",
        "budgets": "chart: 60 steps",
        "checks": "chart: 64 items",
    }
    learning.write_page(runs, tmp_path, header)
    text = (tmp_path / "results.md").read_text()
    assert "**missed**: Visual-SDPO > GRPO" in text and "**met**: GRPO > base" in text
    assert (tmp_path / "results_curves.png").stat().st_size > 10_000
    assert json.loads((tmp_path / "results.json").read_text())["tasks"]["chart"]["arms"]["grpo"]


def test_a_setting_replaces_the_default_only_when_its_training_reward_interval_is_above_0():
    runs = made_up_runs()
    lifts = {0: 0.05, 1: 0.07, 2: 0.06}
    for run in runs:
        if run["arm"] == "no_credit":  # a better training reward on every seed, last third only
            run["signals"]["reward/mean"] = [
                (s, 1.0 + run["seed"] + (lifts[run["seed"]] if s > 40 else -1.0))
                for s in range(1, 61)
            ]
    runs.append(made_up("ema", 0, [0.5, 0.6, 0.7, 0.8]))
    (chart,) = learning.summarize(runs).values()
    settings = chart["settings"]
    better = settings["no_credit"]
    interval = stats.ttest_rel(list(lifts.values()), [0, 0, 0]).confidence_interval()
    assert (better["low"], better["high"]) == pytest.approx((interval.low, interval.high))
    assert better["mean"] == pytest.approx(0.06) and better["verdict"].startswith("better")
    assert settings["grpo"]["verdict"].startswith("within the seed noise")
    assert settings["ema"]["verdict"].startswith("one seed")
    assert "vsdpo" not in settings


def test_the_plan_checks_the_start_once_per_seed_and_the_midpoint_on_core_arms(tmp_path):
    full = learning.FULL
    runs = full.runs()
    assert runs[:3] == [("chart", "grpo", 0), ("chart", "grpo", 1), ("chart", "grpo", 2)]
    assert ("chart", "ema", 0) in runs and ("chart", "ema", 1) not in runs
    assert runs[12] == ("chart", "no_credit", 0)  # the ablation a target depends on first
    assert ("slide", "no_credit", 0) not in runs  # ablations on one task
    settings = lambda *run: dict(o.split("=", 1) for o in full.overrides(*run, tmp_path))
    first, second = settings("chart", "grpo", 0), settings("chart", "vsdpo", 0)
    assert first["eval.quick_before"] == "true" and second["eval.quick_before"] == "false"
    assert first["eval.quick_every"] == "36" and first["objective.sd_weight"] == "0"  # 60% of 60
    assert settings("slide", "grpo", 1)["eval.quick_before"] == "true"
    assert settings("chart", "no_credit", 2)["eval.quick_every"] == "0"


def test_set_adds_a_setting_to_every_run_and_refuses_a_bad_one_in_one_line(tmp_path):
    plan = learning.plan_of(True, ["objective.credit_gamma=0.5"])
    for run in plan.runs():
        assert plan.overrides(*run, tmp_path)[-1] == "objective.credit_gamma=0.5"
    with pytest.raises(SystemExit, match=r"^error: --set: unknown key 'objective.gama'"):
        learning.plan_of(True, ["objective.gama=1"])
    with pytest.raises(SystemExit, match="no finished runs"):  # the settings were accepted
        learning.main(["--quick", "--report", "--set", "train.steps=2", "--out", str(tmp_path)])


@pytest.mark.slow
def test_two_tiny_runs_finish_cache_and_refuse_other_settings(tmp_path, monkeypatch):
    from sdpo_jax.data import bundled

    monkeypatch.setattr(bundled, "SPLITS", {"train": 8, "validation": 2, "heldout": 2})
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    plan = learning.Plan(
        tasks=("chart",),
        ablation_task=None,
        ablations=(),
        seeds=(0,),
        midpoint=0.5,
        extra=("train.steps=2", "eval.quick_items=2", "sampling.num_samples=2",
               "sampling.max_new_tokens=24", "render.workers=1", "mesh.data=1"),
    )  # fmt: skip
    results = [learning.train_one(t, a, s, tmp_path, plan) for t, a, s in plan.runs()]
    assert [r["arm"] for r in results] == ["grpo", "vsdpo"]
    # The start is checked by the seed's first arm only: both arms start from it.
    assert [p["step"] for p in results[0]["curve"]] == [0, 1, 2]
    assert [p["step"] for p in results[1]["curve"]] == [1, 2]
    for r in results:
        assert r["signals"]["sd/entropy"] and r["budget"].startswith("2 steps")
    (chart,) = learning.summarize(results).values()
    assert chart["arms"]["vsdpo"]["steps"] == [0, 1, 2]
    assert chart["arms"]["base"]["final"]["visual"]["values"] == [results[0]["curve"][0]["visual"]]
    finished = tmp_path / "chart" / "vsdpo" / "seed0" / "result.json"
    assert learning.train_one("chart", "vsdpo", 0, tmp_path, plan) == json.loads(
        finished.read_text()
    )
    other = dataclasses.replace(plan, extra=("train.steps=3",))
    with pytest.raises(SystemExit, match=r"holds a run with other settings.*train.steps"):
        learning.train_one("chart", "vsdpo", 0, tmp_path, other)
    # A recipe default changed since the run counts too: the run's config.json is compared.
    stored = finished.parent / "config.json"
    settings = json.loads(stored.read_text())
    settings["teacher"]["show_render"] = not settings["teacher"]["show_render"]
    stored.write_text(json.dumps(settings))
    with pytest.raises(SystemExit, match=r"other settings \(teacher.show_render\)"):
        learning.train_one("chart", "vsdpo", 0, tmp_path, plan)
