"""Fixtures for the metrics tests: one recording chart renderer for the session."""

import pytest

from render_service.config import RenderConfig
from render_service.sandbox import SandboxLimits


@pytest.fixture(scope="session")
def chart_recorder():
    from render_service.metrics.chart_record import ChartRecordRenderer

    renderer = ChartRecordRenderer(
        RenderConfig(sandbox=SandboxLimits(cpu_seconds=10, wall_seconds=20))
    )
    yield renderer
    renderer.close()
