"""ChartRenderer: matplotlib code in, PNG + traced elements + defects out.

Constructed once per pool worker (matplotlib imported and a figure drawn once, so fonts and
lazy imports are warm); each request runs in a sandboxed child forked from that worker. The
figure is drawn at the configured DPI whatever the code asked for, and refused before drawing
if it would exceed the pixel budget.
"""

from __future__ import annotations

import dataclasses
import importlib
import io
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

from render_service.chart.capture import FigureCapture
from render_service.chart.detectors import detect
from render_service.chart.scene import Placed, build_scene
from render_service.chart.tracing import Tracer, layout_lines, responsible_lines
from render_service.config import RenderConfig
from render_service.generated import GeneratedCodeError, error_report
from render_service.messages import MessageError, read_result
from render_service.sandbox import run_sandboxed
from render_service.types import RenderRequest, RenderResult

# Modules chart code commonly pulls in that the warm worker should hold already.
_WARM_IMPORTS = ("numpy.random", "mpl_toolkits.mplot3d", "matplotlib.dates")


@dataclasses.dataclass(frozen=True)
class ChartSettings:
    dpi: int
    max_pixels: int
    trace: bool


class ChartRenderer:
    """The chart domain's Renderer (see renderers.py)."""

    def __init__(self, config: RenderConfig):
        self.config = config
        self.settings = ChartSettings(config.chart_dpi, config.chart_max_pixels, config.trace)
        # Whatever a forked child would otherwise import or load again on every request.
        for name in _WARM_IMPORTS:
            importlib.import_module(name)
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, 1], label="warm")
        ax.set_title("warm $x^2$")
        ax.legend()
        fig.canvas.draw()
        encode_png(np.asarray(fig.canvas.buffer_rgba())[..., :3])
        plt.close("all")

    def child_function(self, request: RenderRequest):
        """What the sandboxed child runs for `request` (subclasses add recording)."""
        return render_chart

    def render(self, request: RenderRequest) -> RenderResult:
        settings = self.settings
        if "trace" in request.options:
            settings = dataclasses.replace(settings, trace=bool(request.options["trace"]))
        outcome = run_sandboxed(
            self.child_function(request),
            request.code,
            settings,
            limits=self.config.limits,
            scratch_root=self.config.scratch_root,
        )
        timings = {"sandbox": outcome.elapsed}
        if not outcome.ok:
            return RenderResult(id=request.id, ok=False, error=outcome.error, timings=timings)
        # The child's value is a claim, read like any message from a jail (messages.py). A
        # recording child may report a failure together with what it recorded.
        value = outcome.value if isinstance(outcome.value, dict) else {}
        fields = {"id": request.id, "ok": value.get("error") is None, **value}
        try:
            result = read_result(fields, request, self.config)
        except MessageError as err:
            return RenderResult(id=request.id, ok=False, error=f"Crash: {err}", timings=timings)
        result.timings.update(timings)
        return result

    def close(self) -> None:
        plt.close("all")


def render_chart(scratch: str, code: str, settings: dict) -> dict:
    """In the sandboxed child: run the code, draw its figures, trace and inspect them."""
    del scratch  # the cwd already; the code may write there
    return drawn_chart(code, ChartSettings(**settings))[0]


def drawn_chart(code: str, settings: ChartSettings):
    """(the result, the scene or None): the scene's figures stay drawn for a caller in the
    same child that looks at them again (the pixel oracle)."""
    start = time.perf_counter()
    plt.close("all")
    capture = FigureCapture()
    capture.install()
    tracer = Tracer()
    if settings.trace:
        tracer.install()
    capture.run(code)
    tracer.stop()
    figures = capture.figures()
    if not figures:
        raise GeneratedCodeError(
            "NoFigure: the code made no matplotlib figure (create one with plt.subplots())"
        )
    executed = time.perf_counter()
    placed, images = _draw(figures, settings, capture)
    drawn = time.perf_counter()
    width, height = max(i.shape[1] for i in images), sum(i.shape[0] for i in images)
    if width * height > settings.max_pixels:  # the image is checked against this budget
        raise GeneratedCodeError(
            f"FigureTooLarge: {len(figures)} figures stack to {width}x{height} px, over "
            f"{settings.max_pixels} pixels; draw fewer or smaller figures"
        )
    image = _stack(images)
    png = encode_png(image)
    encoded = time.perf_counter()
    result = dict(image_png=png, width=image.shape[1], height=image.shape[0])
    timings = {"execute": executed - start, "draw": drawn - executed, "encode": encoded - drawn}
    scene = None
    if settings.trace:
        warned = [(message, (line,) if line else ()) for message, line in capture.warnings]
        try:
            scene = build_scene(placed, warned, image)
            result.update(defects=tuple(detect(scene)), elements=scene.elements())
        except Exception as err:  # an artist the inspection does not know must not fail a render
            scene = None
            result["metrics"] = {"inspect_error": f"{type(err).__name__}: {err}"}
        timings["inspect"] = time.perf_counter() - encoded
    result["timings"] = timings
    return result, scene


