"""One sandboxed run of a chart program that records everything ChartMimic scores.

ChartMimic re-runs the generated and gold programs once per metric, each time with matplotlib
patched differently. Here one run installs all the hooks, then renders through the chart
renderer's own `render_chart` (capture, draw, tracing, detectors), so the scoring record, the
image and the defects come from the same execution:

- texts: every string the Agg renderer draws (one entry per drawn line, as ChartMimic logs the
  backend's `draw_text`), minus tick labels and axis offset texts (ChartMimic removes the
  ticks before saving). Only each figure's last draw counts, so a program that draws its
  figure itself is not counted twice.
- layout: (nrows, ncols, row_start, row_end, col_start, col_end) of the subplotspec of every
  axes of every drawn figure (inclusive ends, as ChartMimic); axes without one are skipped.
- types: calls of Axes plotting methods by name, outermost only (hist's inner bar calls and
  pyplot's forwarding count once).
- colors: the set of (plotting method, colour) pairs over the artists each call added: a line's
  colour, a patch's face (its edge when unfilled), a collection's faces (edges when it has no
  faces), or "cmap:<name>" for colour-mapped collections and images.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import Counter

from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.cm import ScalarMappable
from matplotlib.collections import Collection
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text

from render_service.chart.renderer import ChartRenderer, ChartSettings, render_chart
from render_service.types import RenderRequest

PLOTTING_METHODS = (
    "plot",
    "loglog",
    "semilogx",
    "semilogy",
    "step",
    "scatter",
    "bar",
    "barh",
    "stackplot",
    "stem",
    "errorbar",
    "hist",
    "hist2d",
    "hexbin",
    "pie",
    "boxplot",
    "violinplot",
    "fill",
    "fill_between",
    "fill_betweenx",
    "axhline",
    "axvline",
    "axhspan",
    "axvspan",
    "hlines",
    "vlines",
    "arrow",
    "imshow",
    "matshow",
    "pcolor",
    "pcolormesh",
    "contour",
    "contourf",
    "quiver",
    "streamplot",
)


@dataclasses.dataclass
class ChartRecorder:
    """The hooks of one sandboxed run; `record()` is the picklable result."""

    calls: Counter = dataclasses.field(default_factory=Counter)
    colors: set = dataclasses.field(default_factory=set)
    texts: dict = dataclasses.field(default_factory=dict)  # figure -> strings of its last draw
    _depth: int = 0
    _drawing: list | None = None  # the strings of the figure being drawn
    _axis: Axis | None = None  # the axis being drawn
    _text: Text | None = None  # the text being drawn (one draw_text call per line)

    def install(self) -> None:
        for name in PLOTTING_METHODS:
            setattr(Axes, name, self._counting(getattr(Axes, name), name))
        recorder = self
        original_draw = Figure.draw
        original_text = RendererAgg.draw_text

        @functools.wraps(original_draw)
        def draw(fig, renderer):
            outer = recorder._drawing is None
            if outer:
                recorder._drawing = recorder.texts[fig] = []
            try:
                return original_draw(fig, renderer)
            finally:
                if outer:
                    recorder._drawing = None

        @functools.wraps(original_text)
        def draw_text(renderer, gc, x, y, s, prop, angle, ismath=False, mtext=None):
            axis = recorder._axis  # inside an axis only its label counts, not tick labels
            tick = axis is not None and recorder._text is not axis.label
            if recorder._drawing is not None and s.strip() and not tick:
                recorder._drawing.append(s)
            return original_text(renderer, gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)

        Figure.draw = draw
        Axis.draw = self._noting(Axis.draw, "_axis")
        Text.draw = self._noting(Text.draw, "_text")
        RendererAgg.draw_text = draw_text

    def _noting(self, draw, attribute: str):
        """Wrap `draw` to keep the artist being drawn in `attribute` while it draws."""
        recorder = self

        @functools.wraps(draw)
        def wrapper(artist, renderer):
            outer = getattr(recorder, attribute)
            setattr(recorder, attribute, artist)
            try:
                return draw(artist, renderer)
            finally:
                setattr(recorder, attribute, outer)

        return wrapper

    def _counting(self, method, name: str):
        recorder = self

        @functools.wraps(method)
        def wrapper(ax, *args, **kwargs):
            if recorder._depth:
                return method(ax, *args, **kwargs)
            before = {id(child) for child in ax.get_children()}
            recorder._depth += 1
            try:
                result = method(ax, *args, **kwargs)
            finally:
                recorder._depth -= 1
            recorder.calls[name] += 1
            for child in ax.get_children():
                if id(child) not in before:
                    recorder.colors.update((name, color) for color in artist_colors(child))
            return result

        return wrapper

    def record(self) -> dict:
        return {
            "texts": [s for strings in self.texts.values() for s in strings],
            "layout": [spec for fig in self.texts for spec in figure_layout(fig)],
            "types": dict(self.calls),
            "colors": sorted(self.colors),
        }


def artist_colors(artist) -> list[str]:
    """The colours ChartMimic compares for one drawn element ("#rrggbb" or "cmap:<name>")."""
    if isinstance(artist, AxesImage) or (
        isinstance(artist, ScalarMappable) and artist.get_array() is not None
    ):
        return [f"cmap:{artist.get_cmap().name}"]
    if isinstance(artist, Line2D):
        return [to_hex(artist.get_color())]
    if isinstance(artist, Patch):
        face = artist.get_facecolor()
        return [to_hex(face if face[3] > 0 else artist.get_edgecolor())]
    if isinstance(artist, Collection):
        colors = artist.get_facecolors()
        if not len(colors):
            colors = artist.get_edgecolors()
        return sorted({to_hex(color) for color in colors})
    return []


def figure_layout(fig: Figure) -> list[tuple[int, ...]]:
    layout = []
    for ax in fig.axes:
        spec = ax.get_subplotspec()
        if spec is None:
            continue
        rows, cols = spec.get_gridspec().get_geometry()
        layout.append(
            (
                rows,
                cols,
                spec.rowspan.start,
                spec.rowspan.stop - 1,
                spec.colspan.start,
                spec.colspan.stop - 1,
            )
        )
    return layout


def record_chart(scratch: str, code: str, settings: ChartSettings) -> dict:
    """In the sandboxed child: hooks first, then the chart renderer's own run and draw."""
    recorder = ChartRecorder()
    recorder.install()
    value = render_chart(scratch, code, settings)
    value["metrics"] = {"chartmimic": recorder.record()}
    return value


class ChartRecordRenderer(ChartRenderer):
    """The chart renderer; requests with `options={"record": True}` also carry the ChartMimic
    record in `RenderResult.metrics["chartmimic"]`, from the same single execution."""

    def child_function(self, request: RenderRequest):
        return record_chart if request.options.get("record") else render_chart
