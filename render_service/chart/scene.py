"""What a drawn chart contains, in pixels of the final image, with the lines that made it.

Built once after drawing; the detectors and the element map both read it. Coordinates are
converted from matplotlib's display space (origin bottom-left, per figure) to the image's
(origin top-left); several figures are stacked vertically, each at its own offset.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.container import BarContainer
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from render_service.chart import tracing
from render_service.types import BBox, Element

TEXT_ROLES = frozenset(
    {
        "suptitle",
        "text",
        "title",
        "xlabel",
        "ylabel",
        "xoffset",
        "yoffset",
        "tick_label",
        "annotation",
        "legend_text",
    }
)


@dataclasses.dataclass
class Item:
    artist: Any
    role: str
    bbox: BBox
    lines: tuple[int, ...]  # the lines to blame for how it looks
    trace: tuple[int, ...]  # made and last-changed lines (the element map)
    group: str = ""  # items laid out together: one axis's tick labels, one legend's texts
    axes: Axes | None = None
    figure: int = 0
    # A rotated text's own box (4 image-pixel corners); its `bbox` holds the rotated box's
    # axis-aligned hull, which meets a neighbour's long before the glyphs do.
    corners: np.ndarray | None = None

    @property
    def text(self) -> str:
        return self.artist.get_text() if hasattr(self.artist, "get_text") else ""


@dataclasses.dataclass
class Placed:
    """One figure and where its pixels start in the image."""

    figure: Figure
    top: int
    width: int
    height: int
    # Display pixels of the figure's lower-left corner in the image (non-zero for a tight crop).
    origin: tuple[float, float] = (0.0, 0.0)


@dataclasses.dataclass
class Scene:
    width: int
    height: int
    figures: list[Placed]
    texts: list[Item]
    axes: list[Item]
    legends: list[Item]
    data: list[Item]
    warnings: list[tuple[str, tuple[int, ...]]]
    pixels: np.ndarray  # the final RGB image, (height, width, 3) uint8

    def to_pixels(self, figure: int, extent) -> BBox:
        (x0, y1), (x1, y0) = self.points_to_pixels(
            figure, [[extent.x0, extent.y0], [extent.x1, extent.y1]]
        )
        return (float(x0), float(y0), float(x1), float(y1))

    def points_to_pixels(self, figure: int, display) -> np.ndarray:
        """Matplotlib display points (origin bottom-left of the figure) to image pixels."""
        placed = self.figures[figure]
        points = np.asarray(display, dtype=float).reshape(-1, 2)
        x = points[:, 0] - placed.origin[0]
        y = placed.top + placed.height - (points[:, 1] - placed.origin[1])
        return np.column_stack([x, y])

    def elements(self) -> tuple[Element, ...]:
        items = self.texts + self.axes + self.legends + self.data
        return tuple(
            Element(
                id=f"{item.role}:{index}", role=item.role, bbox=item.bbox, source_lines=item.trace
            )
            for index, item in enumerate(items)
        )


def build_scene(placed: list[Placed], warnings, pixels: np.ndarray) -> Scene:
    scene = Scene(
        width=max((p.width for p in placed), default=0),
        height=sum(p.height for p in placed),
        figures=placed,
        texts=[],
        axes=[],
        legends=[],
        data=[],
        warnings=warnings,
        pixels=pixels,
    )
    for index, place in enumerate(placed):
        _collect_figure(scene, index, place.figure)
    return scene


def _collect_figure(scene: Scene, index: int, fig: Figure) -> None:
    renderer = fig.canvas.get_renderer()

    def add(bucket, artist, role, lines=None, group="", axes=None):
        if not artist.get_visible():
            return
        if role in TEXT_ROLES and not artist.get_text().strip():
            return
        extent = artist.get_window_extent(renderer)
        if not np.all(np.isfinite([extent.x0, extent.y0, extent.x1, extent.y1])):
            extent = _offsets_extent(artist)  # scatter plots report no extent of their own
            if extent is None:
                return
        blame = tracing.responsible_lines(artist) if lines is None else lines
        trace = lines if role == "tick_label" else (tracing.lines_of(artist) or blame)
        bbox = scene.to_pixels(index, extent)
        corners = _rotated_corners(artist, renderer, bbox) if role in TEXT_ROLES else None
        bucket.append(Item(artist, role, bbox, blame, trace, group, axes, index, corners))

    suptitles = [getattr(fig, n, None) for n in ("_suptitle", "_supxlabel", "_supylabel")]
    for text in suptitles:
        if text is not None:
            add(scene.texts, text, "suptitle")
    for text in fig.texts:
        if not any(text is s for s in suptitles):  # fig.texts holds the suptitles too
            add(scene.texts, text, "text")
    for legend in fig.legends:
        _collect_legend(scene, add, legend, None)
    for number, ax in enumerate(fig.axes):
        if not ax.get_visible():
            continue
        role = "colorbar" if hasattr(ax, "_colorbar") else "axes"
        add(scene.axes, ax, role, axes=ax)
        tag = f"{index}.{number}"
        for title in (ax.title, ax._left_title, ax._right_title):
            add(scene.texts, title, "title", axes=ax)
        # 3D axes place their tick labels in their own draw; the 2D positions are not theirs.
        planar = ax.name != "3d"
        for axis, name in ((ax.xaxis, "x"), (ax.yaxis, "y")):
            if not (planar and axis.get_visible()):
                continue
            add(scene.texts, axis.label, f"{name}label", axes=ax)
            add(scene.texts, axis.get_offset_text(), f"{name}offset", axes=ax)
            for label in _drawn_tick_labels(axis):
                lines = tracing.tick_label_lines(label, axis)
                add(scene.texts, label, "tick_label", lines, f"{name}tick:{tag}", ax)
        for text in ax.texts:
            add(scene.texts, text, "annotation" if hasattr(text, "xy") else "text", axes=ax)
        if ax.get_legend() is not None:
            _collect_legend(scene, add, ax.get_legend(), ax)
        # Bars (bar, barh, hist) are data marks; other patches are areas and decorations.
        bars = {id(p) for c in ax.containers if isinstance(c, BarContainer) for p in c}
        for artist in [*ax.lines, *ax.collections, *ax.patches, *ax.images]:
            role = "bar" if id(artist) in bars else type(artist).__name__.lower()
            add(scene.data, artist, role, axes=ax)


def _collect_legend(scene: Scene, add, legend, ax) -> None:
    group = f"legend:{id(legend)}"
    lines = tracing.responsible_lines(legend)
    add(scene.legends, legend, "legend", lines, group, ax)
    for text in [*legend.get_texts(), legend.get_title()]:
        add(scene.texts, text, "legend_text", tracing.lines_of(text) or lines, group, ax)


def _rotated_corners(text, renderer, hull: BBox) -> np.ndarray | None:
    """The corners of a text's box turned by its rotation, about the hull's centre (the hull of
    a turned rectangle is centred on it); None when the text is not turned."""
    angle = text.get_rotation() % 90
    if min(angle, 90 - angle) < 1:
        return None
    turned = text.get_rotation()
    text.set_rotation(0)
    upright = text.get_window_extent(renderer)
    text.set_rotation(turned)
    half = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * [upright.width / 2, upright.height / 2]
    theta = np.deg2rad(turned)  # counter-clockwise on screen, so clockwise with y pointing down
    rotation = np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]])
    centre = np.array([(hull[0] + hull[2]) / 2, (hull[1] + hull[3]) / 2])
    return centre + half @ rotation.T


def _offsets_extent(artist):
    if not hasattr(artist, "get_offsets") or len(artist.get_offsets()) == 0:
        return None
    points = artist.get_offset_transform().transform(artist.get_offsets())
    points = points[np.all(np.isfinite(points), axis=1)]
    return Bbox([points.min(axis=0), points.max(axis=0)]) if len(points) else None


def _drawn_tick_labels(axis):
    """Tick labels matplotlib actually draws. Ticks outside the view keep stale labels and
    positions, so ask the axis which ticks it draws (the same private call its draw uses)."""
    for tick in axis._update_ticks():
        for label in (tick.label1, tick.label2):
            if label.get_visible() and label.get_text().strip():
                yield label
