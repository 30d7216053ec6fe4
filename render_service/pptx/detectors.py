"""Defects of a python-pptx deck from its geometry, measured text and resolved colors.

Works on `deck.describe` output in EMU: the defects' boxes are in EMU of their slide (the
renderer moves them to pixels of the stacked image).
Text is wrapped with the metrics of the font LibreOffice actually draws (fontconfig's match for
the requested family, e.g. Carlito for Calibri), lines spaced by the font's hhea metrics.
"""

from __future__ import annotations

import functools
import logging
import subprocess
from typing import Any

from fontTools.ttLib import TTFont
from PIL import ImageFont

from render_service.contrast import contrast_ratio, from_255
from render_service.geometry import area, intersection
from render_service.pptx.deck import UNKNOWN
from render_service.types import Defect

# Carlito's head table has a zero creation date; fontTools warns on every load.
logging.getLogger("fontTools.ttLib.tables._h_e_a_d").setLevel(logging.ERROR)

EMU_PER_PT = 12700
MEASURE_SCALE = 4  # fonts are loaded at 4x the point size for sub-point accuracy
_GEOMETRY = ("left", "top", "width", "height")
_DRAWN = ("picture", "table", "chart")  # visible without a fill or text frame of their own
OVERLAP_SHARE = 0.02  # of the smaller shape's area: less is a touching edge, not an overlap


@functools.lru_cache(maxsize=64)
def font_file(family: str, bold: bool) -> str:
    pattern = f"{family}:bold" if bold else family
    found = subprocess.run(
        ["fc-match", "-f", "%{file}", pattern], capture_output=True, text=True, timeout=10
    )
    return found.stdout.strip()


@functools.lru_cache(maxsize=64)
def line_height_em(path: str) -> float:
    """Single line spacing in ems as LibreOffice draws it: hhea ascent + descent + line gap."""
    font = TTFont(path, lazy=True)
    hhea = font["hhea"]
    return (hhea.ascent - hhea.descent + hhea.lineGap) / font["head"].unitsPerEm


@functools.lru_cache(maxsize=256)
def _font(family: str, bold: bool, size_pt: float) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(font_file(family, bold), max(1, round(size_pt * MEASURE_SCALE)))


def text_extent(text: dict[str, Any], width_emu: int | None) -> tuple[float, float]:
    """(widest line, total height) in EMU of the text laid out in `width_emu` (None: no wrap)."""
    widest = total = 0.0
    for runs in text["paragraphs"]:
        words: list[tuple[float, float, float]] = []  # (word width, space width, line height)
        height = 0.0
        for run in runs:
            font = _font(run["font"], run["bold"], run["size"])
            em = line_height_em(font_file(run["font"], run["bold"]))
            line_h = em * run["size"] * EMU_PER_PT
            height = max(height, line_h)
            space = font.getlength(" ") / MEASURE_SCALE * EMU_PER_PT
            for word in run["text"].split():
                words.append((font.getlength(word) / MEASURE_SCALE * EMU_PER_PT, space, line_h))
        if not words:
            size = runs[0]["size"] if runs else 18.0
            total += 1.2 * size * EMU_PER_PT
            continue
        line_w, line_h = 0.0, 0.0
        for word_w, space, word_h in words:
            extra = word_w if line_w == 0 else space + word_w
            if width_emu is not None and line_w > 0 and line_w + extra > width_emu:
                widest, total = max(widest, line_w), total + line_h
                line_w, line_h = word_w, word_h
            else:
                line_w, line_h = line_w + extra, max(line_h, word_h)
        widest, total = max(widest, line_w), total + line_h
    return widest, total


def drawn_box(shape: dict[str, Any]) -> tuple[int, int, int, int]:
    """The shape's box as drawn. A shape that fits itself to its text (spAutoFit) takes the
    text's height from its top; one that also does not wrap takes the text's width, centred on
    its nominal box (as LibreOffice lays out python-pptx's default text boxes)."""
    x0, y0, x1, y1 = shape["box"]
    text = shape["text"]
    if not text or not text["grows"]:
        return x0, y0, x1, y1
    left, top, right, bottom = text["insets"]
    width, height = text_extent(text, x1 - x0 - left - right if text["wrap"] else None)
    if not text["wrap"]:
        centre, half = (x0 + x1) / 2, (width + left + right) / 2
        x0, x1 = round(centre - half), round(centre + half)
    return x0, y0, x1, round(y0 + height + top + bottom)


