"""Fixtures for the metrics tests: one recording chart renderer for the session."""

import pytest

from render_service.config import RenderConfig


@pytest.fixture(scope="session")
def chart_recorder():
    from render_service.metrics.chart_record import ChartRecordRenderer

    renderer = ChartRecordRenderer(RenderConfig())
    yield renderer
    renderer.close()
