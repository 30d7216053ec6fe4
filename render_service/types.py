"""The types the trainer and the render service exchange; the single source for both sides.

Plain frozen dataclasses of built-in values, so they pickle cheaply across process boundaries
and carry no dependency on JAX or on any renderer.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Literal

Domain = Literal["chart", "web", "slide_html", "slide_pptx"]
DOMAINS: tuple[str, ...] = typing.get_args(Domain)

DefectKind = Literal[
    "text_overlap",
    "clipped_text",
    "overflow",
    "off_canvas",
    "low_contrast",
    "misalignment",
    "legend_occlusion",
    "text_overflow",
    "layout_warning",
]
DEFECT_KINDS: tuple[str, ...] = typing.get_args(DefectKind)

# (x0, y0, x1, y1) in pixels of the rendered image, origin top-left.
BBox = tuple[float, float, float, float]


@dataclasses.dataclass(frozen=True)
class RenderRequest:
    """One program to render. `target` is an optional PNG the result may be compared with."""

    id: str
    domain: Domain
    code: str
    target: bytes | None = None
    options: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.domain not in DOMAINS:
            raise ValueError(f"RenderRequest.domain={self.domain!r}: allowed values are {DOMAINS}")


@dataclasses.dataclass(frozen=True)
class Defect:
    """A visible problem: `message` is one sentence a teacher can act on; `source_lines` are
    1-based lines of the submitted code that caused it."""

    kind: DefectKind
    severity: float
    bbox: BBox | None
    message: str
    source_lines: tuple[int, ...] = ()

    def __post_init__(self):
        if self.kind not in DEFECT_KINDS:
            raise ValueError(f"Defect.kind={self.kind!r}: allowed values are {DEFECT_KINDS}")


@dataclasses.dataclass(frozen=True)
class Element:
    """Something the renderer drew and the lines of code that made and last changed it."""

    id: str
    role: str
    bbox: BBox | None
    source_lines: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True)
class RenderResult:
    """Exactly one per request, whatever the code did. `ok=False` carries `error`: the cleaned
    traceback, or the reason (timeout, memory, crash)."""

    id: str
    ok: bool
    error: str | None = None
    image_png: bytes | None = None
    width: int = 0
    height: int = 0
    defects: tuple[Defect, ...] = ()
    elements: tuple[Element, ...] = ()
    timings: dict[str, float] = dataclasses.field(default_factory=dict)
    # Domain-specific numbers (slide aesthetics, metric records); empty when none apply.
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    # True when the image, defects and metrics were measured by a process the program never
    # controlled; False where they are the program's own report (set by the pool from the
    # domain, see renderers.VERIFIED_DOMAINS; never read from a worker's answer).
    verified: bool = False

    @property
    def clean(self) -> bool:
        """A render with nothing to fix: the code ran, drew an image and shows no defect."""
        return self.ok and self.image_png is not None and not self.defects
