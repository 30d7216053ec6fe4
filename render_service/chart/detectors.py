"""Chart defect detectors: each reads the drawn Scene and returns Defects with blamed lines.

Thresholds are stated once, below, each with its reason; none is fitted to test cases.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from statistics import median

import numpy as np
from matplotlib.collections import Collection, LineCollection, PathCollection, PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.path import Path as MplPath

from render_service import geometry
from render_service.chart import tracing
from render_service.chart.scene import Item, Scene
from render_service.contrast import contrast_ratio, crop, edge, over
from render_service.types import BBox, Defect

# Texts that matplotlib positions from their axes: they move when the axes are placed.
AXES_TEXT_ROLES = frozenset({"title", "xlabel", "ylabel", "tick_label", "xoffset", "yoffset"})
# Text boxes include glyph padding, so boxes that meet along a sliver this thin only touch.
TOUCH_PX = 1.0
# WCAG 2.x asks 4.5:1 for body text and 3:1 for large text and graphics. Chart labels are short
# and read like graphics, and 4.5:1 would fail matplotlib's own black pie percentages on its
# default red (4.4:1), so 3:1 is the minimum for all chart text.
TEXT_CONTRAST = 3.0
# For marks WCAG asks 3:1, which matplotlib's own default palette fails (C8 is 2.0:1 on
# white); below 1.25:1 a mark is hard to see at all (yellow on white is 1.07:1).
MARK_CONTRAST = 1.25
# Edges that share a grid line may differ by pixel snapping, not more.
ALIGN_PX = 2.0
# Panels of one row or column whose edges are this close (share of the figure) were meant to
# line up: a few hundredths off is a slip of the hand; a deliberate offset (a side panel
# centred on its neighbour) is larger.
NEAR_ALIGN_SHARE = 0.05
# The least hidden data worth reporting: one marker, 5 px of line, a 5x5 px piece of a bar.
HIDDEN_LINE_PX, HIDDEN_MARKERS, HIDDEN_AREA_PX = 5.0, 1, 25.0
# Filled areas and patches under a legend are measured on a grid this fine (px).
AREA_GRID_PX = 2.0
# A text whose box reaches this far into another axes' plot area collides with it (a glyph's
# box has about this much padding around the ink).
INTO_AXES_PX = 3.0
# Data drawn with clip_on=False may sit on the plot's edge (markers on a spine); past this
# share of its samples outside the plot area it runs out of it.
UNCLIPPED_SHARE = 0.05
# A mark drawn on the plot's edge pokes past it by its radius: a default scatter marker (6 pt)
# is about 4 px at 100 dpi, so only outlines farther out than this are outside.
UNCLIPPED_REACH_PX = 5.0
# Texts whose boxes add up to more than this share of their figure are too many for it: the
# figure is too small. Readable charts stay under a fifth (labels, ticks, titles, legend).
CRAMPED_SHARE = 0.3
# Defects a too-small figure causes among its texts: the figure's size is to blame as well.
CRAMPED_KINDS = frozenset({"text_overlap", "clipped_text"})


def detect(scene: Scene) -> list[Defect]:
    # A container past the edge is one defect: the texts it carries along are not reported.
    spilled = {
        id(item.artist) for item in [*scene.axes, *scene.legends] if _outside_share(scene, item)
    }
    found = [
        *text_overlap(scene),
        *text_into_axes(scene),
        *clipped_text(scene, spilled),
        *overflow(scene),
        *unclipped_data(scene),
        *legend_occlusion(scene),
        *low_contrast(scene),
        *misalignment(scene),
        *layout_warnings(scene),
    ]
    small = _small_figures(scene)
    return [_plain(_blame_small_figure(scene, small, defect)) for defect in found]


def _small_figures(scene: Scene) -> dict[int, tuple[int, ...]]:
    """Figures too small for their texts, by index, with the lines that sized them."""
    text: dict[int, float] = defaultdict(float)
    for item in scene.texts:
        text[item.figure] += geometry.area(item.bbox)
    return {
        index: tracing.responsible_lines(placed.figure)
        for index, placed in enumerate(scene.figures)
        if text[index] > CRAMPED_SHARE * placed.width * placed.height
    }


def _blame_small_figure(scene: Scene, small: dict, defect: Defect) -> Defect:
    """Texts that collide or are cut off in a figure too small for them: the line that sized
    the figure is responsible too, and named."""
    if defect.kind not in CRAMPED_KINDS or defect.bbox is None:
        return defect
    middle = (defect.bbox[1] + defect.bbox[3]) / 2
    for index, placed in enumerate(scene.figures):
        if index in small and placed.top <= middle < placed.top + placed.height:
            sized = small[index]
            message = f"{defect.message}; figure too small for its text{_at(sized, 'sized')}"
            lines = _merge(sized, defect.source_lines)
            return dataclasses.replace(defect, message=message, source_lines=lines)
    return defect


def _plain(defect: Defect) -> Defect:
    """Built-in numbers only (numpy scalars are not allowed out of the sandbox)."""
    box = None if defect.bbox is None else tuple(float(v) for v in defect.bbox)
    lines = tuple(int(line) for line in defect.source_lines)
    return Defect(defect.kind, float(defect.severity), box, defect.message, lines)


# --- text overlap -----------------------------------------------------------------------------


def text_overlap(scene: Scene) -> list[Defect]:
    """Crowded tick labels (one defect per axis) and any two other texts that overlap."""
    defects = []
    ticks: dict[str, list[Item]] = defaultdict(list)
    for item in scene.texts:
        if item.role == "tick_label":
            ticks[item.group].append(item)
    for group, labels in ticks.items():
        hit = {i for i, j in _overlapping_pairs(labels) for i in (i, j)}
        if hit:
            crowded = [labels[i] for i in sorted(hit)]
            defects.append(
                Defect(
                    "text_overlap",
                    len(hit) / len(labels),
                    geometry.union(c.bbox for c in crowded),
                    f"{group[0]} tick labels overlap ({len(hit)} of {len(labels)})"
                    + _at(_lines(crowded)),
                    _lines(crowded),
                )
            )
    # Other overlaps, gathered by where the texts come from: 40 bar labels from one call are
    # one defect, not 39.
    clusters: dict[tuple, list[tuple[Item, Item]]] = defaultdict(list)
    texts = scene.texts
    for i, j in _overlapping_pairs(texts):
        a, b = texts[i], texts[j]
        if a.group and a.group == b.group:
            continue  # laid out together by matplotlib (one axis's ticks, one legend)
        clusters[tuple(sorted((_source(a), _source(b)), key=repr))].append((a, b))
    for pairs in clusters.values():
        a, b = pairs[0]
        involved = list({id(t): t for pair in pairs for t in pair}.values())
        lines = _lines(involved)
        shares = [
            geometry.area(geometry.intersection(p.bbox, q.bbox))
            / max(min(geometry.area(p.bbox), geometry.area(q.bbox)), 1)
            for p, q in pairs
        ]
        what = f"{_describe(a)} overlaps {_describe(b)}"
        if len(pairs) > 1:
            what = f"{len(involved)} texts overlap in {len(pairs)} places ({what})"
        defects.append(
            Defect(
                "text_overlap",
                min(1.0, max(shares)),
                geometry.union(geometry.intersection(p.bbox, q.bbox) for p, q in pairs),
                what + _at(lines),
                lines,
            )
        )
    return defects


def text_into_axes(scene: Scene) -> list[Defect]:
    """Texts of one axes running into another axes' plot area: panels placed too close, so the
    upper panel's tick labels vanish under the lower one, whose title sits on the upper plot.
    Axes that overlap each other (insets) carry their texts over the other by design; twin axes
    draw no face."""
    hosts = [
        item
        for item in scene.axes
        if item.artist.name == "rectilinear" and item.artist.patch.get_visible()
    ]
    # Per text source: the texts that run in (by id) and the axes they run into (by id).
    hits: dict[tuple, tuple[dict, dict]] = defaultdict(lambda: ({}, {}))
    for text in scene.texts:
        if text.axes is None or text.role == "legend_text":
            continue
        own_box = _axes_box(scene, text)
        for host in hosts:
            if (
                host.figure != text.figure
                or geometry.area(geometry.intersection(host.bbox, own_box)) > 0
            ):
                continue  # the text's own axes, or one stacked on it
            inside = geometry.intersection(geometry.shrink(text.bbox, INTO_AXES_PX), host.bbox)
            if inside[2] > inside[0] and inside[3] > inside[1]:
                texts, into = hits[_source(text)]
                texts[id(text)], into[id(host)] = text, host
    defects = []
    for found, into in hits.values():
        texts, hosts_hit = list(found.values()), list(into.values())
        lines = _merge(_lines(texts), _lines(hosts_hit))
        pairs = [(t, geometry.intersection(t.bbox, h.bbox)) for t in texts for h in hosts_hit]
        worst = max(geometry.area(box) / max(geometry.area(t.bbox), 1) for t, box in pairs)
        if len(texts) == 1:
            what = f"{_describe(texts[0])} runs"
        elif texts[0].role == "tick_label":
            what = f"{len(texts)} {texts[0].group[:1]} tick labels run"
        else:
            what = f"{len(texts)} texts run"
        defects.append(
            Defect(
                "text_overlap",
                min(1.0, worst),
                geometry.union(box for _, box in pairs if geometry.area(box) > 0),
                f"{what} into another axes' plot" + _at(lines),
                lines,
            )
        )
    return defects


def _source(item: Item) -> tuple:
    """Texts laid out together, or made by the same lines in the same role."""
    return (item.group,) if item.group else (item.role, item.lines)


def _overlapping_pairs(items: list[Item]):
    boxes = np.array([item.bbox for item in items], dtype=float).reshape(-1, 4)
    if len(boxes) < 2:
        return []
    width = np.minimum(boxes[:, None, 2], boxes[None, :, 2]) - np.maximum(
        boxes[:, None, 0], boxes[None, :, 0]
    )
    height = np.minimum(boxes[:, None, 3], boxes[None, :, 3]) - np.maximum(
        boxes[:, None, 1], boxes[None, :, 1]
    )
    hits = np.triu((width > TOUCH_PX) & (height > TOUCH_PX), k=1)
    pairs = zip(*np.nonzero(hits))
    return [(i, j) for i, j in pairs if _turned_boxes_meet(items[i], items[j])]


def _turned_boxes_meet(a: Item, b: Item) -> bool:
    """Whether texts whose hulls meet also meet as turned boxes (True if neither is turned)."""
    if a.corners is None and b.corners is None:
        return True
    return geometry.overlap_depth(_corners(a), _corners(b)) > TOUCH_PX


def _corners(item: Item) -> np.ndarray:
    if item.corners is not None:
        return item.corners
    x0, y0, x1, y1 = item.bbox
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float)


# --- clipping, overflow, off canvas ---------------------------------------------------------


def clipped_text(scene: Scene, spilled: set[int]) -> list[Defect]:
    """Text partly outside its figure (clipped_text) or wholly outside (off_canvas); one defect
    per text, or per axis for tick labels. Texts riding on a spilled container are skipped."""
    found: dict[tuple, list[tuple[Item, float]]] = defaultdict(list)
    for item in scene.texts:
        if _carried_by(item, spilled):
            continue
        share = _outside_share(scene, item)
        if share:
            kind = "off_canvas" if share >= 1 else "clipped_text"
            key = (kind, item.group) if item.role == "tick_label" else (kind, id(item))
            found[key].append((item, share))
    defects = []
    for (kind, _), hits in found.items():
        items = [item for item, _ in hits]
        share = max(share for _, share in hits)
        lines = _merge(*(_text_blame(item) for item in items))
        if items[0].role == "tick_label":
            name = f"{items[0].group[0]} tick labels ({len(items)})"
        else:
            name = _describe(items[0])
        where = (
            "outside the figure"
            if kind == "off_canvas"
            else f"cut off at the {_edges(scene, items[0])}"
        )
        defects.append(
            Defect(
                kind,
                share,
                geometry.union(item.bbox for item in items),
                f"{name} {'are' if len(items) > 1 else 'is'} {where} ({share:.0%} outside)"
                + _at(lines),
                lines,
            )
        )
    return defects


def _carried_by(item: Item, spilled: set[int]) -> bool:
    if item.role == "legend_text":
        return any(item.group == f"legend:{legend}" for legend in spilled)
    return item.role in AXES_TEXT_ROLES and item.axes is not None and id(item.axes) in spilled


def _text_blame(item: Item) -> tuple[int, ...]:
    """A text's own lines, and for axes decorations the call that last placed the axes."""
    if item.role in AXES_TEXT_ROLES and item.axes is not None:
        return _merge(item.lines, tracing.placed_lines(item.axes))
    return item.lines


