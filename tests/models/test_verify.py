"""The user-facing check `python -m models.qwen3_vl.verify --hf PATH`."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.qwen3_vl import verify


@pytest.mark.slow
def test_verify_reports_a_small_difference(hf_dir, capsys):
    assert verify.main(["--hf", str(hf_dir)]) == 0
    out = capsys.readouterr().out
    assert "max |Δlogits| = " in out and out.strip().endswith("OK")


def test_verify_names_a_bad_folder(tmp_path, capsys):
    assert verify.main(["--hf", str(tmp_path)]) == 2
    assert "config.json" in capsys.readouterr().err


@pytest.mark.parametrize("task", ["chart", "web", "slide"])
def test_the_shipped_warm_start_matches_transformers(task):
    """The weights a tiny recipe loads are a real HF folder that transformers reads the same way."""
    folder = Path(__file__).parents[2] / "weights" / f"{task}_tiny"
    assert verify.max_logit_difference(folder) <= 1e-4
