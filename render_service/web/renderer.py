"""WebRenderer (`domain="web"`) and SlideHtmlRenderer (`domain="slide_html"`, 1280x720).

One request: tag the HTML's start tags with their index, load it into the worker's Chromium
tab, screenshot, run the probe, let the detectors decide, and trace each finding's elements
and deciding CSS declarations to lines. Slides also get the aesthetic measures.
"""

from __future__ import annotations

import base64
import functools
import importlib.resources
import io
import time

import numpy as np
from PIL import Image

from render_service.config import RenderConfig
from render_service.sandbox import run_sandboxed
from render_service.types import Defect, Element, RenderRequest, RenderResult
from render_service.web import detectors
from render_service.web.aesthetics import slide_metrics
from render_service.web.browser import Browser, PageError
from render_service.web.layout import Layout
from render_service.web.pseudo import pseudo_text
from render_service.web.tagging import TAG_ATTR, TagLines, tag_html
from render_service.web.tracing import CssTracer


def _tag(scratch: str, html: str) -> tuple[str, list[TagLines]]:
    del scratch  # parsing writes nothing
    return tag_html(html)


PROBE = importlib.resources.files("render_service.web").joinpath("probe.js").read_text()
_COUNT_NODES = "() => document.getElementsByTagName('*').length"
_PAGE_SIZE = "() => [document.documentElement.scrollWidth, document.documentElement.scrollHeight]"


class _TooLarge(Exception):
    pass