def overflow(scene: Scene) -> list[Defect]:
    """Axes, colorbars and legends reaching past the figure edge, or placed wholly off it."""
    defects = []
    for item in [*scene.axes, *scene.legends]:
        share = _outside_share(scene, item)
        if share:
            kind = "off_canvas" if share >= 1 else "overflow"
            where = "outside the figure" if share >= 1 else f"past the {_edges(scene, item)}"
            defects.append(
                Defect(
                    kind,
                    share,
                    item.bbox,
                    f"{item.role} reaches {where} ({share:.0%} outside)" + _at(item.lines),
                    item.lines,
                )
            )
    return defects


def _outside_share(scene: Scene, item: Item) -> float:
    """Share of the item's box outside its figure, ignoring slivers thinner than TOUCH_PX."""
    x0, y0, x1, y1 = _figure_box(scene, item)
    bx0, by0, bx1, by1 = item.bbox
    if max(x0 - bx0, y0 - by0, bx1 - x1, by1 - y1) <= TOUCH_PX:
        return 0.0
    inside = geometry.area(geometry.intersection(item.bbox, (x0, y0, x1, y1)))
    return 1.0 - inside / max(geometry.area(item.bbox), 1e-9)


def _figure_box(scene: Scene, item: Item) -> BBox:
    placed = scene.figures[item.figure]
    return (0.0, float(placed.top), float(placed.width), float(placed.top + placed.height))


