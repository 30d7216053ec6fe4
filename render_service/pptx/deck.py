"""Run generated python-pptx code in one sandboxed child; describe the file it saved in another.

`build_deck` runs the code and returns the saved .pptx bytes and the tracer's record (which
lines set which aspect of which shape). That child ran the code, so both are claims; the record
only says which lines to blame. `describe_deck` runs in a fresh child that never ran the code
(forked from the worker's zygote) and reads the saved file itself: per slide, each shape's box,
fill, text runs (size, font, bold, color, and the lines that set the color and size) and, per
aspect, the lines that last set it (`trace`); group members are listed in place of groups.
Colors are resolved against the deck's theme (`schemeClr` -> the theme's `clrScheme`). So the
defects are measured from the file, and the worker itself never parses the untrusted package.
"""

from __future__ import annotations

import colorsys
import io
from typing import Any

from lxml import etree
from pptx import Presentation as open_presentation
from pptx.enum.shapes import MSO_SHAPE_TYPE
from pptx.opc.constants import RELATIONSHIP_TYPE as RT
from pptx.presentation import Presentation

from render_service.generated import GeneratedCodeError, exec_generated
from render_service.pptx.trace import BACKGROUND, ShapeTracer, element_path, shape_key

A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
P = "{http://schemas.openxmlformats.org/presentationml/2006/main}"
_SCHEME_ALIAS = {"bg1": "lt1", "tx1": "dk1", "bg2": "lt2", "tx2": "dk2"}
DEFAULT_INSETS = (91440, 45720, 91440, 45720)  # left, top, right, bottom in EMU (ECMA-376)
_GROUP_XFRM = ("off", "ext", "chOff", "chExt")


def build_deck(scratch: str, code: str) -> dict[str, Any]:
    """Sandbox entry: run `code`, take the presentation it saved (or left in a variable)."""
    tracer = ShapeTracer()
    tracer.install()
    saved: list[Presentation] = []
    original_save = Presentation.save

    def save(prs, file):
        saved.append(prs)
        return original_save(prs, file)

    Presentation.save = save
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec_generated(code, namespace)
    decks = saved or [v for v in namespace.values() if isinstance(v, Presentation)]
    if not decks:
        raise GeneratedCodeError(
            "NoDeck: the code made no presentation; build one with pptx.Presentation() "
            "and save it with prs.save('deck.pptx')"
        )
    prs = decks[-1]
    buffer = io.BytesIO()
    original_save(prs, buffer)
    slides = {_slide_root(slide.element): index for index, slide in enumerate(prs.slides)}
    record = [
        [slides[root], shape, {aspect: dict(paths) for aspect, paths in aspects.items()}]
        for (root, shape), aspects in tracer.record.items()
        if root in slides
    ]
    return {"pptx": buffer.getvalue(), "record": record}


def describe_deck(scratch: str, pptx: bytes, record, max_slides: int) -> dict[str, Any]:
    """Sandbox entry, in a child that never ran the code: the saved deck, described."""
    del scratch
    try:
        prs = open_presentation(io.BytesIO(pptx))
    except Exception as err:  # not a package python-pptx can open
        raise GeneratedCodeError(f"BadDeck: the saved file is not a presentation ({err})") from None
    if len(prs.slides) > max_slides:
        raise GeneratedCodeError(
            f"TooManySlides: the deck has {len(prs.slides)} slides, over the limit of {max_slides}"
        )
    if len(prs.slides) == 0:
        raise GeneratedCodeError("EmptyDeck: the presentation has no slides; add one")
    if prs.slide_height > 2 * prs.slide_width:  # the image budget (RenderConfig.max_image_pixels)
        raise GeneratedCodeError(
            "SlideTooTall: slides may be at most twice as tall as they are wide; set "
            "prs.slide_height to at most 2 * prs.slide_width"
        )
    lines = {(int(slide), int(shape)): aspects for slide, shape, aspects in record}
    return _plain(describe(prs, lines))


def _slide_root(element) -> int:
    return id(element.getroottree().getroot())


def _plain(value):
    """Built-in types only (python-pptx lengths are int subclasses such as `Emu`): a child's
    value travels as plain msgpack data."""
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return (
            type(value)(_plain(v) for v in value)
            if type(value) in (list, tuple)
            else tuple(map(_plain, value))
        )
    if isinstance(value, bool) or value is None:
        return value
    for kind in (int, float, str, bytes):
        if isinstance(value, kind):
            return kind(value)
    return value


