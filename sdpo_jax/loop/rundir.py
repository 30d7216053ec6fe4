"""A self-describing run directory: resolved config, library versions, and the commands that
made it, so a run can be understood and repeated from its folder alone.

    <run_dir>/config.txt      the resolved config, one `key=value` per line (override syntax)
    <run_dir>/config.json     the same as JSON
    <run_dir>/versions.json   python, jax, flax, ..., the machine and the git commit of the code
    <run_dir>/commands.txt    every command line that ran in this folder, newest last
    <run_dir>/checkpoints/    orbax checkpoints;  <run_dir>/tb/  TensorBoard events
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib.metadata
import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

from sdpo_jax.config import Config, format_config

PACKAGES = ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "grain", "transformers", "numpy")


def resolve(config: Config) -> Path:
    return Path(config.run_dir or Path("runs") / config.name)


def machine() -> str:
    """The CPU model and core count, for run folders and benchmark headers."""
    cpu = platform.processor() or "cpu"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores"


def versions() -> dict[str, str]:
    found = {"python": platform.python_version(), "machine": machine()}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    try:
        found["git_commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        found["git_commit"] = "unknown"
    return found


def prepare(config: Config, argv: list[str] | None = None) -> tuple[Path, bool]:
    """Creates (or reopens) the run directory; returns (path, whether it already held a run).

    A reopened run keeps its first config.txt: the config a run was started with is the one
    that describes its checkpoints. A different config for the same folder is written beside it
    as config.<n>.txt so the change stays visible."""
    run_dir = resolve(config)
    run_dir.mkdir(parents=True, exist_ok=True)
    existing = (run_dir / "config.txt").is_file()
    text = format_config(config) + "\n"
    if not existing:
        (run_dir / "config.txt").write_text(text)
        (run_dir / "config.json").write_text(
            json.dumps(dataclasses.asdict(config), indent=2) + "\n"
        )
        (run_dir / "versions.json").write_text(json.dumps(versions(), indent=2) + "\n")
    elif (run_dir / "config.txt").read_text() != text:
        n = len(list(run_dir.glob("config.*.txt"))) + 1
        (run_dir / f"config.{n}.txt").write_text(text)
    stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    command = shlex.join(argv if argv is not None else sys.argv)
    with (run_dir / "commands.txt").open("a") as log:
        log.write(f"{stamp}  {command}\n")
    return run_dir, existing
