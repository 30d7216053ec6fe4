"""Fixtures for the render service: short sandbox limits so hostile tests end quickly."""

import pytest
from render_helpers import SHORT_LIMITS

from render_service.config import RenderConfig


@pytest.fixture(scope="session")
def short_config():
    return RenderConfig(workers=2, limits=SHORT_LIMITS, worker_grace_seconds=3)


@pytest.fixture(scope="session")
def chart_renderer():
    from render_service.chart.renderer import ChartRenderer

    renderer = ChartRenderer(RenderConfig())
    yield renderer
    renderer.close()


@pytest.fixture(scope="module")
def pool(short_config):
    from render_service.pool import RenderPool

    with RenderPool(short_config) as pool:
        yield pool