def text_area(shape: dict[str, Any]) -> tuple[float, float, float, float]:
    """Where the shape's text is drawn: the drawn box less its insets, as tall as the text and
    placed by the vertical anchor (across the whole width: alignment is not read)."""
    x0, y0, x1, y1 = drawn_box(shape)
    text = shape["text"]
    left, top, right, bottom = text["insets"]
    x0, y0, x1, y1 = x0 + left, y0 + top, x1 - right, y1 - bottom
    height = min(text_extent(text, x1 - x0 if text["wrap"] else None)[1], y1 - y0)
    start = {"ctr": (y0 + y1 - height) / 2, "b": y1 - height}.get(text["anchor"], y0)
    return x0, start, x1, start + height


def _lines(shape: dict[str, Any], *aspects: str) -> set[int]:
    """The lines that last set these aspects of the shape (see `trace`)."""
    return {line for aspect in aspects for line in shape["lines"].get(aspect, ())}


def _run_lines(shape: dict[str, Any], key: str, runs=None) -> set[int]:
    """Lines that set the color (`color_lines`) or size (`size_lines`) of these runs (all of
    the shape's by default)."""
    if runs is None:
        runs = [run for paragraph in shape["text"]["paragraphs"] for run in paragraph]
    return {line for run in runs for line in run[key]}


def _grown_lines(shape: dict[str, Any]) -> set[int]:
    """For a shape drawn larger than its box because it fits itself to its text: the lines
    that set that text and its sizes."""
    if shape["text"] is None or not shape["text"]["grows"]:
        return set()
    return _lines(shape, "text") | _run_lines(shape, "size_lines")


def _visible(shape: dict[str, Any]) -> bool:
    return shape["box"] is not None and (
        shape["text"] is not None or shape["fill"] is not None or shape["kind"] in _DRAWN
    )


def _has_text(shape: dict[str, Any]) -> bool:
    return shape["text"] is not None or shape["kind"] == "table"


def off_slide(shapes, width: int, height: int) -> list[Defect]:
    findings = []
    for shape in shapes:
        if not _visible(shape):
            continue
        box = drawn_box(shape)
        shown = area(intersection(box, (0, 0, width, height)))
        if shown < area(box) - EMU_PER_PT * EMU_PER_PT:
            outside = 1 - shown / max(area(box), 1)
            findings.append(
                Defect(
                    "off_canvas",
                    outside,
                    box,
                    f"shape '{shape['name']}' lies {100 * outside:.0f}% off the slide; "
                    "move or shrink it",
                    tuple(sorted(_edge_lines(shape, box, width, height))),
                )
            )
    return findings


def _crossed(box, width: int, height: int) -> set[str]:
    """The aspects that place the edges of `box` that lie past the slide's: its left edge
    (left), top (top), right (left and width), bottom (top and height)."""
    aspects = set()
    if box[0] < 0:
        aspects.add("left")
    if box[1] < 0:
        aspects.add("top")
    if box[2] > width:
        aspects |= {"left", "width"}
    if box[3] > height:
        aspects |= {"top", "height"}
    return aspects


def _edge_lines(shape, box, width: int, height: int) -> set[int]:
    """The statement that put the shape past the slide's edges: of those that set the
    aspects placing the crossing edges, the last one (a shape made inside the slide and then
    moved or resized was pushed out by the later statement); and the text and its sizes where
    the shape only crosses because it grows to fit them."""
    placed = _lines(shape, *_crossed(box, width, height))
    lines = {max(placed)} if placed else set()
    if _crossed(box, width, height) - _crossed(shape["box"], width, height):
        lines |= _grown_lines(shape)
    return lines


def overlaps(shapes) -> list[Defect]:
    """Shapes drawn over each other. A shape wholly inside another is a panel or background
    by design and is left alone; partial overlaps are the defect."""
    findings = []
    visible = [s for s in shapes if _visible(s)]
    for m, a in enumerate(visible):
        for b in visible[m + 1 :]:
            box_a, box_b = drawn_box(a), drawn_box(b)
            shared = intersection(box_a, box_b)
            if area(shared) == 0 or shared in (box_a, box_b):
                continue
            if area(shared) < OVERLAP_SHARE * min(area(box_a), area(box_b)):
                continue
            both_text = _has_text(a) and _has_text(b)
            findings.append(
                Defect(
                    "text_overlap" if both_text else "layout_warning",
                    area(shared) / min(area(box_a), area(box_b)),
                    shared,
                    f"shapes '{a['name']}' and '{b['name']}' overlap; move one so they do not",
                    tuple(sorted(_overlap_lines(a, b))),
                )
            )
    return findings


