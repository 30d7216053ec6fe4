"""`make setup` installs the JAX build for the host's accelerator, and only `make test` (and the
other targets that compare against transformers) installs torch."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


def _dry_run(*target: str) -> str:
    return subprocess.run(
        ["make", "-n", *target], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout


def test_this_host_is_detected_as_cpu():
    """No TPU device files and no GPU here (the CI machines): the CPU build."""
    detected = subprocess.run(["bash", "scripts/accelerator.sh"], cwd=ROOT, capture_output=True)
    assert detected.stdout.decode().strip() == "cpu"


def test_an_unknown_accelerator_is_one_line(tmp_path):
    done = subprocess.run(
        ["bash", "scripts/install_jax.sh", str(ROOT / ".venv/bin/python"), "gpu"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stdout.strip() == "setup: ACCEL=gpu: use cpu, tpu, cuda12 or cuda13"


@pytest.mark.parametrize("accel", ["tpu", "cuda12"])
def test_setup_installs_the_matching_jax_and_no_torch(accel):
    setup = _dry_run("-B", "setup", f"ACCEL={accel}")
    assert f"install_jax.sh .venv/bin/python {accel}" in setup
    assert "[test]" not in setup and ".[test]" not in setup
    assert "[test]" in _dry_run("-B", "test", f"ACCEL={accel}")
