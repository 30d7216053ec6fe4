"""One Chromium for the whole web test session: renderers share the worker's browser."""

import pytest

from render_service.config import RenderConfig
from render_service.web.renderer import SlideHtmlRenderer, WebRenderer


@pytest.fixture(scope="session")
def web_renderer():
    renderer = WebRenderer(RenderConfig())
    yield renderer
    renderer.close()


@pytest.fixture(scope="session")
def slide_renderer():
    renderer = SlideHtmlRenderer(RenderConfig())
    yield renderer
    renderer.close()


@pytest.fixture(scope="session")
def quick_timeout_renderer():
    """Hostile pages: a short time limit keeps the suite fast."""
    renderer = WebRenderer(RenderConfig(web_page_timeout_seconds=2.0))
    yield renderer
    renderer.close()