def _edges(scene: Scene, item: Item) -> str:
    x0, y0, x1, y1 = _figure_box(scene, item)
    bx0, by0, bx1, by1 = item.bbox
    sides = [
        name
        for name, past in (
            ("left", x0 - bx0),
            ("top", y0 - by0),
            ("right", bx1 - x1),
            ("bottom", by1 - y1),
        )
        if past > TOUCH_PX
    ]
    return " and ".join(sides) + (" edges" if len(sides) > 1 else " edge")


def unclipped_data(scene: Scene) -> list[Defect]:
    """Data drawn with clip_on=False that runs out of its plot area: over the titles, past the
    figure's edge. Matplotlib clips data to its axes unless told not to, so the limits (or the
    data) are wrong for what is drawn. Lines and bars are sampled along their length; patches,
    filled areas and scatter marks along their outlines, at their drawn size, and only when
    placed in data coordinates (a patch placed in axes coordinates outside is a decoration)."""
    defects = []
    for data in scene.data:
        if data.artist.get_clip_on() or data.axes is None or hasattr(data.axes, "_colorbar"):
            continue
        samples = _samples(scene, data)
        if not len(samples):
            continue
        box = geometry.shrink(_axes_box(scene, data), -UNCLIPPED_REACH_PX)
        outside = 1.0 - float(np.mean(_inside(samples, box)))
        if outside > UNCLIPPED_SHARE:
            lines = _merge(data.lines, tracing.limit_lines(data.axes))
            defects.append(
                Defect(
                    "overflow",
                    outside,
                    data.bbox,
                    f"{_label(data)} runs out of its plot area ({outside:.0%} of it; drawn "
                    f"with clip_on=False)" + _at(lines),
                    lines,
                )
            )
    return defects


