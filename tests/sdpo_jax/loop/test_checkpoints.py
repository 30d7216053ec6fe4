"""Orbax checkpoints: exact round trip, keep-K, and a process killed mid-save."""

import os
import signal
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np

from sdpo_jax.loop.checkpoints import Checkpointer


def _state(seed):
    key = jax.random.key(seed)
    return {
        "params": {"w": jax.random.normal(key, (8, 4)), "b": jnp.arange(4.0)},
        "opt": {"mu": jnp.full((8, 4), float(seed)), "count": jnp.asarray(seed, jnp.int32)},
        "rng": jax.random.key_data(key),
    }


def test_round_trip_is_exact_and_keeps_the_newest(tmp_path):
    with Checkpointer(tmp_path, save_every=2, keep=2) as ckpt:
        saved = {}
        for step in range(1, 7):
            if ckpt.save(step, _state(step), data={"next_index": 10 * step}, meta={"step": step}):
                saved[step] = _state(step)
        assert sorted(saved) == [2, 4, 6]
        ckpt.wait()
        assert ckpt.all_steps() == [4, 6]
    with Checkpointer(tmp_path, save_every=2, keep=2) as again:
        assert again.latest_step() == 6
        state, data, meta = again.restore(6, like=_state(0))
    assert data == {"next_index": 60} and meta == {"step": 6}
    for got, want in zip(jax.tree.leaves(state), jax.tree.leaves(saved[6]), strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
        assert got.dtype == want.dtype


def test_forced_save_ignores_the_interval(tmp_path):
    with Checkpointer(tmp_path, save_every=100, keep=3) as ckpt:
        assert not ckpt.save(3, _state(3), data={}, meta={})
        assert ckpt.save(3, _state(3), data={}, meta={}, force=True)
        ckpt.wait()
        assert ckpt.all_steps() == [3]


def test_a_process_killed_during_a_save_resumes_from_the_last_complete_step(tmp_path):
    # The child saves step 1 and waits for it, then starts a large asynchronous save of step 2
    # and is killed (SIGKILL) once that save's temporary folder exists: mid-write, whatever the
    # machine's load (killing right after `save` returned could come before orbax began).
    script = textwrap.dedent(
        f"""
        import os, signal, sys, time, jax.numpy as jnp
        from sdpo_jax.loop.checkpoints import Checkpointer
        ckpt = Checkpointer({str(tmp_path)!r}, save_every=1, keep=5)
        ckpt.save(1, {{"w": jnp.ones((4,))}}, data={{"i": 1}}, meta={{}})
        ckpt.wait()
        big = {{"w": jnp.ones((4,)), "pad": jnp.ones((64, 1024, 1024), jnp.float32)}}
        ckpt.save(2, big, data={{"i": 2}}, meta={{}})
        tmp = lambda: any(p.startswith("2.orbax-checkpoint-tmp") for p in os.listdir({str(tmp_path)!r}))
        deadline = time.monotonic() + 60
        while not tmp() and time.monotonic() < deadline:
            time.sleep(0.001)
        print("saving", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    child = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert "saving" in child.stdout
    # The interrupted step is only a temporary folder, never a committed "2".
    assert "2" not in os.listdir(tmp_path)
    assert any(p.startswith("2.orbax-checkpoint-tmp") for p in os.listdir(tmp_path))
    with Checkpointer(tmp_path, save_every=1, keep=5) as ckpt:
        assert ckpt.latest_step() == 1
        state, data, _ = ckpt.restore(1, like={"w": jnp.zeros((4,))})
    assert data == {"i": 1}
    np.testing.assert_array_equal(np.asarray(state["w"]), np.ones(4))