class WebRenderer:
    """A web page: full-page screenshot (height capped); only the viewport width is fixed."""

    slide = False

    def __init__(self, config: RenderConfig):
        self.config = config
        self.canvas = config.web_viewport
        # A missing browser answers every request with how to install it; the worker lives on.
        self.browser, self.missing = None, None
        try:
            self.browser = Browser.shared(
                config.chromium_path, config.web_viewport, config.web_page_timeout_seconds
            )
        except FileNotFoundError as err:
            self.missing = str(err)

    def render(self, request: RenderRequest) -> RenderResult:
        start = time.perf_counter()
        if self.browser is None:
            return self._error(request, self.missing)
        size = len(request.code.encode("utf-8", "surrogatepass"))
        if size > self.config.web_max_html_bytes:
            return self._error(
                request,
                f"HTML is {size:,} bytes, over the {self.config.web_max_html_bytes:,}-byte limit "
                "(RenderConfig.web_max_html_bytes); send a smaller page",
            )
        # Parsing untrusted HTML is work the page controls (nested unclosed tags take quadratic
        # time): it runs in a sandboxed child, under the request's limits.
        outcome = run_sandboxed(
            _tag, request.code, limits=self.config.limits, scratch_root=self.config.scratch_root
        )
        if not outcome.ok:
            return self._error(request, f"the HTML could not be parsed: {outcome.error}")
        try:  # plain data from the child: the page's text, and three line numbers per tag
            tagged, tags = outcome.value
            tags = [
                TagLines(**{k: int(tag[k]) for k in ("tag", "content", "style_attr")})
                for tag in tags
            ]
        except (TypeError, ValueError, KeyError) as err:
            return self._error(request, f"the HTML could not be parsed: {err!r}")
        javascript = bool(request.options.get("javascript", self.config.web_javascript))
        timings: dict[str, float] = {}
        try:
            with self.browser.page(tagged, javascript=javascript) as page:
                timings["load"] = time.perf_counter() - start
                nodes = self.browser.evaluate(page, _COUNT_NODES)
                if nodes > self.config.web_max_dom_nodes:
                    raise _TooLarge(
                        f"page has {nodes:,} elements, over the {self.config.web_max_dom_nodes:,} "
                        "limit (RenderConfig.web_max_dom_nodes); send a smaller page"
                    )
                png, width, height = self.screenshot(page)
                timings["screenshot"] = time.perf_counter() - start - timings["load"]
                layout, defects = None, ()
                if self.config.trace:
                    mark = time.perf_counter()
                    layout = self.measure(page, len(tags), png)
                    findings = self.detect(layout)
                    defects = self._trace(page, tags, layout, findings) if findings else ()
                    timings["probe"] = time.perf_counter() - mark
        except (PageError, _TooLarge) as err:
            return self._error(request, str(err))
        metrics = {}
        if self.slide and layout is not None:
            metrics = slide_metrics(layout, self.canvas)
        timings["total"] = time.perf_counter() - start
        return RenderResult(
            id=request.id,
            ok=True,
            image_png=png,
            width=width,
            height=height,
            defects=tuple(sorted(defects, key=lambda d: -d.severity)),
            elements=self._elements(layout, tags) if layout is not None else (),
            timings=timings,
            metrics=metrics,
        )

    def screenshot(self, page) -> tuple[bytes, int, int]:
        viewport_w, viewport_h = self.canvas
        if self.slide:
            width, height = viewport_w, viewport_h
        else:
            page_w, page_h = self.browser.evaluate(page, _PAGE_SIZE)
            width = min(max(page_w, viewport_w), 2 * viewport_w)
            height = min(max(page_h, viewport_h), self.config.web_max_page_height)
        # DevTools directly: Playwright's screenshot adds round trips and a slower PNG encoder.
        cdp, _ = self.browser.devtools(page)
        shot = cdp.send(
            "Page.captureScreenshot",
            {
                "format": "png",
                "optimizeForSpeed": True,
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
            },
        )
        return base64.b64decode(shot["data"]), width, height

    def measure(self, page, tag_count: int, png: bytes) -> Layout:
        """The probe's facts about the page in the tab, whose `tag_count` start tags are
        tagged, with its screenshot `png`."""
        cdp, _ = self.browser.devtools(page)
        found = self.browser.evaluate(
            page, PROBE, {"attr": TAG_ATTR, "first": tag_count, "pseudo": pseudo_text(cdp)}
        )
        pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
        return Layout(found, pixels, (0.0, 0.0, *map(float, self.canvas)) if self.slide else None)

    def detect(self, layout: Layout) -> list[detectors.Finding]:
        width, _ = self.canvas
        return [
            *detectors.clipped_content(layout),
            *detectors.page_overflow(layout, width),
            *detectors.off_canvas(
                layout, (0.0, 0.0, float(width), float("inf")), whole_canvas=False
            ),
            *detectors.text_overlaps(layout),
            *detectors.overprinted_lines(layout),
            *detectors.low_contrast(layout),
            *detectors.misalignment(layout),
        ]

    def _trace(self, page, tags: list[TagLines], layout: Layout, findings) -> list[Defect]:
        tracer = CssTracer(
            functools.partial(self.browser.evaluate, page), *self.browser.devtools(page), tags
        )
        defects = []
        for finding in findings:
            declared = set()
            for index, properties in finding.causes:
                pseudo = layout.elements[index].get("pseudo")
                if pseudo is not None:  # its text is made by the rule's `content`
                    host = layout.tag_of(index)
                    declared.update(tracer.lines(host, ("content", *properties), pseudo))
                elif properties:  # an element named only as a party: no declaration to look up
                    declared.update(tracer.lines(index, properties))
            if finding.needs_author_css and not declared:
                continue
            elements = {tags[layout.tag_of(index)].tag for index, _ in finding.causes}
            defects.append(
                Defect(
                    kind=finding.kind,
                    severity=round(float(finding.severity), 4),
                    bbox=finding.bbox,
                    message=finding.message,
                    source_lines=tuple(sorted(elements | declared)),
                )
            )
        return defects

    @staticmethod
    def _elements(layout: Layout, tags: list[TagLines]) -> tuple[Element, ...]:
        return tuple(
            Element(
                id=str(e["i"]),
                role=e["tag"],
                bbox=box,
                source_lines=(tags[layout.tag_of(e["i"])].tag,),
            )
            for e in layout.snapshot["elements"]
            if (box := layout.extent(e)) is not None
        )

    @staticmethod
    def _error(request: RenderRequest, message: str) -> RenderResult:
        return RenderResult(id=request.id, ok=False, error=message)

    def close(self) -> None:
        if self.browser is not None:
            self.browser.close()


class SlideHtmlRenderer(WebRenderer):
    """One 1280x720 HTML slide: the canvas is the image, and everything outside it is lost."""

    slide = True

    def detect(self, layout: Layout) -> list[detectors.Finding]:
        width, height = self.canvas
        return [
            *detectors.clipped_content(layout),
            *detectors.off_canvas(
                layout, (0.0, 0.0, float(width), float(height)), whole_canvas=True
            ),
            *detectors.text_overlaps(layout),
            *detectors.overprinted_lines(layout),
            *detectors.low_contrast(layout),
            *detectors.misalignment(layout),
        ]