def describe(prs: Presentation, record) -> dict[str, Any]:
    """`record`: (slide index, shape id) -> aspect -> element path -> lines."""
    theme = _theme(prs)
    master_bg = _background(prs.slide_master.element, theme) or theme.get("lt1", (255, 255, 255))
    slides = []
    for index, slide in enumerate(prs.slides):
        background = (
            _background(slide.element, theme)
            or _background(slide.slide_layout.element, theme)
            or master_bg
        )
        shapes = []
        for shape, place in _flattened(slide.shapes, lambda box: box):
            key = shape_key(shape.element)  # (slide root, shape id): the record's is by index
            written = record.get((index, key[1]), {}) if key else {}
            shapes.append(_shape(shape, theme, written, prs, place))
        painted = record.get((index, BACKGROUND), {}).get("fill", {})
        slides.append(
            {
                "background": background,
                "background_lines": sorted({line for lines in painted.values() for line in lines}),
                "shapes": shapes,
            }
        )
    return {"width": prs.slide_width, "height": prs.slide_height, "slides": slides}


def _flattened(shapes, place):
    """(shape, its box mapping to slide coordinates) for each shape, the members of groups in
    place of the groups: a group draws its members scaled from its child extents to its own."""
    for shape in shapes:
        if shape.shape_type != MSO_SHAPE_TYPE.GROUP:
            yield shape, place
            continue
        xfrm = shape.element.find(f"{P}grpSpPr/{A}xfrm")
        parts = [xfrm.find(f"{A}{name}") if xfrm is not None else None for name in _GROUP_XFRM]
        if any(part is None for part in parts):
            yield from _flattened(shape.shapes, place)
            continue
        off, ext, ch_off, ch_ext = parts
        scale_x = int(ext.get("cx")) / max(int(ch_ext.get("cx")), 1)
        scale_y = int(ext.get("cy")) / max(int(ch_ext.get("cy")), 1)

        def inner(box, off=off, ch_off=ch_off, scale_x=scale_x, scale_y=scale_y, outer=place):
            x, y = int(off.get("x")), int(off.get("y"))
            cx, cy = int(ch_off.get("x")), int(ch_off.get("y"))
            return outer(
                (
                    round(x + (box[0] - cx) * scale_x),
                    round(y + (box[1] - cy) * scale_y),
                    round(x + (box[2] - cx) * scale_x),
                    round(y + (box[3] - cy) * scale_y),
                )
            )

        yield from _flattened(shape.shapes, inner)


def _theme(prs: Presentation) -> dict[str, Any]:
    part = prs.slide_master.part.part_related_by(RT.THEME)
    root = etree.fromstring(part.blob, etree.XMLParser(resolve_entities=False, no_network=True))
    colors: dict[str, Any] = {}
    scheme = root.find(f".//{A}clrScheme")
    for entry in scheme if scheme is not None else ():
        rgb = entry.find(f"{A}srgbClr")
        sys_clr = entry.find(f"{A}sysClr")
        value = (
            rgb.get("val")
            if rgb is not None
            else (sys_clr.get("lastClr") if sys_clr is not None else None)
        )
        if value:
            colors[etree.QName(entry).localname] = _hex(value)
    for kind in ("major", "minor"):
        latin = root.find(f".//{A}{kind}Font/{A}latin")
        colors[f"{kind}_font"] = latin.get("typeface") if latin is not None else "Calibri"
    return colors


def _hex(value: str) -> tuple[int, int, int]:
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def _color(holder, theme) -> tuple[int, int, int] | None:
    """The color of an `a:srgbClr`/`a:schemeClr`/`a:sysClr` child of `holder`, with the
    luminance and tint/shade changes LibreOffice applies (python-pptx's `brightness` writes
    lumMod/lumOff)."""
    if holder is None:
        return None
    for node in holder:
        name = etree.QName(node).localname
        if name == "srgbClr":
            base = _hex(node.get("val"))
        elif name == "schemeClr":
            base = theme.get(_SCHEME_ALIAS.get(node.get("val"), node.get("val")))
        elif name == "sysClr" and node.get("lastClr"):
            base = _hex(node.get("lastClr"))
        else:
            continue
        return _modified(base, node) if base is not None else None
    return None


