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


def jailed(pid: int) -> int:
    """The render worker itself: below bubblewrap's two processes when the pool jails it."""
    while True:
        try:
            with open(f"/proc/{pid}/comm") as comm:
                if comm.read().strip() != "bwrap":
                    return pid
        except OSError:
            return pid
        (pid,) = child_pids(pid)
