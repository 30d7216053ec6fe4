"""Fixtures for the render service: short sandbox limits so hostile tests end quickly."""

import os

import pytest

from render_service.config import RenderConfig
from render_service.sandbox import SandboxLimits

HERE = os.path.dirname(os.path.abspath(__file__))
SHORT_LIMITS = SandboxLimits(cpu_seconds=1, wall_seconds=2, memory_mb=256, output_bytes=4096)


def child_pids(pid: int) -> list[int]:
    """Live (non-zombie) children of `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry))
    return found


@pytest.fixture(scope="session")
def short_config():
    return RenderConfig(workers=2, sandbox=SHORT_LIMITS, worker_grace_seconds=3)


@pytest.fixture(scope="session")
def chart_renderer():
    from render_service.chart.renderer import ChartRenderer

    renderer = ChartRenderer(RenderConfig(sandbox=SandboxLimits(cpu_seconds=10, wall_seconds=20)))
    yield renderer
    renderer.close()


@pytest.fixture(scope="module")
def pool(short_config):
    from render_service.pool import RenderPool

    with RenderPool(short_config) as pool:
        yield pool
