"""Throughput of the web, HTML-slide and python-pptx renderers (rows for benchmarks/render.py).

    PYTHONPATH=$PWD python benchmarks/render_web.py [--seconds 5] [--workers 1 2]

Rows, each measured in this run on the labeled cases (tests/render_service/cases):
  * reference: bare Playwright, one reused page, set_content + full-page screenshot;
  * WebRenderer/SlideHtmlRenderer per worker without probes (config.trace=False) and with them;
  * the same through RenderPool with N workers (one Chromium each);
  * PptxRenderer decks/s (sandboxed run + LibreOffice + detectors), and the LibreOffice
    conversion alone: warm (uno bridge, where python3-uno exists), cold one deck per start,
    cold with a batch of decks per start.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

from render_service.config import RenderConfig
from render_service.types import RenderRequest
from sdpo_jax.loop.rundir import machine

CASES = pathlib.Path(__file__).resolve().parents[1] / "tests" / "render_service" / "cases"


def _requests(domains: tuple[str, ...]) -> list[RenderRequest]:
    return [
        RenderRequest(id=p.stem, domain=d, code=json.loads(p.read_text())["code"])
        for d in domains
        for p in sorted((CASES / d).glob("*.json"))
    ]


def _rate(fn, items, seconds: float) -> float:
    fn(items[0])  # warm: browser launch, imports
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn(items[done % len(items)])
        done += 1
    return done / (time.perf_counter() - start)


def reference_pages_per_s(seconds: float) -> float:
    from playwright.sync_api import sync_playwright

    pages = [r.code for r in _requests(("web", "slide_html"))]
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=RenderConfig().chromium_path)
        page = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()

        def load(html):
            page.set_content(html)
            page.screenshot(full_page=True)

        rate = _rate(load, pages, seconds)
        browser.close()
    return rate


def renderer_rate(trace: bool, seconds: float) -> float:
    from render_service.renderers import RendererSet

    renderers = RendererSet(RenderConfig(trace=trace))
    try:
        return _rate(renderers.render, _requests(("web", "slide_html")), seconds)
    finally:
        renderers.close()


def pool_rate(workers: int, seconds: float) -> float:
    from render_service.pool import RenderPool

    requests = _requests(("web", "slide_html"))
    config = RenderConfig(workers=workers)
    with RenderPool(config, warm_domains=("web", "slide_html")) as pool:
        pool.render(requests)  # every worker has both renderers built and its browser open
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            pool.render(requests)
            done += len(requests)
        return done / (time.perf_counter() - start)


def pptx_rates(decks: int) -> dict[str, float]:
    from render_service.pptx.convert import SlideConverter
    from render_service.pptx.deck import build_deck
    from render_service.pptx.renderer import PptxRenderer
    from render_service.sandbox import run_sandboxed

    config = RenderConfig()
    requests = _requests(("slide_pptx",))[:decks]
    renderer = PptxRenderer(config)
    renderer.render(requests[0])
    start = time.perf_counter()
    for request in requests:
        renderer.render(request)
    rates = {
        "pptx renderer (sandbox+LibreOffice+detectors)": len(requests)
        / (time.perf_counter() - start)
    }
    renderer.close()

    blobs = [
        run_sandboxed(build_deck, r.code, limits=config.limits).value["pptx"] for r in requests
    ]
    for name, uno_python, batch in (
        ("LibreOffice warm (uno bridge), one deck per call", config.pptx_uno_python, 1),
        ("LibreOffice cold start, one deck per call", None, 1),
        (f"LibreOffice cold start, {decks} decks per call", None, decks),
    ):
        converter = SlideConverter(config.soffice_path, 120, 1280, uno_python)
        if uno_python and not converter.warm:
            continue
        converter.convert_many(blobs[:1])
        start = time.perf_counter()
        for first in range(0, len(blobs), batch):
            converter.convert_many(blobs[first : first + batch])
        rates[name] = len(blobs) / (time.perf_counter() - start)
        converter.close()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--decks", type=int, default=6)
    args = parser.parse_args()
    reference = reference_pages_per_s(args.seconds)
    rows = [("reference: Playwright set_content + screenshot", reference, "pages/s")]
    rows.append(
        ("web+slide_html renderer, no probes", renderer_rate(False, args.seconds), "pages/s")
    )
    rows.append(
        ("web+slide_html renderer, with probes", renderer_rate(True, args.seconds), "pages/s")
    )
    for workers in args.workers:
        rows.append(
            (
                f"RenderPool, {workers} worker(s), with probes",
                pool_rate(workers, args.seconds),
                "pages/s",
            )
        )
    rows += [(name, rate, "decks/s") for name, rate in pptx_rates(args.decks).items()]
    print(machine())
    print(f"{'row':<50} {'rate':>8} {'unit':<8} {'vs reference':>12}")
    for name, rate, unit in rows:
        ratio = f"{rate / reference:.2f}x" if unit == "pages/s" else ""
        print(f"{name:<50} {rate:>8.2f} {unit:<8} {ratio:>12}")


if __name__ == "__main__":
    main()
