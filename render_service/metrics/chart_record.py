"""One sandboxed run of a chart program that records everything ChartMimic scores.

ChartMimic re-runs the generated and gold programs once per metric, each time with matplotlib
patched differently. Here one run installs all the hooks, then renders through the chart
renderer's own `render_chart` (capture, draw, tracing, detectors), so the scoring record, the
image and the defects come from the same execution. The record follows ChartMimic's
definitions:

- texts: every string the Agg renderer draws in the figure ChartMimic saves (the last one
  drawn), one entry per drawn line, as ChartMimic logs the backend's `draw_text`; tick labels
  and axis offset texts excluded (ChartMimic removes the ticks before saving).
- layout: (nrows, ncols, row_start, row_end, col_start, col_end) of the subplotspec of every
  axes of that figure (inclusive ends); axes without one are skipped.
- types: calls of ChartMimic's hooked plotting entry points (`TYPE_HOOKS`), outermost only, so
  `step`, `loglog` and `semilog*` count as `plot` and `stackplot` as its `fill_between` calls.
  A plot on polar axes is `plot_polar`.
- colors: the set of (group, colour) pairs ChartMimic logs. Groups are the internal functions
  it hooks (`COLOR_HOOKS`): every line (plot, step, semilog*, the errorbar data line) comes
  from one line maker, `barh` goes through `bar`, `fill_between(x)` share one. Colours are read
  at the end, from the artists each outermost call returned; a scatter gives its first face
  colour, or its colormap when `cmap=` is passed; images and contours give their colormap.

ChartMimic runs the program inside `try/except: pass` and saves the current figure anyway, so
a program that raises after drawing is scored on what it drew (`record_chart`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections import Counter

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.axes._base import _process_plot_var_args
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.image import NonUniformImage
from matplotlib.patches import Circle, Ellipse, PathPatch
from matplotlib.projections.polar import PolarAxes
from matplotlib.text import Text
from mpl_toolkits.mplot3d import Axes3D

from render_service.chart.renderer import ChartRenderer, ChartSettings, render_chart
from render_service.generated import GeneratedCodeError
from render_service.types import RenderRequest

# ChartMimic's chart-type hooks: (class, method, type name).
TYPE_HOOKS = (
    *(
        (Axes, name, name)
        for name in (
            "bar", "barh", "plot", "axhline", "axvline", "axvspan", "axhspan", "hlines",
            "vlines", "errorbar", "boxplot", "violinplot", "violin", "hist", "fill_between",
            "fill_betweenx", "scatter", "quiver", "pie", "fill", "imshow", "pcolor", "contour",
            "contourf", "broken_barh", "tripcolor",
        )
    ),
    *(
        (Axes3D, name, f"3d_{name}")
        for name in ("scatter", "plot", "plot_surface", "bar3d", "bar", "add_collection3d")
    ),
    (NonUniformImage, "__init__", "NonUniformImage"),
    # Circle and Ellipse share one hooked function (patches.py's __init__), so one type.
    (Ellipse, "__init__", "ellipse"),
    (Circle, "__init__", "ellipse"),
)  # fmt: skip


def _line(line) -> list[str]:
    return [to_hex(line.get_color())]


def _face(patch) -> list[str]:
    return [to_hex(patch.get_facecolor())]


def _original_face(patch) -> list[str]:
    return [to_hex(patch._original_facecolor)]


def _first_face(collection) -> list[str]:
    faces = collection.get_facecolor()
    return [to_hex(faces[0])] if len(faces) else []


def _all_faces(collection) -> list[str]:
    return [to_hex(color) for color in collection.get_facecolors()]


def _all_edges(collection) -> list[str]:
    return [to_hex(color) for color in collection.get_edgecolors()]


def _cmap(mappable) -> list[str]:
    return [f"cmap:{mappable.get_cmap().name}"]


def _named_cmap(kwargs):
    """The colormap passed as `cmap=`, if any: ChartMimic logs it instead of the colours."""
    cmap = kwargs.get("cmap")
    if cmap is None:
        return None
    name = cmap if isinstance(cmap, str) else cmap.name
    return lambda _: [f"cmap:{name}"]


def _patches(result):
    """hist's patches: one container (single data set) or a list of containers."""
    for item in result:
        if isinstance(item, list | tuple) or hasattr(item, "patches"):
            yield from item
        else:
            yield item


