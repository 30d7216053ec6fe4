"""What a run says about where it computes: the devices line, and the one-line stop when a
paper-scale model would train on the CPU (the CPU build of JAX on an accelerator host)."""

import json

import jax
import pytest

from models.qwen3_vl import preset
from sdpo_jax.runtime import RunError, describe_devices, refuse_paper_scale_on_cpu


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
