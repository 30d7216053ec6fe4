"""A run launched as two processes trains as one process does on all their devices.

Two `python -m sdpo_jax train`-style processes of 4 simulated CPU devices each, joined by the
JAX_* variables (gloo collectives), run chart_tiny for 2 steps with the recipe's own mesh, data-parallel
over their 8 devices; this test process runs the same config on its own 8 devices. Each of the two
samples and renders its own prompt of every global batch with its own render pool, so equal
gradients mean the global batch held the same prompts, in the same order, with the same
sampling randomness. (Gradients, as AdamW's first moment: parameters after AdamW steps can
differ by up to the learning rate where a gradient is next to zero, whatever the batch.) The
two-process checkpoint then resumes here, in one process, and its next step equals the
one-process run's. Slow: every run compiles the sampler and the train step
(about 2.5 minutes in all on 2 shared cores, 170 s of CPU).
"""

import os
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from sdpo_jax.config import load_config
from sdpo_jax.loop.trainer import resumed_position, train
from tests.sdpo_jax.conftest import SMALL_SPLITS, assert_same_gradients, small_bundled_sets

# 2 prompts x 4 samples per step: one prompt per process. Completions of 16 tokens never finish
# a program, so every render fails fast (a roomy wall limit keeps a loaded machine from turning
# a failure into a timeout in one run only). The held-out check runs before and after.
OVERRIDES = [
    "train.batch_prompts=2",
    "sampling.num_samples=4",
    "sampling.max_new_tokens=16",
    "train.checkpoint_every=1",
    "render.workers=1",
    "render.limits.wall_seconds=60",
    "eval.quick_items=2",
    "eval.quick_every=2",
]
CHILD = """
import os
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
from sdpo_jax.data import bundled
bundled.SPLITS = {splits!r}
from sdpo_jax.commands.train import main
main({argv!r})
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def train_in_two_processes(run_dir, cache) -> None:
    argv = ["chart_tiny", *OVERRIDES, f"run_dir={run_dir}", "train.steps=2"]
    script = CHILD.format(splits=SMALL_SPLITS, argv=argv)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "XLA_"))}
    env |= {
        "JAX_PLATFORMS": "cpu",
        "XDG_CACHE_HOME": str(cache),
        "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{free_port()}",
        "JAX_NUM_PROCESSES": "2",
    }
    children = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            env=env | {"JAX_PROCESS_ID": str(index)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for index in range(2)
    ]
    try:
        outputs = [child.communicate(timeout=900)[0] for child in children]
    finally:  # a timeout must not leave the other process (and its render pool) running
        for child in children:
            child.kill()
    for index, (child, output) in enumerate(zip(children, outputs)):
        assert child.returncode == 0, f"process {index}:\n{output[-3000:]}"
    assert "done: step 2" in outputs[0] and "done: step 2" not in outputs[1]


def train_here(run_dir, steps: int) -> None:
    train(load_config("chart_tiny", [*OVERRIDES, f"run_dir={run_dir}", f"train.steps={steps}"]))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(two-process run dir, one-process run dir): 2 steps on two processes, 3 on one (the
    schedule of both is the same constant rate after a 2-step warmup)."""
    two, one = tmp_path_factory.mktemp("two"), tmp_path_factory.mktemp("one")
    with small_bundled_sets(tmp_path_factory.mktemp("cache")) as cache:
        train_in_two_processes(two, cache)  # process 0 builds the bundled set, then process 1
        train_here(one, steps=3)
        yield two, one


def scalars(run_dir, tag):
    events = EventAccumulator(str(run_dir / "tb"))
    events.Reload()
    return [(s.step, s.value) for s in events.Scalars(tag)]


def checks(run_dir):
    import json

    lines = (run_dir / "heldout.jsonl").read_text().splitlines()
    # Scores only: step 2 ends the two-step run ("after") and not the three-step one ("during").
    return [
        {k: v for k, v in json.loads(line).items() if k not in ("seconds", "check")}
        for line in lines
    ]


@pytest.mark.slow
def test_two_processes_train_as_one_process_on_all_their_devices(runs):
    two, one = runs
    assert_same_gradients(two, one, 2)
    # Gloo sums across the processes in another order than one process does: ~2e-5 apart.
    for tag in ("loss/total", "reward/mean", "rollouts/length_mean", "optim/grad_norm"):
        np.testing.assert_allclose(scalars(two, tag), scalars(one, tag)[:2], rtol=1e-4)
    assert checks(two) == checks(one)[:2]  # the held-out check: steps 0 and 2, every item


@pytest.mark.slow
def test_process_zero_alone_writes_the_run_directory(runs):
    two, _ = runs
    assert len((two / "commands.txt").read_text().splitlines()) == 1
    assert not list(two.glob("config.*.txt"))
    assert len(list((two / "tb").iterdir())) == 1  # one event file
    assert [s for s, _ in scalars(two, "loss/total")] == [1, 2]
    assert [c["step"] for c in checks(two)] == [0, 2]


@pytest.mark.slow
def test_a_two_process_checkpoint_resumes_in_one_process(runs, tmp_path, capsys):
    two, one = runs
    resumed = tmp_path / "resumed"
    shutil.copytree(two, resumed)
    capsys.readouterr()
    train_here(resumed, steps=3)
    assert f"resuming chart_tiny in {resumed} from step 2" in capsys.readouterr().out
    assert_same_gradients(resumed, one, 3)


def test_a_checkpoint_of_other_processes_resumes_at_the_first_batch_none_had_begun():
    # Two processes of one prompt each; one had skipped a record and read one ahead.
    saved = {"iterators": [{"next_index": 3}, {"next_index": 2}]}
    assert resumed_position(saved, batch_prompts=2) == {"next_index": 6}
    assert resumed_position({"iterators": [{"next_index": 4}]}, batch_prompts=2) == {
        "next_index": 4
    }
    assert resumed_position({"iterator": {"next_index": 5}}, batch_prompts=2) == {"next_index": 5}