# ChartMimic's colour hooks: (class, method, group, artists) where `artists(result, receiver,
# kwargs)` gives (artist, reader) pairs and the reader gives the artist's colours at the end.
COLOR_HOOKS = (
    (_process_plot_var_args, "_make_line", "line", lambda r, s, k: [(r[0], _line)]),
    (Axes, "axhline", "axhline", lambda r, s, k: [(r, _line)]),
    (Axes, "axvline", "axvline", lambda r, s, k: [(r, _line)]),
    (Axes, "_fill_between_x_or_y", "fill_between", lambda r, s, k: [(r, _first_face)]),
    (Axes, "bar", "bar", lambda r, s, k: [(p, _original_face) for p in r]),
    (Axes, "scatter", "scatter", lambda r, s, k: [(r, _named_cmap(k) or _first_face)]),
    (Axes, "pie", "pie", lambda r, s, k: [(w, _face) for w in r[0]]),
    (Axes, "axvspan", "axvspan", lambda r, s, k: [(r, _face)]),
    (Axes, "axhspan", "axhspan", lambda r, s, k: [(r, _face)]),
    (Axes, "hlines", "hlines", lambda r, s, k: [(r, _all_edges)]),
    (Axes, "vlines", "vlines", lambda r, s, k: [(r, _all_edges)]),
    (
        Axes,
        "boxplot",
        "boxplot",
        lambda r, s, k: [(b, _face) for b in r["boxes"] if type(b) is PathPatch],
    ),
    (Axes, "violinplot", "violinplot", lambda r, s, k: [(b, _first_face) for b in r["bodies"]]),
    (Axes, "hist", "hist", lambda r, s, k: [(p, _face) for p in _patches(r[2])]),
    (Axes, "quiver", "quiver", lambda r, s, k: [(r, _all_faces)]),
    (PolarAxes, "plot", "plot_polar", lambda r, s, k: [(line, _line) for line in r]),
    *(
        (Axes, name, name, lambda r, s, k: [(r, _cmap)])
        for name in ("imshow", "pcolor", "contour", "contourf", "tripcolor")
    ),
    (Axes, "fill", "fill", lambda r, s, k: [(p, _face) for p in r]),
    (NonUniformImage, "__init__", "NonUniformImage", lambda r, s, k: [(s, _cmap)]),
    (Axes, "broken_barh", "broken_barh", lambda r, s, k: [(r, _all_faces)]),
    (Ellipse, "__init__", "ellipse", lambda r, s, k: [(s, _face)]),
    (Circle, "__init__", "ellipse", lambda r, s, k: [(s, _face)]),
    (Axes3D, "scatter", "3d_scatter", lambda r, s, k: [(r, _named_cmap(k) or _all_faces)]),
    (Axes3D, "plot", "3d_plot", lambda r, s, k: [(line, _line) for line in r]),
    (
        Axes3D,
        "plot_surface",
        "3d_plot_surface",
        lambda r, s, k: [(r, _named_cmap(k) or _first_face)],
    ),
    (Axes3D, "bar3d", "3d_bar3d", lambda r, s, k: [(r, _first_face)]),
    (Axes3D, "bar", "3d_bar", lambda r, s, k: [(p, _face) for p in r]),
    (Axes3D, "add_collection3d", "3d_add_collection3d", lambda r, s, k: [(r, _all_faces)]),
)

# Colour hooks on these classes log only receivers of exactly that class, as ChartMimic's type
# checks (a subclass's polar plot logs nothing, and neither do the lines inside it).
_EXACT_OWNERS = (PolarAxes, NonUniformImage, Ellipse, Circle)