def _draw(figures, settings: ChartSettings, capture: FigureCapture):
    placed, images, top = [], [], 0
    for fig in figures:
        fig.set_dpi(settings.dpi)
        width, height = (round(v) for v in fig.get_size_inches() * settings.dpi)
        if width * height > settings.max_pixels or min(width, height) < 1:
            where = responsible_lines(fig)
            hint = f" (figure made at line {where[0]})" if where else ""
            raise GeneratedCodeError(
                f"FigureTooLarge: {width}x{height} px at {settings.dpi} dpi is outside 1.."
                f"{settings.max_pixels} pixels{hint}; use a figsize like (8, 5)"
            )
        canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
        before = len(capture.warnings)
        try:
            canvas.draw()
        except Exception as err:  # bad mathtext, invalid colors met only at draw time
            report = error_report(err).split("\n", 1)
            report[0] += " (while drawing the figure)"
            raise GeneratedCodeError("\n".join(report)) from None
        fallback = layout_lines(fig)
        capture.warnings[before:] = [
            (message, line if line is not None else (fallback[-1] if fallback else None))
            for message, line in capture.warnings[before:]
        ]
        crop = capture.tight_crop(fig)
        if crop is None:
            rgba, origin = np.asarray(canvas.buffer_rgba()), (0.0, 0.0)
        else:
            rgba, origin = _tight_image(fig, canvas, crop, settings)
        placed.append(Placed(fig, top, rgba.shape[1], rgba.shape[0], origin))
        images.append(rgba)
        top += rgba.shape[0]
    return placed, images


def _tight_image(fig, canvas, crop: dict, settings: ChartSettings):
    """The figure as `savefig(bbox_inches="tight")` writes it, and where its corner lies."""
    extra = crop["bbox_extra_artists"]
    box = fig.get_tightbbox(canvas.get_renderer(), bbox_extra_artists=extra)
    box = box.padded(crop["pad_inches"])
    width, height = box.width * settings.dpi, box.height * settings.dpi
    if width * height > settings.max_pixels:
        raise GeneratedCodeError(
            f"FigureTooLarge: savefig(bbox_inches='tight') spans {width:.0f}x{height:.0f} px; "
            "some artist lies far outside the figure"
        )
    png = io.BytesIO()
    canvas.print_figure(png, format="png", dpi=settings.dpi, **crop)
    rgba = np.asarray(Image.open(png).convert("RGBA"))
    return rgba, (box.x0 * settings.dpi, box.y0 * settings.dpi)


def encode_png(rgb: np.ndarray) -> bytes:
    """Fast PNG (zlib level 1): the images are re-encoded for the model anyway."""
    png = io.BytesIO()
    Image.fromarray(rgb).save(png, format="PNG", compress_level=1)
    return png.getvalue()


def _stack(images: list[np.ndarray]) -> np.ndarray:
    """Figures one below the other on white, left-aligned; RGB (transparency over white)."""
    width = max(image.shape[1] for image in images)
    rows = []
    for image in images:
        rgb = image[..., :3]
        if (image[..., 3] < 255).any():
            alpha = image[..., 3:4].astype(np.float32) / 255
            rgb = (rgb * alpha + 255 * (1 - alpha)).round().astype(np.uint8)
        if image.shape[1] < width:
            pad = np.full((image.shape[0], width - image.shape[1], 3), 255, np.uint8)
            rgb = np.concatenate([rgb, pad], axis=1)
        rows.append(rgb)
    return np.ascontiguousarray(np.concatenate(rows, axis=0))
