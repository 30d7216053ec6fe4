"""`python -m sdpo_jax COMMAND` runs each command; the old module paths still run theirs, saying
the new one."""

import subprocess
import sys
from pathlib import Path

import pytest

from sdpo_jax.__main__ import COMMANDS

ROOT = Path(__file__).parents[3]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True)


def test_every_command_module_is_listed():
    modules = {p.stem for p in (ROOT / "sdpo_jax" / "commands").glob("*.py")} - {"__init__"}
    assert {c.replace("-", "_") for c in COMMANDS} == modules


def test_the_list_and_an_unknown_command():
    listed = run("-m", "sdpo_jax")
    assert listed.returncode == 0 and "feedback-reading" in listed.stdout
    unknown = run("-m", "sdpo_jax", "trian", "chart_tiny")
    assert unknown.returncode == 1
    assert unknown.stderr.strip().startswith("error: no command 'trian'; the commands are train")


@pytest.mark.parametrize("old", ["sdpo_jax.train", "sdpo_jax.plan"])
def test_an_old_path_runs_the_command_and_names_the_new_one(old):
    new = run("-m", "sdpo_jax", "train", "chart_tiny", "--print-config")
    assert new.returncode == 0 and "train.steps=60" in new.stdout
    if old == "sdpo_jax.train":
        done = run("-m", old, "chart_tiny", "--print-config")
        assert done.stdout == new.stdout
        assert "`python -m sdpo_jax train`" in done.stderr
    else:
        done = run("-m", old, "--help")
        assert done.returncode == 0 and "--devices" in done.stdout
        assert "`python -m sdpo_jax plan`" in done.stderr