@dataclasses.dataclass
class ChartRecorder:
    """The hooks of one sandboxed run; `record()` is the picklable result."""

    calls: Counter = dataclasses.field(default_factory=Counter)
    # (group, first colour) -> (artist, reader): ChartMimic keeps the last artist per key and
    # reads its colours again at the end.
    drawn: dict = dataclasses.field(default_factory=dict)
    texts: dict = dataclasses.field(default_factory=dict)  # figure -> strings of its last draw
    _in_type: bool = False  # inside an outermost type-hooked call
    _in_color: bool = False  # inside an outermost colour-hooked call
    _drawing: list | None = None  # the strings of the figure being drawn
    _axis: Axis | None = None  # the axis being drawn
    _text: Text | None = None  # the text being drawn (one draw_text call per line)

    def install(self) -> None:
        for owner, method, name in TYPE_HOOKS:
            setattr(owner, method, self._typing(getattr(owner, method), name))
        for owner, method, group, artists in COLOR_HOOKS:
            setattr(owner, method, self._coloring(getattr(owner, method), owner, group, artists))
        recorder = self
        original_draw = Figure.draw
        original_text = RendererAgg.draw_text

        @functools.wraps(original_draw)
        def draw(fig, renderer):
            outer = recorder._drawing is None
            if outer:
                recorder.texts.pop(fig, None)  # the last figure drawn is the last key
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

    def _typing(self, method, name: str):
        recorder = self

        @functools.wraps(method)
        def wrapper(receiver, *args, **kwargs):
            if recorder._in_type:
                return method(receiver, *args, **kwargs)
            polar = name == "plot" and type(receiver) is PolarAxes
            recorder.calls[f"{name}_polar" if polar else name] += 1  # counted before it runs
            recorder._in_type = True
            try:
                return method(receiver, *args, **kwargs)
            finally:
                recorder._in_type = False

        return wrapper

    def _coloring(self, method, owner, group: str, artists):
        recorder = self

        @functools.wraps(method)
        def wrapper(receiver, *args, **kwargs):
            if recorder._in_color:
                return method(receiver, *args, **kwargs)
            recorder._in_color = True  # even when nothing is logged, as ChartMimic's flag
            try:
                result = method(receiver, *args, **kwargs)
            finally:
                recorder._in_color = False
            if owner in _EXACT_OWNERS and type(receiver) is not owner:
                return result
            name = f"{group}_polar" if group == "scatter" and type(receiver) is PolarAxes else group
            for artist, reader in artists(result, receiver, kwargs):
                colors = reader(artist)
                if colors:
                    recorder.drawn[(name, colors[-1])] = (artist, reader)
            return result

        return wrapper

    def draw_current_figure(self, settings: ChartSettings) -> None:
        """What ChartMimic's final savefig draws after the program raised: the current figure.

        A figure over the pixel budget, or one that fails to draw, leaves nothing, as the
        failed savefig does there (its logs are never written)."""
        fig = plt.gcf()
        width, height = fig.get_size_inches() * settings.dpi
        try:
            if width * height > settings.max_pixels:
                raise ValueError("figure too large")
            fig.set_dpi(settings.dpi)
            canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else None
            (canvas or FigureCanvasAgg(fig)).draw()
        except Exception:
            self.calls.clear()
            self.drawn.clear()
            self.texts.clear()

    def record(self) -> dict:
        saved = list(self.texts)[-1] if self.texts else None
        colors = {
            (group, color)
            for (group, _), (artist, reader) in self.drawn.items()
            for color in reader(artist)
        }
        return {
            "texts": list(self.texts[saved]) if saved is not None else [],
            "layout": figure_layout(saved) if saved is not None else [],
            "types": dict(self.calls),
            "colors": sorted(colors),
        }


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


def record_chart(scratch: str, code: str, settings: dict) -> dict:
    """In the sandboxed child: hooks first, then the chart renderer's own run and draw.

    A program that fails keeps its error (it still did not execute) and carries the record
    of what it drew before failing, which ChartMimic scores."""
    recorder = ChartRecorder()
    recorder.install()
    try:
        value = render_chart(scratch, code, settings)
    except GeneratedCodeError as err:
        recorder.draw_current_figure(ChartSettings(**settings))
        return {"error": str(err), "timings": {}, "metrics": {"chartmimic": recorder.record()}}
    value["metrics"] = {"chartmimic": recorder.record()}
    return value


class ChartRecordRenderer(ChartRenderer):
    """The chart renderer; requests with `options={"record": True}` also carry the ChartMimic
    record in `RenderResult.metrics["chartmimic"]`, from the same single execution."""

    def child_function(self, request: RenderRequest):
        return record_chart if request.options.get("record") else render_chart
