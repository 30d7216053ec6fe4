"""PptxRenderer (`domain="slide_pptx"`): python-pptx code -> sandboxed deck -> LibreOffice render.

The code runs in the sandbox (a child forked from the worker's zygote, limits, no network, its
own scratch) with shape tracing on; that child returns the saved .pptx bytes and the lines that
set each shape's aspects. Once it is gone, a second sandboxed child, which never ran the code,
reads the saved file and describes every shape (deck.describe_deck). The worker renders the file
(PDF, then one PNG per slide), stacks the slides into one image top to bottom, and runs the
detectors on the description: what the code claimed about its deck counts for nothing but blame.
"""

from __future__ import annotations

import dataclasses
import io
import time

from PIL import Image

from render_service.config import RenderConfig
from render_service.pptx import detectors
from render_service.pptx.convert import ConversionError, SlideConverter
from render_service.pptx.deck import build_deck, describe_deck
from render_service.sandbox import run_sandboxed
from render_service.types import Defect, Element, RenderRequest, RenderResult


class PptxRenderer:
    def __init__(self, config: RenderConfig):
        self.config = config
        self.converter, self.missing = None, None
        try:
            self.converter = SlideConverter(
                config.soffice_path,
                config.pptx_convert_timeout_seconds,
                config.pptx_slide_width_px,
                config.pptx_uno_python,
            )
        except FileNotFoundError as err:
            self.missing = str(err)

    def render(self, request: RenderRequest) -> RenderResult:
        start = time.perf_counter()
        if self.converter is None:
            return RenderResult(id=request.id, ok=False, error=self.missing)
        sandbox = {"limits": self.config.limits, "scratch_root": self.config.scratch_root}
        outcome = run_sandboxed(build_deck, request.code, **sandbox)
        timings = {"execute": outcome.elapsed}
        saved = outcome.value if outcome.ok and isinstance(outcome.value, dict) else {}
        if outcome.ok and not (isinstance(saved.get("pptx"), bytes) and "record" in saved):
            outcome = dataclasses.replace(outcome, ok=False, error="Crash: no deck came back")
        if not outcome.ok:
            return RenderResult(id=request.id, ok=False, error=outcome.error, timings=timings)
        described = run_sandboxed(
            describe_deck, saved["pptx"], saved["record"], self.config.pptx_max_slides, **sandbox
        )
        timings["describe"] = described.elapsed
        if not described.ok:
            return RenderResult(id=request.id, ok=False, error=described.error, timings=timings)
        deck = described.value
        mark = time.perf_counter()
        try:
            (pages,) = self.converter.convert_many([saved["pptx"]])
        except ConversionError as err:
            return RenderResult(id=request.id, ok=False, error=str(err), timings=timings)
        timings["convert"] = time.perf_counter() - mark
        images = [Image.open(io.BytesIO(page)).convert("RGB") for page in pages]
        if not images:
            return RenderResult(id=request.id, ok=False, error="LibreOffice drew no slides")
        width, slide_h = images[0].size
        sheet = Image.new("RGB", (width, slide_h * len(images)), "white")
        for index, image in enumerate(images):
            sheet.paste(image, (0, index * slide_h))
        png = io.BytesIO()
        sheet.save(png, format="PNG")

        scale = width / deck["width"]
        defects, elements = [], []
        for index, slide in enumerate(deck["slides"]):
            shapes = slide["shapes"]
            found = self.detect(slide, deck["width"], deck["height"])
            offset = index * slide_h
            defects += [
                dataclasses.replace(
                    d, severity=round(float(d.severity), 4), bbox=_to_px(d.bbox, scale, offset)
                )
                for d in found
            ]
            elements += [
                Element(
                    id=f"{index + 1}:{shape['id']}",
                    role=shape["kind"],
                    bbox=_to_px(shape["box"], scale, offset) if shape["box"] else None,
                    source_lines=tuple(
                        sorted({ln for lines in shape["lines"].values() for ln in lines})
                    ),
                )
                for shape in shapes
            ]
        timings["total"] = time.perf_counter() - start
        return RenderResult(
            id=request.id,
            ok=True,
            image_png=png.getvalue(),
            width=sheet.width,
            height=sheet.height,
            defects=tuple(sorted(defects, key=lambda d: -d.severity)),
            elements=tuple(elements),
            timings=timings,
            metrics={"slides": len(images)},
        )

    @staticmethod
    def detect(slide, width: int, height: int) -> list[Defect]:
        """Defects of one described slide, boxes in its EMU."""
        shapes = slide["shapes"]
        return [
            *detectors.off_slide(shapes, width, height),
            *detectors.overlaps(shapes),
            *detectors.text_overflow(shapes),
            *detectors.low_contrast(shapes, slide["background"], slide["background_lines"]),
        ]

    def close(self) -> None:
        if self.converter is not None:
            self.converter.close()


def _to_px(box, scale: float, offset: int) -> tuple[float, float, float, float]:
    """An EMU box on one slide -> pixels of the stacked sheet (slides top to bottom)."""
    return box[0] * scale, box[1] * scale + offset, box[2] * scale, box[3] * scale + offset
