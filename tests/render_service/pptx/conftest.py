"""One PptxRenderer (and so one LibreOffice profile) per test session; cases render once."""

import pytest

from render_service.config import RenderConfig
from render_service.pptx.renderer import PptxRenderer
from render_service.sandbox import SandboxLimits


@pytest.fixture(scope="session")
def pptx_renderer():
    renderer = PptxRenderer(RenderConfig())
    yield renderer
    renderer.close()


@pytest.fixture(scope="session")
def strict_pptx_renderer():
    """Hostile code: tight limits keep the suite fast."""
    limits = SandboxLimits(cpu_seconds=2, wall_seconds=4, memory_mb=512, output_bytes=16 * 1024)
    renderer = PptxRenderer(RenderConfig(limits=limits))
    yield renderer
    renderer.close()