def _modified(rgb: tuple[int, int, int], node) -> tuple[int, int, int]:
    """`rgb` changed by the color element's lumMod/lumOff (in HSL lightness) and tint/shade
    children, in document order."""
    hue, light, sat = colorsys.rgb_to_hls(*(c / 255 for c in rgb))
    for change in node:
        name, value = etree.QName(change).localname, int(change.get("val", "100000")) / 100000
        if name == "lumMod":
            light *= value
        elif name == "lumOff":
            light += value
        else:
            channels = colorsys.hls_to_rgb(hue, min(1.0, max(0.0, light)), sat)
            if name == "tint":  # toward white
                channels = [1 - (1 - c) * value for c in channels]
            elif name == "shade":  # toward black
                channels = [c * value for c in channels]
            else:
                continue
            hue, light, sat = colorsys.rgb_to_hls(*channels)
    red, green, blue = colorsys.hls_to_rgb(hue, min(1.0, max(0.0, light)), sat)
    return round(red * 255), round(green * 255), round(blue * 255)


UNKNOWN = "unknown"  # a picture fill: its colors are not known here


def _fill(props, theme):
    """The fill set in a shape's or background's properties element: a color (a gradient's or
    pattern's as the mean of its colors), "none" (noFill), UNKNOWN (a picture), or None where
    it sets none (the shape's style or the layout decides)."""
    for node in props if props is not None else ():
        name = etree.QName(node).localname
        if name == "solidFill":
            return _color(node, theme)
        if name in ("gradFill", "pattFill"):
            holders = node.findall(f"{A}gsLst/{A}gs") or [
                node.find(f"{A}{part}") for part in ("fgClr", "bgClr")
            ]
            colors = [_color(h, theme) for h in holders if h is not None]
            colors = [c for c in colors if c is not None]
            if not colors:
                return None
            return tuple(round(sum(c[i] for c in colors) / len(colors)) for i in range(3))
        if name == "noFill":
            return "none"
        if name == "blipFill":
            return UNKNOWN
    return None


def _background(element, theme):
    """The slide, layout or master background: a color, UNKNOWN, or None (not set here)."""
    bg = element.find(f"{P}cSld/{P}bg")
    if bg is None:
        return None
    fill = _fill(bg.find(f"{P}bgPr"), theme)
    return fill if fill not in (None, "none") else _color(bg.find(f"{P}bgRef"), theme)


def _level_props(container, level: int) -> list:
    """`a:defRPr` of paragraph level `level` (0-based) in a list style (`a:lstStyle`,
    `p:titleStyle`, ...), if it has one."""
    if container is None:
        return []
    found = container.find(f"{A}lvl{level + 1}pPr/{A}defRPr")
    return [found] if found is not None else []


def _style_chain(shape, master) -> list:
    """List styles a paragraph of `shape` inherits from, nearest first: its own text body's,
    then for a placeholder its layout's and master's placeholders' and the master's title or
    body text style."""
    chain = []
    node = shape
    while node is not None:
        chain.append(node.element.find(f"{P}txBody/{A}lstStyle"))
        node = getattr(node, "_base_placeholder", None) if node.is_placeholder else None
    if shape.is_placeholder:
        kind = str(shape.placeholder_format.type)
        style = "titleStyle" if "TITLE" in kind and "SUB" not in kind else "bodyStyle"
        chain.append(master.find(f"{P}txStyles/{P}{style}"))
    return chain


def _shape(shape, theme, written, prs, place) -> dict[str, Any]:
    """`written`: the tracer's aspect -> element path -> line for this shape; `place` maps its
    box to slide coordinates (see `_flattened`)."""
    element = shape.element
    sp_pr = element.find(f"{P}spPr")
    style = element.find(f"{P}style")
    fill = _fill(sp_pr, theme)
    if fill is None and style is not None:
        fill = _color(style.find(f"{A}fillRef"), theme)  # autoshapes default to accent1
    fill = None if fill == "none" else fill
    kind = type(shape).__name__
    if shape.shape_type == MSO_SHAPE_TYPE.PICTURE:
        kind, fill = "picture", UNKNOWN
    elif getattr(shape, "has_table", False):
        kind = "table"  # drawn with the table style's fills and text: visible like a shape
    elif getattr(shape, "has_chart", False):
        kind = "chart"
    info: dict[str, Any] = {
        "id": shape.shape_id,
        "name": shape.name,
        "kind": kind,
        "box": place(_box(shape)) if _box(shape) else None,
        "fill": fill,
        "lines": {
            aspect: sorted({line for lines in by_path.values() for line in lines})
            for aspect, by_path in written.items()
        },
        "text": None,
    }
    if getattr(shape, "has_text_frame", False) and shape.text_frame.text.strip():
        info["text"] = _text(shape, theme, style, prs.slide_master.element, written)
    return info


