"""End to end on the tiny recipes with real rendering: runs leave checkpoints and TensorBoard
events, a run resumed after Ctrl-C or after being killed during a save equals an uninterrupted
one, an export loads in transformers, and a corrupt data record is skipped and counted.

Runs are shared where tests only read them (module fixtures): one two-step run per recipe, and
one uninterrupted four-step chart run with held-out checks that the interrupted runs must
equal. Equal means the same gradients (AdamW's first moment, linear in them), not parameters:
AdamW moves a weight whose gradient is next to zero by up to its learning rate in either
direction, so parameters could differ by that much while the gradients agree."""

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import sdpo_jax.loop.trainer as trainer_module
from sdpo_jax.commands.export import export
from sdpo_jax.config import load_config
from sdpo_jax.loop.checkpoints import Checkpointer
from sdpo_jax.loop.trainer import CompileClock, train
from tests.sdpo_jax.conftest import SMALL_SPLITS, assert_same_gradients, small_bundled_sets

# Small enough for CI: 2 prompts x 2 samples x 24 new tokens per step, no held-out check, on
# one device as on a laptop (the 4 rollouts would not split over the 8 simulated ones). A
# roomy render wall limit keeps a loaded machine from turning one run's render into a timeout.
QUICK = [
    "mesh.data=1",
    "train.batch_prompts=2",
    "sampling.num_samples=2",
    "sampling.max_new_tokens=24",
    "train.image_every=1",
    "train.checkpoint_every=1",
    "render.workers=2",
    "render.limits.wall_seconds=60",
    "eval.quick_items=0",
]
HELDOUT = ["eval.quick_items=2", "eval.quick_every=2"]


@pytest.fixture(scope="module", autouse=True)
def shared_caches(tmp_path_factory):
    """Small bundled sets built once for the module."""
    with small_bundled_sets(tmp_path_factory.mktemp("cache")) as cache:
        yield cache


def run(recipe, run_dir, *extra):
    config = load_config(recipe, [*QUICK, f"run_dir={run_dir}", *extra])
    return train(config, ["test", recipe])


@pytest.fixture(scope="module")
def two_steps(tmp_path_factory):
    """recipe -> (run dir, last metrics) of a two-step run, trained on first use."""
    runs = {}

    def trained(recipe):
        if recipe not in runs:
            run_dir = tmp_path_factory.mktemp(recipe)
            runs[recipe] = run_dir, run(recipe, run_dir, "train.steps=2")
        return runs[recipe]

    return trained


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["chart_tiny", "web_tiny", "slide_tiny"])
def test_two_steps_leave_checkpoints_and_tensorboard_events(recipe, two_steps):
    run_dir, metrics = two_steps(recipe)
    assert np.isfinite(metrics["loss/total"]) and metrics["rollouts/length_mean"] > 0
    with Checkpointer(run_dir / "checkpoints", save_every=1, keep=5) as ckpt:
        assert ckpt.all_steps() == [1, 2]
    events = EventAccumulator(str(run_dir / "tb"), size_guidance={"tensors": 0, "images": 0})
    events.Reload()
    tags = events.Tags()
    for scalar in (
        "loss/total", "loss/grpo", "loss/sd", "reward/mean", "reward/executed", "rollouts/execution_rate",
        "defects/text_overlap", "sd/divergence", "grpo/clip_fraction", "sd/entropy", "optim/grad_norm",
        "optim/lr", "time/generate", "time/render_wait", "time/update", "time/compile",
        "rollouts/length_mean",
        "throughput/generated_tokens_per_s",
    ):  # fmt: skip
        assert scalar in tags["scalars"], scalar
    assert [s.step for s in events.Scalars("loss/total")] == [1, 2]
    assert {"renders/0", "renders/1"} <= set(tags["images"])
    assert "completions/0/text_summary" in tags["tensors"]
    assert {"advantages", "credit_weights"} <= set(tags["histograms"])
    assert (run_dir / "config.txt").is_file() and (run_dir / "versions.json").is_file()


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """An uninterrupted 4-step chart_tiny run with held-out checks at steps 0, 2 and 4, that
    interrupted ones must end up equal to: (run dir, what it printed)."""
    run_dir = tmp_path_factory.mktemp("straight")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        run("chart_tiny", run_dir, "train.steps=4", *HELDOUT)
    return run_dir, printed.getvalue()


