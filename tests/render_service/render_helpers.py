"""Shared helpers for the render-service tests (a plainly named module: several conftest.py
files in one run would shadow each other under `from conftest import`)."""

import os

from render_service.sandbox import SandboxLimits

HERE = os.path.dirname(os.path.abspath(__file__))
SHORT_LIMITS = SandboxLimits(cpu_seconds=1, wall_seconds=2, memory_mb=256, output_bytes=4096)


def child_pids(pid: int) -> list[int]:
    """Children of `pid`, zombies included: an unreaped child is a process left behind too."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def jailed(pid: int) -> int:
    """The render worker itself: below bubblewrap and the jail's init when the pool jails it."""
    while comm(pid) in ("bwrap", "render-init"):
        (pid,) = child_pids(pid)
    return pid


def zygote_only(worker: int) -> bool:
    """Between requests a worker has one child, its zygote, and the zygote has none."""
    children = child_pids(worker)
    return [comm(c) for c in children] == ["render-zygote"] and child_pids(children[0]) == []