def _samples(scene: Scene, data: Item) -> np.ndarray:
    """Image points along a line, around each scatter mark, along a bar's or a patch's or a
    filled area's outline; none for other artists (matplotlib draws some decorations unclipped
    on purpose: colorbar dividers)."""
    artist = data.artist
    if isinstance(artist, Line2D):
        points = _to_image(scene, data, artist.get_transform().transform(artist.get_xydata()))
        points = points[np.all(np.isfinite(points), axis=1)]
        drawn = artist.get_linestyle() not in ("None", "", " ", "none")
        return _densify(points) if drawn and len(points) > 1 else points
    if isinstance(artist, PathCollection):
        return _marks_outline(scene, data)
    if data.role == "bar":
        x0, y0, x1, y1 = data.bbox
        return _densify(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]))
    if _in_data_coordinates(data) and isinstance(artist, Patch | PolyCollection):
        return np.concatenate([_densify(ring) for ring in _outlines(scene, data)] or [[]])
    return np.empty((0, 2))


def _in_data_coordinates(data: Item) -> bool:
    return data.artist.get_transform().contains_branch(data.axes.transData)


def _outlines(scene: Scene, data: Item) -> list[np.ndarray]:
    """A patch's or a filled area's outlines as closed image-pixel polygons."""
    artist = data.artist
    paths = [artist.get_path()] if isinstance(artist, Patch) else artist.get_paths()
    transform = artist.get_transform()
    rings = [ring for path in paths for ring in path.to_polygons(transform, closed_only=False)]
    return [_to_image(scene, data, ring) for ring in rings if len(ring) > 1]


def _marks_outline(scene: Scene, data: Item) -> np.ndarray:
    """Eight points around each scatter mark at its drawn radius (sizes are areas in pt²)."""
    artist = data.artist
    centres = _to_image(scene, data, artist.get_offset_transform().transform(artist.get_offsets()))
    dpi = scene.figures[data.figure].figure.dpi
    sizes = np.broadcast_to(np.asarray(artist.get_sizes(), dtype=float), (len(centres),))
    radii = np.sqrt(sizes) / 2 * dpi / 72
    angles = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    ring = np.column_stack([np.cos(angles), np.sin(angles)])
    points = (centres[:, None, :] + radii[:, None, None] * ring[None]).reshape(-1, 2)
    return points[np.all(np.isfinite(points), axis=1)]


