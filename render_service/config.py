"""RenderConfig: the render service's settings, one dataclass for the pool and the run config.

A run sets any field from the command line as `render.<field>=value` (`render.limits.<field>`
for the per-request limits); the web/pptx renderers' fields (Chromium, LibreOffice) come last.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from render_service.sandbox import SandboxLimits


@dataclasses.dataclass(frozen=True)
class RenderConfig:
    """Pool size and recycling, sandbox limits, and chart rendering settings."""

    workers: int = 0  # 0: one per CPU
    queue_size: int = 512  # pending requests before submit() blocks (back-pressure)
    recycle_after_requests: int = 500
    recycle_above_rss_mb: int = 1024
    # Extra seconds a worker gets beyond the sandbox wall limit before it is killed as hung.
    worker_grace_seconds: float = 10.0
    limits: SandboxLimits = dataclasses.field(default_factory=SandboxLimits)  # per request
    scratch_root: str | None = None
    # "bwrap": each worker runs in bubblewrap namespaces with a minimal read-only filesystem
    # (render_service/jail.py); "unsafe": plain processes, for hosts without user namespaces.
    sandbox: Literal["bwrap", "unsafe"] = "bwrap"
    scratch_mb: int = 512  # the jail's scratch tmpfs, shared by one worker's requests
    chart_dpi: int = 100
    chart_max_pixels: int = 4096 * 4096
    trace: bool = True  # element tracing and defect detection (off: plain render)
    # Web pages and HTML slides (render_service/web).
    chromium_path: str = "/usr/bin/chromium"
    web_viewport: tuple[int, int] = (1280, 720)  # also the HTML slide canvas
    web_max_page_height: int = 8192  # full-page screenshots are cut here
    web_javascript: bool = False  # requests may enable it with options={"javascript": True}
    web_page_timeout_seconds: float = 10.0
    web_max_html_bytes: int = 2_000_000
    web_max_dom_nodes: int = 20_000
    # Slides as python-pptx code (render_service/pptx).
    soffice_path: str = "soffice"
    # Within the pool's deadline (sandbox wall + worker grace) together with the code's run.
    pptx_convert_timeout_seconds: float = 10.0
    pptx_slide_width_px: int = 1280
    pptx_max_slides: int = 30
    # A Python with LibreOffice's `uno` keeps LibreOffice warm; without one, cold starts.
    pptx_uno_python: str | None = "/usr/bin/python3"

    def __post_init__(self):
        checks = {
            "workers": self.workers >= 0,
            "queue_size": self.queue_size > 0,
            "recycle_after_requests": self.recycle_after_requests > 0,
            "recycle_above_rss_mb": self.recycle_above_rss_mb > 0,
            "worker_grace_seconds": self.worker_grace_seconds > 0,
            "sandbox": self.sandbox in ("bwrap", "unsafe"),
            "scratch_mb": self.scratch_mb > 0,
            "chart_dpi": self.chart_dpi > 0,
            "chart_max_pixels": self.chart_max_pixels > 0,
            "web_viewport": min(self.web_viewport) > 0,
            "web_max_page_height": self.web_max_page_height >= self.web_viewport[1],
            "web_page_timeout_seconds": self.web_page_timeout_seconds > 0,
            "web_max_html_bytes": self.web_max_html_bytes > 0,
            "web_max_dom_nodes": self.web_max_dom_nodes > 0,
            "pptx_convert_timeout_seconds": self.pptx_convert_timeout_seconds > 0,
            "pptx_slide_width_px": self.pptx_slide_width_px > 0,
            "pptx_max_slides": self.pptx_max_slides > 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"RenderConfig.{name}={getattr(self, name)!r} is out of range")

    def max_image_pixels(self, domain: str) -> int:
        """The most pixels a render of `domain` can have: its canvas. A result's PNG is checked
        against it before anything decodes it."""
        width, height = self.web_viewport
        return {
            "chart": self.chart_max_pixels,  # all of a program's figures together
            "web": 2 * width * self.web_max_page_height,
            "slide_html": width * height,
            # Slides at most twice as tall as wide (pptx/renderer.py refuses taller ones).
            "slide_pptx": 2 * self.pptx_slide_width_px**2 * self.pptx_max_slides,
        }.get(domain, 0)