def _overlap_lines(a, b) -> set[int]:
    """The statements that place and size both shapes; and their text and its sizes where
    only the boxes they grow to (not the ones they were given) overlap."""
    lines = _lines(a, *_GEOMETRY) | _lines(b, *_GEOMETRY)
    given = intersection(a["box"], b["box"])
    if area(given) < OVERLAP_SHARE * min(area(a["box"]), area(b["box"])):
        lines |= _grown_lines(a) | _grown_lines(b)
    return lines


def text_overflow(shapes) -> list[Defect]:
    """Text needing more room than a box that does not grow or shrink to fit it."""
    findings = []
    for shape in shapes:
        text = shape["text"]
        if shape["box"] is None or text is None or text["grows"] or text["shrinks"]:
            continue
        x0, y0, x1, y1 = shape["box"]
        left, top, right, bottom = text["insets"]
        room_w, room_h = x1 - x0 - left - right, y1 - y0 - top - bottom
        if text["vertical"]:  # lines run top to bottom: the box's height is their length
            room_w, room_h = room_h, room_w
        width, height = text_extent(text, room_w if text["wrap"] else None)
        over_h, over_w = height - room_h, width - room_w  # a word wider than the box
        if max(over_h, over_w) <= EMU_PER_PT:  # within a point: rounding
            continue
        findings.append(
            Defect(
                "text_overflow",
                min(1.0, max(over_h / max(room_h, 1), over_w / max(room_w, 1))),
                (x0, y0, max(x1, round(x0 + left + width)), max(y1, round(y0 + top + height))),
                f"text of '{shape['name']}' needs {height / EMU_PER_PT:.0f}pt of height and "
                f"{width / EMU_PER_PT:.0f}pt of width but its box gives {room_h / EMU_PER_PT:.0f}"
                f"x{room_w / EMU_PER_PT:.0f}pt; enlarge the box, shorten the text or use a "
                "smaller font",
                tuple(sorted(_lines(shape, "width", "height") | _overflow_lines(shape))),
            )
        )
    return findings


def _overflow_lines(shape) -> set[int]:
    """The font sizes that make the text too large, or where none was set, the text."""
    return _run_lines(shape, "size_lines") or _lines(shape, "text")


def low_contrast(shapes, background, background_lines=()) -> list[Defect]:
    """WCAG AA (4.5:1; 3:1 from 18pt, or 14pt bold) between each run's color and what is
    under it: the shape's own fill, else the topmost filled shape below that covers most of
    where the text is drawn (`text_area`: a text box may reach past the panel its text sits
    on), else the slide background (set at `background_lines`, if the code set it)."""
    findings = []
    for index, shape in enumerate(shapes):
        if shape["box"] is None or shape["text"] is None:
            continue
        under, under_shape = shape["fill"], shape
        if under is None:
            under, under_shape = background, None
            drawn = text_area(shape)
            for below in reversed(shapes[:index]):
                shared = below["box"] and area(intersection(below["box"], drawn))
                if below["fill"] is not None and shared and shared >= 0.5 * area(drawn):
                    under, under_shape = below["fill"], below
                    break
        if under == UNKNOWN:  # text on a picture: its colors are not known
            continue
        worst, faint = None, []
        for runs in shape["text"]["paragraphs"]:
            for run in runs:
                if not run["text"].strip():
                    continue
                ratio = contrast_ratio(from_255(run["color"]), from_255(under))
                large = run["size"] >= 18 or (run["size"] >= 14 and run["bold"])
                need = 3.0 if large else 4.5
                if ratio < need:
                    faint.append(run)
                    if worst is None or ratio / need < worst[0] / worst[1]:
                        worst = (ratio, need)
        if worst is None:
            continue
        # the faint runs' colors and what is under them (a fill, or the slide's background);
        # where the code set neither, the shape
        lines = _run_lines(shape, "color_lines", faint)
        lines |= _lines(under_shape, "fill") if under_shape is not None else set(background_lines)
        lines = lines or _lines(shape, "create")
        findings.append(
            Defect(
                "low_contrast",
                (worst[1] - worst[0]) / worst[1],
                shape["box"],
                f"text of '{shape['name']}' has contrast {worst[0]:.2f}:1 against its "
                f"background, below the {worst[1]:g}:1 needed; change the text or fill color",
                tuple(sorted(lines)),
            )
        )
    return findings