# --- legend covering data -------------------------------------------------------------------


def legend_occlusion(scene: Scene) -> list[Defect]:
    """A legend box drawn over data marks of its figure (each mark clipped to its own axes)."""
    defects = []
    for legend in scene.legends:
        box = geometry.shrink(legend.bbox, TOUCH_PX)
        worst, hidden_labels, summary = 0.0, [], ""
        for data in scene.data:
            if data.figure != legend.figure:
                continue  # any axes' data counts: a twin's lines hide under the legend too
            share, amount = _hidden(scene, data, box)
            if amount:
                worst = max(worst, share)
                hidden_labels.append(_label(data))
                summary = summary or amount
        if hidden_labels:
            names = ", ".join(dict.fromkeys(hidden_labels))
            defects.append(
                Defect(
                    "legend_occlusion",
                    worst,
                    legend.bbox,
                    f"legend covers data ({names}: {summary})" + _at(legend.lines, "placed"),
                    legend.lines,
                )
            )
    return defects


def _hidden(scene: Scene, data: Item, box: BBox) -> tuple[float, str]:
    """(share of the artist hidden, a short amount) for data under `box`; amount '' if none."""
    artist = data.artist
    axes_box = _axes_box(scene, data)
    if isinstance(artist, Line2D):
        points = _to_image(scene, data, artist.get_transform().transform(artist.get_xydata()))
        points = points[np.all(np.isfinite(points), axis=1)]
        parts = []
        if artist.get_linestyle() not in ("None", "", " ", "none") and len(points) > 1:
            samples = _densify(points)
            visible = _inside(samples, axes_box)
            hidden = int(np.sum(visible & _inside(samples, box)))
            if hidden >= HIDDEN_LINE_PX:
                parts.append((hidden / max(int(visible.sum()), 1), f"{hidden} px of line"))
        if artist.get_marker() not in (None, "None", "", " ", "none"):
            hidden = int(np.sum(_inside(points, box) & _inside(points, axes_box)))
            if hidden >= HIDDEN_MARKERS:
                parts.append((hidden / max(len(points), 1), f"{hidden} markers"))
        return max(parts) if parts else (0.0, "")
    if isinstance(artist, PathCollection):
        offsets = artist.get_offset_transform().transform(artist.get_offsets())
        points = _to_image(scene, data, offsets)
        hidden = int(np.sum(_inside(points, box) & _inside(points, axes_box)))
        if hidden >= HIDDEN_MARKERS:
            return hidden / max(len(points), 1), f"{hidden} points"
        return 0.0, ""
    if data.role == "bar":
        covered = geometry.area(
            geometry.intersection(geometry.intersection(data.bbox, axes_box), box)
        )
        if covered >= HIDDEN_AREA_PX:
            return covered / max(geometry.area(data.bbox), 1), f"{covered:.0f} px² of {_kind(data)}"
    elif isinstance(artist, Patch | PolyCollection) and _in_data_coordinates(data):
        covered = _area_under(_outlines(scene, data), geometry.intersection(box, axes_box))
        if covered >= HIDDEN_AREA_PX:
            whole = _area_under(_outlines(scene, data), axes_box)
            return covered / max(whole, 1), f"{covered:.0f} px² of {_kind(data)}"
    return 0.0, ""


def _area_under(rings: list[np.ndarray], box: BBox) -> float:
    """Pixels of `box` inside any of the polygons, counted on a 2 px grid."""
    if box[2] - box[0] < AREA_GRID_PX or box[3] - box[1] < AREA_GRID_PX:
        return 0.0
    xs = np.arange(box[0] + AREA_GRID_PX / 2, box[2], AREA_GRID_PX)
    ys = np.arange(box[1] + AREA_GRID_PX / 2, box[3], AREA_GRID_PX)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    inside = np.zeros(len(grid), dtype=bool)
    for ring in rings:
        inside |= MplPath(ring).contains_points(grid)
    return float(inside.sum()) * AREA_GRID_PX**2


def _densify(points: np.ndarray) -> np.ndarray:
    """Points about one pixel apart along a polyline."""
    steps = np.maximum(np.ceil(np.hypot(*np.diff(points, axis=0).T)).astype(int), 1)
    steps = np.minimum(steps, 4096)
    pieces = [
        a + (b - a) * np.linspace(0, 1, n, endpoint=False)[:, None]
        for a, b, n in zip(points[:-1], points[1:], steps)
    ]
    return np.concatenate([*pieces, points[-1:]])


