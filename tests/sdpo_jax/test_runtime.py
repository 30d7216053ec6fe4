"""What a run says about where it computes: the devices line, and the one-line stop when a
paper-scale model would train on the CPU (the CPU build of JAX on an accelerator host)."""

import json
import os

import jax
import pytest

from models.qwen3_vl import preset
from sdpo_jax.errors import RunError
from sdpo_jax.runtime import describe_devices, refuse_paper_scale_on_cpu


def _folder(tmp_path, name):
    (tmp_path / "config.json").write_text(json.dumps(preset(name).to_hf_dict()))
    return str(tmp_path)


def test_the_devices_line_names_backend_count_and_version():
    line = describe_devices()
    assert line.startswith(f"devices: {jax.device_count()} x {jax.default_backend()} (")
    assert f"jax {jax.__version__}" in line


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the stop is for CPU backends")
def test_a_paper_scale_model_on_the_cpu_stops_with_one_line(tmp_path):
    with pytest.raises(RunError, match=r"has 8\.8B parameters and JAX runs on the CPU") as err:
        refuse_paper_scale_on_cpu(_folder(tmp_path, "8b"))
    assert "\n" not in str(err.value) and "ACCEL=" in str(err.value)
    refuse_paper_scale_on_cpu(_folder(tmp_path, "tiny"))  # tiny models train on a CPU


JOIN = """
import os
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
import jax, numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from sdpo_jax.runtime import join_processes
join_processes()
mesh = Mesh(np.array(jax.devices()), ("d",))
rows = np.full((4,), jax.process_index() + 1.0, np.float32)
total = jax.jit(jax.numpy.sum)(
    jax.make_array_from_process_local_data(NamedSharding(mesh, PartitionSpec("d")), rows)
)
print(jax.process_index(), jax.process_count(), jax.device_count(), float(total))
"""


@pytest.mark.slow
def test_processes_launched_together_join_into_one_run(tmp_path):
    """Two processes of 4 CPU devices each, told of each other by the JAX_* variables, see 8
    devices and sum an array made of their own rows (gloo); without the variables a process
    stays alone."""
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "XLA_"))}
    env["JAX_PLATFORMS"] = "cpu"
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", JOIN],
            env=env
            | {
                "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}",
                "JAX_NUM_PROCESSES": "2",
                "JAX_PROCESS_ID": str(index),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(2)
    ]
    # The last line: gloo prints its connections before it.
    outputs = [run.communicate(timeout=120)[0].splitlines()[-1].split() for run in runs]
    assert sorted(outputs) == [["0", "2", "8", "12.0"], ["1", "2", "8", "12.0"]]
    alone = subprocess.run(
        [sys.executable, "-c", JOIN], env=env, capture_output=True, text=True, timeout=120
    )
    assert alone.stdout.splitlines()[-1].split() == ["0", "1", "4", "4.0"]


def test_a_coordinator_without_the_process_count_is_one_line(monkeypatch):
    from sdpo_jax.runtime import join_processes

    monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "127.0.0.1:1")
    monkeypatch.delenv("JAX_NUM_PROCESSES", raising=False)
    with pytest.raises(RunError, match="also set JAX_NUM_PROCESSES"):
        join_processes()


KEEP = """
import jax, jax.numpy as jnp
from sdpo_jax.runtime import keep_compiled
keep_compiled()
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.jit(lambda x: jnp.sin(x) @ x.T)(jnp.ones((64, 64))).block_until_ready()
print(jax.config.jax_compilation_cache_dir)
"""


def test_compiled_programs_persist_in_the_user_cache(tmp_path):
    """What `make train` and `make eval` compile lands in the cache folder beside the bundled
    data; a folder the user chose with JAX_COMPILATION_CACHE_DIR is kept."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "XLA_"))}
    env |= {"JAX_PLATFORMS": "cpu", "XDG_CACHE_HOME": str(tmp_path)}
    run = lambda env: subprocess.run(
        [sys.executable, "-c", KEEP], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    folder = tmp_path / "visual_sdpo" / "jax"
    assert run(env) == str(folder) and any(folder.iterdir())
    mine = tmp_path / "mine"
    assert run(env | {"JAX_COMPILATION_CACHE_DIR": str(mine)}) == str(mine)
    assert any(mine.iterdir())