def _box(shape) -> tuple[int, int, int, int] | None:
    if None in (shape.left, shape.top, shape.width, shape.height):
        return None
    return shape.left, shape.top, shape.left + shape.width, shape.top + shape.height


def _text(shape, theme, style, master, written) -> dict[str, Any]:
    """Each run's size, font, weight and color as drawn: set on the run, else on its
    paragraph, else inherited through the list styles (`_style_chain`), else the shape
    style's font color and the theme's fonts; with the lines that set the run's color and
    size (on the element the value comes from)."""
    body = shape.text_frame._txBody.find(f"{A}bodyPr")
    kind = str(shape.placeholder_format.type) if shape.is_placeholder else ""
    is_title = "TITLE" in kind and "SUB" not in kind
    default_font = theme["major_font" if is_title else "minor_font"]
    default_color = _color(style.find(f"{A}fontRef"), theme) if style is not None else None
    default_color = default_color or theme.get("dk1", (0, 0, 0))
    styles = _style_chain(shape, master)
    paragraphs = []
    for paragraph in shape.text_frame.paragraphs:
        p_pr = paragraph._p.find(f"{A}pPr")  # not `paragraph.level`: it adds a pPr
        level = int(p_pr.get("lvl", "0")) if p_pr is not None else 0
        inherited = [p_pr.find(f"{A}defRPr") if p_pr is not None else None]
        for container in styles:
            inherited += _level_props(container, level)
        runs = []
        for run in paragraph.runs:
            chain = [p for p in (run._r.find(f"{A}rPr"), *inherited) if p is not None]
            colored = next((p for p in chain if p.find(f"{A}solidFill") is not None), None)
            sized = next((p for p in chain if p.get("sz")), None)
            bold = next((p.get("b") in ("1", "true") for p in chain if p.get("b")), False)
            latin = next(
                (p.find(f"{A}latin") for p in chain if p.find(f"{A}latin") is not None), None
            )
            font = latin.get("typeface") if latin is not None else default_font
            if font.startswith("+"):  # +mj-lt / +mn-lt: the theme's major or minor font
                font = theme["major_font" if font.startswith("+mj") else "minor_font"]
            color = _color(colored.find(f"{A}solidFill"), theme) if colored is not None else None
            runs.append(
                {
                    "text": run.text,
                    "size": int(sized.get("sz")) / 100 if sized is not None else 18.0,
                    "font": font,
                    "bold": bold,
                    "color": color or default_color,
                    "color_lines": _written(written, "text_color", colored),
                    "size_lines": _written(written, "font_size", sized),
                }
            )
        paragraphs.append(runs)
    insets = tuple(
        int(body.get(name, default)) if body is not None else default
        for name, default in zip(("lIns", "tIns", "rIns", "bIns"), DEFAULT_INSETS)
    )
    # LibreOffice 7.4 shrinks text whose own body says normAutofit, but not text that only
    # inherits it from its layout (the default template's body placeholders): that overflows
    fit = _inherited_body(shape, _autofit)
    return {
        "paragraphs": paragraphs,
        "wrap": body is None or body.get("wrap") != "none",
        "grows": fit == "spAutoFit",
        "shrinks": body is not None and _autofit(body) == "normAutofit",
        "insets": insets,
        "anchor": _inherited_body(shape, lambda body: body.get("anchor")) or "t",
        "vertical": (_inherited_body(shape, lambda body: body.get("vert")) or "horz") != "horz",
    }


def _written(written, aspect: str, element) -> list[int]:
    """The lines of the statement that set `aspect` on `element` (none for an element of a
    layout or master, whose paths are not the slide's)."""
    if element is None:
        return []
    return list(written.get(aspect, {}).get(element_path(element), ()))


def _autofit(body) -> str | None:
    for child in body:
        name = etree.QName(child).localname
        if name in ("spAutoFit", "normAutofit", "noAutofit"):
            return name
    return None


def _inherited_body(shape, read):
    """`read(bodyPr)` of the shape or, for a placeholder, inherited from its layout's and
    master's placeholders: the autofit (the default template's masters shrink text to fit) or
    the vertical anchor."""
    node = shape
    while node is not None:
        body = node.element.find(f"{P}txBody/{A}bodyPr")
        value = read(body) if body is not None else None
        if value is not None:
            return value
        node = getattr(node, "_base_placeholder", None) if node.is_placeholder else None
    return None
