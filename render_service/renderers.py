"""The Renderer protocol and the registry of renderers by domain.

Entries are "module:Class" strings imported lazily inside a pool worker, so the client side
never imports matplotlib or a browser. Each class is constructed once per worker as
`Class(config)`: that instance is the per-domain warm state (imports done, browser page open).
"""

from __future__ import annotations

import importlib
from typing import Protocol

from render_service.config import RenderConfig
from render_service.types import RenderRequest, RenderResult

# Domains whose renderers drive Chromium. The pool serves them from workers of their own, each in
# its own jail, so model-written Python (charts, python-pptx) never shares a process, or a pid
# namespace, with a browser and its driver connection.
BROWSER_DOMAINS = frozenset({"web", "slide_html"})

# Domains whose results are measured outside the process that ran the program: pages and HTML
# slides in Chromium (the page's scripts cannot reach the probe's isolated world), python-pptx
# decks from the saved file by a second child. Chart code is measured in its own process, so a
# chart's defects and ChartMimic record are its claims (docs/render_service.md, threat model).
VERIFIED_DOMAINS = frozenset({"web", "slide_html", "slide_pptx"})

RENDERERS: dict[str, str] = {
    "chart": "render_service.chart.renderer:ChartRenderer",
    "web": "render_service.web.renderer:WebRenderer",
    "slide_html": "render_service.web.renderer:SlideHtmlRenderer",
    "slide_pptx": "render_service.pptx.renderer:PptxRenderer",
}


def family(domain: str) -> str:
    """The kind of worker that serves `domain`: "browser" or "python"."""
    return "browser" if domain in BROWSER_DOMAINS else "python"


def no_renderer(request: RenderRequest, registry: dict[str, str]) -> RenderResult:
    return RenderResult(
        id=request.id,
        ok=False,
        error=f"NoRenderer: domain {request.domain!r} has no renderer (have {sorted(registry)})",
    )


class Renderer(Protocol):
    def render(self, request: RenderRequest) -> RenderResult: ...

    def close(self) -> None: ...


class RendererSet:
    """The renderers one worker has built so far; unknown domains answer with an error."""

    def __init__(self, config: RenderConfig, registry: dict[str, str] | None = None):
        self._config = config
        self._registry = RENDERERS if registry is None else registry
        self._built: dict[str, Renderer] = {}

    def render(self, request: RenderRequest) -> RenderResult:
        renderer = self._built.get(request.domain)
        if renderer is None:
            if request.domain not in self._registry:
                return no_renderer(request, self._registry)
            renderer = self._built[request.domain] = load(self._registry[request.domain])(
                self._config
            )
        return renderer.render(request)

    def warm(self, domains) -> None:
        for domain in domains:
            if domain in self._registry and domain not in self._built:
                self._built[domain] = load(self._registry[domain])(self._config)

    def close(self) -> None:
        for renderer in self._built.values():
            renderer.close()
        self._built.clear()


def load(entry: str) -> type:
    """Import "module:Class"."""
    module, _, name = entry.partition(":")
    return getattr(importlib.import_module(module), name)