def heldout_checks(run_dir):
    return [json.loads(line) for line in (run_dir / "heldout.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_resumed_run_equals_an_uninterrupted_one(straight, tmp_path, monkeypatch, capsys):
    """Ctrl-C during step 3 saves step 2; the resumed run trains steps 3 and 4 as the
    uninterrupted run did, keeps the held-out checks before step 2 and goes on with the
    training clock where it stopped."""
    resumed = tmp_path / "resumed"
    # Interrupt the second run at its third step, as Ctrl-C would: it saves step 2 and exits.
    calls = {"n": 0}
    original = trainer_module.train_batch

    def interrupt_third(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(trainer_module, "train_batch", interrupt_third)
    run("chart_tiny", resumed, "train.steps=4", *HELDOUT)
    with Checkpointer(resumed / "checkpoints", save_every=1, keep=10) as ckpt:
        assert ckpt.latest_step() == 2
    interrupted = heldout_checks(resumed)
    assert [c["step"] for c in interrupted] == [0, 2]
    monkeypatch.setattr(trainer_module, "train_batch", original)
    capsys.readouterr()
    run("chart_tiny", resumed, "train.steps=4", *HELDOUT)
    printed = capsys.readouterr().out
    assert f"resuming chart_tiny in {resumed} from step 2" in printed
    assert_same_gradients(straight[0], resumed, 4)

    # The check of step 0 stays; step 2's is made again from the restored step (the same
    # policy, so the same scores) and the clock goes on from it.
    again = heldout_checks(resumed)
    assert [(c["step"], c["check"]) for c in again] == [(0, "before"), (2, "during"), (4, "after")]
    assert again[0] == interrupted[0]
    # "before" is still the weights the run started from, not the resumed ones.
    line = printed.splitlines()[-1]
    assert line.startswith(f"held-out reward (2 items x 2 samples): {again[0]['reward']:.3f} -> ")
    assert line.split(" -> ")[1].startswith(f"{again[2]['reward']:.3f} ")
    assert again[1]["seconds"] == interrupted[1]["seconds"] < again[2]["seconds"]
    for mine, uninterrupted in zip(again, heldout_checks(straight[0]), strict=True):
        del mine["seconds"], uninterrupted["seconds"]
        assert mine == pytest.approx(uninterrupted)


@pytest.mark.slow
def test_a_run_killed_during_a_save_resumes_from_the_last_complete_step(straight, tmp_path, capsys):
    # `python -m sdpo_jax train` in its own process, SIGKILLed (as by the OOM killer or a
    # preempted VM) right after step 3's asynchronous save has started: step 2 is complete.
    killed = tmp_path / "killed"
    script = textwrap.dedent(
        f"""
        import os, signal
        from sdpo_jax.loop.checkpoints import Checkpointer
        from sdpo_jax.data import bundled
        from sdpo_jax.commands.train import main

        bundled.SPLITS = {SMALL_SPLITS!r}
        save = Checkpointer.save

        def save_then_die(self, step, *args, **kwargs):
            started = save(self, step, *args, **kwargs)
            if step == 3:
                os.kill(os.getpid(), signal.SIGKILL)
            return started

        Checkpointer.save = save_then_die
        main({["chart_tiny", *QUICK, f"run_dir={killed}", "train.steps=4"]!r})
        """
    )
    child = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    left = os.listdir(killed / "checkpoints")
    assert "3" not in left and any(name.startswith("3.orbax-checkpoint-tmp") for name in left)
    capsys.readouterr()
    run("chart_tiny", killed, "train.steps=4")
    assert f"resuming chart_tiny in {killed} from step 2" in capsys.readouterr().out
    assert_same_gradients(straight[0], killed, 4)


@pytest.mark.slow
def test_export_after_training_loads_in_transformers_with_the_same_logits(two_steps, tmp_path):
    from models.qwen3_vl.verify import max_logit_difference

    run_dir, _ = two_steps("chart_tiny")
    out = export(run_dir, tmp_path / "hf", dtype=np.float32)
    assert json.loads((out / "config.json").read_text())["architectures"] == [
        "Qwen3VLForConditionalGeneration"
    ]
    assert max_logit_difference(out) <= 1e-4


@pytest.mark.slow
def test_a_corrupt_record_is_skipped_and_counted(two_steps, tmp_path):
    from sdpo_jax.data.bundled import bundled_folder

    two_steps("chart_tiny")  # a run built the bundled set
    folder = bundled_folder("chart", seed=0)
    lines = (folder / "train.jsonl").read_text().splitlines()[:3]
    (tmp_path / "broken.png").write_bytes(b"not an image")
    bad = json.loads(lines[0])
    bad["id"] = "broken"
    bad["messages"][0]["content"][0]["image"] = str(tmp_path / "broken.png")
    records = [json.loads(line) for line in lines[1:]]
    for record in records:
        image = record["messages"][0]["content"][0]
        image["image"] = str(folder / image["image"])
        record["target"] = str(folder / record["target"])
    (tmp_path / "data.jsonl").write_text(
        "\n".join(json.dumps(r) for r in [bad, *records]) + "\n{oops\n"
    )
    metrics = run(
        "chart_tiny",
        tmp_path / "run",
        "train.steps=1",
        "data.source=jsonl",
        f"data.path={tmp_path / 'data.jsonl'}",
    )
    assert metrics["data/skipped_records"] >= 2  # the unreadable image and the broken line


@pytest.mark.slow
def test_the_held_out_check_runs_before_during_and_after_and_ends_the_run_with_one_line(
    straight,
):
    run_dir, printed = straight
    assert "held-out reward (2 items x 2 samples): " in printed and " -> " in printed
    events = EventAccumulator(str(run_dir / "tb"))
    events.Reload()
    assert [s.step for s in events.Scalars("heldout/reward")] == [0, 2, 4]
    assert "heldout/execution_rate" in events.Tags()["scalars"]
    assert "heldout/defects/text_overlap" in events.Tags()["scalars"]
    checks = heldout_checks(run_dir)
    assert [c["step"] for c in checks] == [0, 2, 4]
    seconds = [c["seconds"] for c in checks]
    assert seconds[0] == 0 and seconds[0] < seconds[1] < seconds[2]
    assert checks[1]["reward"] == events.Scalars("heldout/reward")[1].value


def recorded_run(run_dir, *extra) -> tuple[list[dict], list[tuple]]:
    """A two-step chart run that keeps each step's train batch and the order of its phases:
    (batches, events), an event being (phase, "begins" or "ends", the step it works on)."""
    batches, events, launched_at = [], [], {}
    original_batch = trainer_module.train_batch
    generate, render = trainer_module.Run.generate, trainer_module.Run.render

    def kept_batch(*args, **kwargs):
        batch, stats = original_batch(*args, **kwargs)
        batches.append({k: np.asarray(batch[k]) for k in ("tokens", "sampler_logprobs")})
        return batch, stats

    def logged_generate(self, step):
        events.append(("generate", "begins", step))
        launched = generate(self, step)
        launched_at[id(launched)] = step
        events.append(("generate", "ends", step))
        return launched

    def logged_render(self, launched):
        step = launched_at[id(launched)]
        events.append(("render wait", "begins", step))
        results = render(self, launched)
        events.append(("render wait", "ends", step))
        return results

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(trainer_module, "train_batch", kept_batch)
        patch.setattr(trainer_module.Run, "generate", logged_generate)
        patch.setattr(trainer_module.Run, "render", logged_render)
        run("chart_tiny", run_dir, "train.steps=2", "optim.warmup_steps=0", *extra)
    return batches, events


def scalars(run_dir, tag):
    events = EventAccumulator(str(run_dir / "tb"))
    events.Reload()
    return [s.value for s in events.Scalars(tag)]


@pytest.mark.slow
def test_lag_one_generates_the_next_step_with_the_last_policy_while_this_one_renders(tmp_path):
    """`train.offpolicy_lag=1`, against a lag-0 run whose policy never moves (learning rate
    0): the lagged run's second step is generated with the first step's policy θ0 (the same
    completions and sampler log-probs as the frozen run's), while its first update moved the
    policy it trains (a learning rate that moves it in one step), so its second step is off
    policy by that update (log-prob gap > 0) and the first, like the frozen run's steps, on it.
    Step k's renders are awaited only after step k+1 is generated: they were in flight all
    through that generation (the order of the phases, not their times)."""
    lagged, lag_events = recorded_run(tmp_path / "lag1", "train.offpolicy_lag=1", "optim.lr=1e-3")
    frozen, frozen_events = recorded_run(tmp_path / "frozen", "optim.lr=0")

    for mine, theirs in zip(lagged, frozen, strict=True):  # both steps sampled from θ0
        np.testing.assert_array_equal(mine["tokens"], theirs["tokens"])
        np.testing.assert_allclose(mine["sampler_logprobs"], theirs["sampler_logprobs"], atol=1e-6)
    assert_same_gradients(tmp_path / "frozen", tmp_path / "lag1", 1)  # the same first step

    on_policy = max(scalars(tmp_path / "frozen", "grpo/logprob_gap"))
    first, second = scalars(tmp_path / "lag1", "grpo/logprob_gap")
    assert first <= on_policy * 2 + 1e-6 and second > 100 * (on_policy + 1e-6), (
        first,
        second,
        on_policy,
    )

    wait_0 = ("render wait", "begins", 0)
    assert lag_events.index(("generate", "ends", 1)) < lag_events.index(wait_0)
    assert frozen_events.index(wait_0) < frozen_events.index(("generate", "begins", 1))


@pytest.mark.slow
def test_a_loss_that_is_not_finite_stops_the_run_and_keeps_the_last_good_step(
    tmp_path, monkeypatch
):
    from sdpo_jax.errors import RunError

    original = trainer_module.train_batch
    calls = {"n": 0}

    def poisoned_second_step(*args, **kwargs):
        calls["n"] += 1
        batch, stats = original(*args, **kwargs)
        if calls["n"] == 2:
            batch["advantages"] = np.full_like(batch["advantages"], np.nan)
        return batch, stats

    monkeypatch.setattr(trainer_module, "train_batch", poisoned_second_step)
    with pytest.raises(RunError, match="not finite at step 2; the last good step 1 is saved"):
        run("chart_tiny", tmp_path, "train.steps=4", "train.checkpoint_every=10")
    with Checkpointer(tmp_path / "checkpoints", save_every=1, keep=5) as ckpt:
        assert ckpt.all_steps() == [1]


def test_the_compile_clock_counts_what_xla_compiles():
    """`time/compile` comes from jax's compile events: a shape no cache has seen compiles."""
    clock = CompileClock()
    try:
        fresh = 7 + time.time_ns() % 100_003
        jax.jit(lambda x: (x * 2).sum())(jnp.ones(fresh)).block_until_ready()
    finally:
        clock.close()
    counted = clock.seconds
    jax.jit(lambda x: (x * 3).sum())(jnp.ones(fresh + 1)).block_until_ready()
    assert counted > 0 and clock.seconds == counted  # closed: no longer listening