# --- contrast ------------------------------------------------------------------------------


def low_contrast(scene: Scene) -> list[Defect]:
    """Text below WCAG's text minimum against the pixels behind it; marks below MARK_CONTRAST
    against their axes face."""
    defects = []
    groups: dict[tuple, list[tuple[Item, float, float]]] = defaultdict(list)
    for item in scene.texts:
        behind = _behind_text(scene, item)
        if behind is None:
            continue
        ratio = contrast_ratio(_rgba(item.artist.get_color(), item.artist.get_alpha()), behind)
        if ratio < TEXT_CONTRAST:
            groups[_source(item)].append((item, ratio, TEXT_CONTRAST))
    for found in groups.values():
        worst, ratio, needed = min(found, key=lambda f: f[1] / f[2])
        items = [item for item, _, _ in found]
        figures = f"{ratio:.1f}:1, needs {needed:g}:1"
        if worst.role == "tick_label":
            what = f"{worst.group[0]} tick labels have low contrast ({figures})"
        elif len(items) > 1:
            what = f"{len(items)} texts have low contrast (worst {_describe(worst)}: {figures})"
        else:
            what = f"{_describe(worst)} has low contrast ({figures})"
        lines = _merge(*(_color_blame(item) for item in items))
        defects.append(
            Defect(
                "low_contrast",
                1 - ratio / needed,
                geometry.union(i.bbox for i in items),
                what + _at(lines),
                lines,
            )
        )
    marks: dict[tuple, list[tuple[Item, float]]] = defaultdict(list)
    for item in scene.data:
        colors = _mark_colors(item.artist, item.role)
        if not colors or item.axes is None:
            continue
        background = _axes_background(item.axes)
        ratio = max(contrast_ratio(color, background) for color in colors)
        if ratio < MARK_CONTRAST:
            marks[(id(item.axes), tuple(np.round(colors[0], 3)))].append((item, ratio))
    for found in marks.values():
        items = [item for item, _ in found]
        ratio = min(r for _, r in found)
        lines = _merge(*(_color_blame(item) for item in items))
        defects.append(
            Defect(
                "low_contrast",
                1 - ratio / MARK_CONTRAST,
                geometry.union(i.bbox for i in items),
                f"{_label(items[0])} barely differs from the background "
                f"({ratio:.2f}:1)" + _at(lines),
                lines,
            )
        )
    return defects


def _color_blame(item: Item) -> tuple[int, ...]:
    """The call that set the item's colour (tick labels: their axis's styling calls), and any
    call that recoloured the face it is drawn on."""
    own = item.lines if item.role == "tick_label" else tracing.color_lines(item.artist)
    inside = item.role not in AXES_TEXT_ROLES  # titles and tick labels sit on the figure
    behind = tracing.background_lines(item.axes, inside) if item.axes is not None else ()
    return _merge(own, behind)


def _rgba(color, alpha=None) -> tuple:
    return to_rgba(color, alpha) if alpha is not None else to_rgba(color)


def _axes_background(ax) -> tuple:
    """What marks are drawn on: the axes face over the figure face, over white."""
    fig = ax.get_figure(root=True)
    behind = over(_rgba(fig.get_facecolor()), (1.0, 1.0, 1.0))  # composited on white
    return over(_rgba(ax.patch.get_facecolor()), behind) if ax.patch.get_visible() else behind


def _behind_text(scene: Scene, item: Item) -> tuple | None:
    """The colour behind a text as drawn: the median of its box's edge pixels, where glyphs
    rarely reach. Whatever lies behind (axes, legend frame, text box, image cell) counts."""
    box = crop(scene.pixels, item.bbox)
    if box is None:
        return None  # off the image: reported as off_canvas, nothing to compare
    return tuple(np.median(edge(box), axis=0) / 255.0)


def _mark_colors(artist, role: str) -> list[tuple]:
    """The colours a data mark (line, scatter, filled area, bar) shows itself with; none when
    it is not checked (several colours, an outlined bar)."""
    if isinstance(artist, Line2D):
        return [_rgba(artist.get_color(), artist.get_alpha())]
    if isinstance(artist, Collection) and not isinstance(artist, LineCollection):
        faces = {tuple(c) for c in artist.get_facecolors()}
        edges = {tuple(c) for c in artist.get_edgecolors()}
        drawn = len(edges) == 1 and max(artist.get_linewidths(), default=0) > 0
        if len(faces) != 1:
            return []
        return [*faces, *(edges if drawn else ())]
    if isinstance(artist, Patch) and role == "bar":
        if artist.get_linewidth() > 0 and artist.get_edgecolor()[3] > 0:
            return []  # an outlined patch stands out by its edge
        return [tuple(artist.get_facecolor())]
    return []


