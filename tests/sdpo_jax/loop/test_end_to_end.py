"""End to end on the tiny recipes with real rendering: runs leave checkpoints and TensorBoard
events, a run resumed after Ctrl-C or after being killed during a save equals an uninterrupted
one, an export loads in transformers, and a corrupt data record is skipped and counted."""

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
from tests.sdpo_jax.conftest import SMALL_SPLITS, small_bundled_sets

# Small enough for CI: 2 prompts x 2 samples x 24 new tokens per step, no held-out check, on
# one device as on a laptop (the 4 rollouts would not split over the 8 simulated ones).
QUICK = [
    "mesh.data=1",
    "train.batch_prompts=2",
    "sampling.num_samples=2",
    "sampling.max_new_tokens=24",
    "train.image_every=1",
    "train.checkpoint_every=1",
    "render.workers=2",
    "eval.quick_items=0",
]


@pytest.fixture(scope="module", autouse=True)
def shared_caches(tmp_path_factory):
    """Small bundled sets built once for the module, and compiled programs reused between
    runs."""
    with small_bundled_sets(tmp_path_factory.mktemp("cache")) as cache:
        yield cache


def run(recipe, run_dir, *extra):
    config = load_config(recipe, [*QUICK, f"run_dir={run_dir}", *extra])
    return train(config, ["test", recipe])


def params_of(run_dir, step):
    with Checkpointer(run_dir / "checkpoints", save_every=1, keep=10) as ckpt:
        state, _, _ = ckpt.restore(step)
    return [np.asarray(x) for x in jax.tree.leaves(state["params"])]


@pytest.mark.parametrize("recipe", ["chart_tiny", "web_tiny", "slide_tiny"])
def test_two_steps_leave_checkpoints_and_tensorboard_events(recipe, tmp_path):
    metrics = run(recipe, tmp_path, "train.steps=2")
    assert np.isfinite(metrics["loss/total"]) and metrics["rollouts/length_mean"] > 0
    with Checkpointer(tmp_path / "checkpoints", save_every=1, keep=5) as ckpt:
        assert ckpt.all_steps() == [1, 2]
    events = EventAccumulator(str(tmp_path / "tb"), size_guidance={"tensors": 0, "images": 0})
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
    assert (tmp_path / "config.txt").is_file() and (tmp_path / "versions.json").is_file()


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """An uninterrupted 4-step chart_tiny run that interrupted ones must end up equal to."""
    run_dir = tmp_path_factory.mktemp("straight")
    run("chart_tiny", run_dir, "train.steps=4")
    return run_dir


def assert_same_params(a_dir, b_dir, step):
    for a, b in zip(params_of(a_dir, step), params_of(b_dir, step), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_resumed_run_equals_an_uninterrupted_one(straight, tmp_path, monkeypatch, capsys):
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
    run("chart_tiny", resumed, "train.steps=4")
    with Checkpointer(resumed / "checkpoints", save_every=1, keep=10) as ckpt:
        assert ckpt.latest_step() == 2
    monkeypatch.setattr(trainer_module, "train_batch", original)
    capsys.readouterr()
    run("chart_tiny", resumed, "train.steps=4")
    assert f"resuming chart_tiny in {resumed} from step 2" in capsys.readouterr().out
    assert_same_params(straight, resumed, 4)


def test_a_run_killed_during_a_save_resumes_from_the_last_complete_step(
    straight, shared_caches, tmp_path, capsys
):
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
    env = dict(
        os.environ,
        JAX_COMPILATION_CACHE_DIR=str(shared_caches / "jax"),
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
    )
    child = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600, env=env
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    left = os.listdir(killed / "checkpoints")
    assert "3" not in left and any(name.startswith("3.orbax-checkpoint-tmp") for name in left)
    capsys.readouterr()
    run("chart_tiny", killed, "train.steps=4")
    assert f"resuming chart_tiny in {killed} from step 2" in capsys.readouterr().out
    assert_same_params(straight, killed, 4)


def test_export_after_training_loads_in_transformers_with_the_same_logits(tmp_path):
    from models.qwen3_vl.verify import max_logit_difference

    run("chart_tiny", tmp_path / "run", "train.steps=1")
    out = export(tmp_path / "run", tmp_path / "hf", dtype=np.float32)
    assert json.loads((out / "config.json").read_text())["architectures"] == [
        "Qwen3VLForConditionalGeneration"
    ]
    assert max_logit_difference(out) <= 1e-4


def test_a_corrupt_record_is_skipped_and_counted(tmp_path):
    from sdpo_jax.data.bundled import bundled_folder

    folder = bundled_folder("chart", seed=0)
    run("chart_tiny", tmp_path / "warm", "train.steps=1")  # builds the bundled set
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


def test_the_held_out_check_runs_before_during_and_after_and_ends_the_run_with_one_line(
    tmp_path, capsys
):
    run("chart_tiny", tmp_path, "train.steps=3", "eval.quick_items=2", "eval.quick_every=2")
    out = capsys.readouterr().out
    assert "held-out reward (2 items x 2 samples): " in out and " -> " in out
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert [s.step for s in events.Scalars("heldout/reward")] == [0, 2, 3]
    assert "heldout/execution_rate" in events.Tags()["scalars"]
    assert "heldout/defects/text_overlap" in events.Tags()["scalars"]
    checks = [json.loads(line) for line in (tmp_path / "heldout.jsonl").read_text().splitlines()]
    assert [c["step"] for c in checks] == [0, 2, 3]
    seconds = [c["seconds"] for c in checks]
    assert seconds[0] == 0 and seconds[0] < seconds[1] < seconds[2]
    assert checks[1]["reward"] == events.Scalars("heldout/reward")[1].value

    # Resumed for one more step: the checks before step 3 stay, the clock goes on from step 3,
    # and "before" is still the check of the weights the run started from, not the resumed ones.
    run("chart_tiny", tmp_path, "train.steps=4", "eval.quick_items=2", "eval.quick_every=2")
    again = [json.loads(line) for line in (tmp_path / "heldout.jsonl").read_text().splitlines()]
    assert [(c["step"], c["check"]) for c in again] == [(0, "before"), (2, "during"), (4, "after")]
    assert again[:2] == checks[:2] and again[2]["seconds"] > seconds[2]
    line = capsys.readouterr().out.splitlines()[-1]
    assert line.startswith(f"held-out reward (2 items x 2 samples): {checks[0]['reward']:.3f} -> ")
    assert line.split(" -> ")[1].startswith(f"{again[2]['reward']:.3f} ")


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