# --- alignment -----------------------------------------------------------------------------


def misalignment(scene: Scene) -> list[Defect]:
    """Grid cells whose shared edges differ, and panels placed by hand whose edges nearly line
    up with a row or column neighbour's."""
    panels = _panels(scene)
    return [*_grid_misalignment(panels), *_near_misses(scene, panels)]


def _panels(scene: Scene) -> list[Item]:
    """Framed, free-aspect axes that show their edges; insets and twins left out (a twin shares
    its host's box: one of them is kept)."""
    axes = [
        item
        for item in scene.axes
        if item.role == "axes" and item.artist.get_aspect() == "auto" and item.artist.axison
    ]
    kept = []
    for a in axes:
        if any(b.bbox == a.bbox for b in kept):
            continue
        if not any(b.bbox != a.bbox and geometry.contains(b.bbox, a.bbox) for b in axes):
            kept.append(a)
    return kept


def _grid_misalignment(axes: list[Item]) -> list[Defect]:
    defects = []
    edges: dict[tuple, list[tuple[Item, float]]] = defaultdict(list)
    for item in axes:
        grid = _grid(item)
        if grid is None:
            continue
        spec = item.artist.get_subplotspec().get_topmost_subplotspec()
        rows, cols = spec.rowspan, spec.colspan
        x0, y0, x1, y1 = item.bbox
        edges[(grid, "top", f"row {rows.start + 1}", rows.start)].append((item, y0))
        edges[(grid, "bottom", f"row {rows.stop}", rows.stop)].append((item, y1))
        edges[(grid, "left", f"column {cols.start + 1}", cols.start)].append((item, x0))
        edges[(grid, "right", f"column {cols.stop}", cols.stop)].append((item, x1))
    for (_, side, where, _), found in edges.items():
        middle = median(value for _, value in found)
        off = [(item, value) for item, value in found if abs(value - middle) > ALIGN_PX]
        if len(found) < 2 or not off:
            continue
        if len(off) == len(found):  # no majority: blame the ones moved after they were made
            moved = [(i, v) for i, v in off if _moved(i)]
            off = moved or off
        spread = max(v for _, v in found) - min(v for _, v in found)
        lines = _lines([item for item, _ in off])
        defects.append(
            Defect(
                "misalignment",
                min(1.0, spread / 50),
                geometry.union(item.bbox for item, _ in found),
                f"axes in {where} have {side} edges {spread:.0f} px apart" + _at(lines, "moved"),
                lines,
            )
        )
    return defects


def _grid(item: Item) -> int | None:
    """The grid (by id) a subplot's cell belongs to; None for axes placed by hand."""
    spec = item.artist.get_subplotspec()
    # A colorbar may have split the cell: the topmost spec is the cell that was asked for.
    return None if spec is None else id(spec.get_topmost_subplotspec().get_gridspec())


def _moved(item: Item) -> bool:
    return item.lines != tracing.made_lines(item.artist)


SIDES = (("left", 0, "column"), ("top", 1, "row"), ("right", 2, "column"), ("bottom", 3, "row"))


def _near_misses(scene: Scene, axes: list[Item]) -> list[Defect]:
    """Panels in one row (their heights mostly overlap) or one column whose edge is a few pixels
    up to NEAR_ALIGN_SHARE of the figure off the neighbour's: meant to line up, and missed. The
    panel off the edge most of its row or column shares is blamed; with no majority, the one
    placed by hand or moved, else both. Cells of one grid are the grid rule's."""
    off: dict[tuple[int, ...], dict] = {}
    for i, a in enumerate(axes):
        for b in axes[i + 1 :]:
            if a.figure != b.figure or (_grid(a) is not None and _grid(a) == _grid(b)):
                continue
            placed = scene.figures[a.figure]
            for side, index, line in SIDES:
                if not _same(line, a.bbox, b.bbox):
                    continue
                gap = abs(a.bbox[index] - b.bbox[index])
                size = placed.height if line == "row" else placed.width
                if not ALIGN_PX < gap <= NEAR_ALIGN_SHARE * size:
                    continue
                blamed = _off_the_line(axes, a, b, index, line)
                found = off.setdefault(
                    tuple(id(p) for p in blamed),
                    {"blamed": blamed, "mates": {}, "sides": {}, "share": 0.0, "line": line},
                )
                found["mates"].update({id(a): a, id(b): b})
                found["sides"][side] = max(found["sides"].get(side, 0.0), gap)
                found["share"] = max(found["share"], gap / (NEAR_ALIGN_SHARE * size))
    defects = []
    for found in off.values():
        lines = _lines(found["blamed"])
        sides = " and ".join(found["sides"])
        gap = max(found["sides"].values())
        if len(found["blamed"]) == 1:
            what = f"axes {sides} edges {gap:.0f} px off the {found['line']} it is in"
        else:
            what = f"axes in one {found['line']} have {sides} edges {gap:.0f} px apart"
        defects.append(
            Defect(
                "misalignment",
                min(1.0, found["share"]),
                geometry.union(item.bbox for item in found["mates"].values()),
                what + _at(lines, "placed"),
                lines,
            )
        )
    return defects


def _same(line: str, a: BBox, b: BBox) -> bool:
    """Whether two panels share a row (heights overlapping by half the shorter) or a column."""
    low, high = (1, 3) if line == "row" else (0, 2)
    shared = min(a[high], b[high]) - max(a[low], b[low])
    return shared >= 0.5 * min(a[high] - a[low], b[high] - b[low])


def _off_the_line(axes: list[Item], a: Item, b: Item, index: int, line: str) -> list[Item]:
    """Which of two near-miss panels is off: the one fewer row/column mates agree with."""

    def agree(item: Item) -> int:
        return sum(
            1
            for c in axes
            if c is not a
            and c is not b
            and c.figure == item.figure
            and _same(line, c.bbox, item.bbox)
            and abs(c.bbox[index] - item.bbox[index]) <= ALIGN_PX
        )

    if agree(a) != agree(b):
        return [b] if agree(a) > agree(b) else [a]
    by_hand = [p for p in (a, b) if _grid(p) is None or _moved(p)]
    return by_hand if len(by_hand) == 1 else [a, b]


# --- layout warnings -----------------------------------------------------------------------


def layout_warnings(scene: Scene) -> list[Defect]:
    """Warnings matplotlib raised while laying the figure out (tight/constrained layout)."""
    defects = []
    for message, lines in scene.warnings:
        if "layout" not in message.lower():
            continue
        first = message.split(": ", 1)[-1].split(". ")[0].strip().rstrip(".")
        defects.append(Defect("layout_warning", 0.5, None, first + _at(lines, "raised"), lines))
    return defects


# --- helpers -------------------------------------------------------------------------------


def _describe(item: Item) -> str:
    name = {"tick_label": f"{item.group[:1]} tick label", "legend_text": "legend text"}.get(
        item.role, item.role
    )
    text = item.text.strip().replace("\n", " ")
    return f"{name} '{text[:30]}{'…' if len(text) > 30 else ''}'"


def _label(item: Item) -> str:
    """A data artist by its legend label, else by what it is: "line 'sales'", "bar"."""
    label = item.artist.get_label() if hasattr(item.artist, "get_label") else ""
    named = label and not label.startswith("_")
    return f"{_kind(item)} '{label}'" if named else _kind(item)


def _kind(item: Item) -> str:
    artist = item.artist
    if isinstance(artist, Line2D):
        return "line"
    if isinstance(artist, PathCollection):
        return "scatter"
    if isinstance(artist, PolyCollection):
        return "filled area"
    return item.role


def _at(lines: tuple[int, ...], verb: str = "set") -> str:
    if not lines:
        return ""
    word = "line" if len(lines) == 1 else "lines"
    return f"; {verb} at {word} {', '.join(map(str, lines))}"


def _lines(items) -> tuple[int, ...]:
    return tuple(sorted({line for item in items for line in item.lines}))


def _merge(*groups) -> tuple[int, ...]:
    return tuple(sorted({line for group in groups for line in group}))


def _inside(points: np.ndarray, box: BBox) -> np.ndarray:
    return (
        (points[:, 0] >= box[0])
        & (points[:, 0] <= box[2])
        & (points[:, 1] >= box[1])
        & (points[:, 1] <= box[3])
    )


def _axes_box(scene: Scene, data: Item) -> BBox:
    return scene.to_pixels(data.figure, data.axes.bbox) if data.axes is not None else data.bbox


def _to_image(scene: Scene, item: Item, display: np.ndarray) -> np.ndarray:
    return scene.points_to_pixels(item.figure, display)
