"""Record which lines of generated python-pptx code created and changed each shape.

Runs inside the sandboxed child only: it wraps python-pptx's shape factories and the setters
that move, resize, fill or write into a shape. Each call from generated code is attributed to
the shape that owns the touched XML (found by walking up from the proxy's element), under an
aspect: `create`; `left`, `top`, `width`, `height`; `text`, `font_size`, `font`; `text_color`,
`fill`, `line`. Per aspect and touched element (a run's `a:rPr`, a paragraph's `a:defRPr`, or
the shape itself) only the last line that set it is kept: a detector then names the statement
that set the offending size, position, font size or color, not every one that touched the
shape. The wrappers die with the child process.
"""

from __future__ import annotations

import functools
import sys
from collections import defaultdict

from pptx.dml.color import ColorFormat
from pptx.dml.fill import FillFormat
from pptx.shapes.base import BaseShape
from pptx.shapes.shapetree import SlideShapes, _BaseGroupShapes
from pptx.slide import Slides
from pptx.text.text import Font, TextFrame, _Paragraph, _Run

from render_service.generated import GENERATED

_SHAPE_TAGS = frozenset({"sp", "pic", "graphicFrame", "cxnSp", "grpSp"})
_TEXT_PROPS = frozenset({"rPr", "defRPr", "endParaRPr"})
_FACTORIES = {
    _BaseGroupShapes: (
        "add_textbox",
        "add_shape",
        "add_picture",
        "add_chart",
        "add_connector",
        "add_group_shape",
    ),
    SlideShapes: ("add_table", "add_movie"),
}

# (id of the slide's root XML element, shape id) -> aspect -> `element_path` of the element set
# ("" for the shape as a whole) -> the last statement that set it (`_generated_lines`)
Record = dict[tuple[int, int], dict[str, dict[str, tuple[int, ...]]]]
_GEOMETRY = ("left", "top", "width", "height")


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _element_of(proxy):
    for value in vars(proxy).values():
        if hasattr(value, "getparent"):
            return value
    return None


def _generated_lines() -> tuple[int, ...]:
    """The generated code's lines on the stack, innermost first: a shape made or changed in a
    helper function is traced to the helper's line and to the calls that passed it the values."""
    lines = []
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename == GENERATED:
            lines.append(frame.f_lineno)
        frame = frame.f_back
    return tuple(lines)


def _text_props(element):
    """The run or paragraph properties element (`a:rPr`, `a:defRPr`) holding `element`."""
    node = element
    while node is not None and _local(node.tag) not in _SHAPE_TAGS:
        if _local(node.tag) in _TEXT_PROPS:
            return node
        node = node.getparent()
    return None


def element_path(element) -> str:
    """Tag and position among same-tag siblings from the shape holding `element` down to it:
    unlike a plain XPath it stays the same when shapes, paragraphs or runs are appended, or a
    paragraph gains its properties element, later."""
    steps = []
    node = element
    while node is not None and _local(node.tag) not in _SHAPE_TAGS:
        parent = node.getparent()
        same = [n for n in parent if n.tag == node.tag] if parent is not None else [node]
        steps.append(f"{_local(node.tag)}{same.index(node)}")
        node = parent
    return "/".join(reversed(steps))


# The shape id recorded for a slide's own background (shape ids start at 1).
BACKGROUND = 0


def shape_key(element) -> tuple[int, int] | None:
    """(id of the slide root element, shape id) of the innermost shape holding `element`;
    `BACKGROUND` for the slide's background (`p:bg`)."""
    node = element
    while node is not None and _local(node.tag) not in _SHAPE_TAGS:
        if _local(node.tag) == "bg":
            return id(node.getroottree().getroot()), BACKGROUND
        node = node.getparent()
    if node is None:
        return None
    c_nv_pr = next((n for n in node.iter() if _local(n.tag) == "cNvPr"), None)
    if c_nv_pr is None:
        return None
    return id(node.getroottree().getroot()), int(c_nv_pr.get("id"))


class ShapeTracer:
    """Installs the wrappers; `record` fills up while generated code runs."""

    def __init__(self):
        self.record: Record = defaultdict(lambda: defaultdict(dict))

    def note(self, element, aspect: str) -> None:
        """`aspect` of the shape holding `element` was set by the current statement: of the
        shape as a whole (geometry, fill, line, create) or of `element` (text and its
        properties)."""
        lines = _generated_lines()
        key = shape_key(element) if element is not None else None
        if not lines or key is None:
            return
        if aspect == "create":  # a factory places and sizes the shape too
            for name in ("create", *_GEOMETRY):
                self.record[key][name][""] = lines
            return
        target = ""
        if aspect not in (*_GEOMETRY, "fill", "line"):
            props = _text_props(element)
            target = element_path(element if props is None else props)
        self.record[key][aspect][target] = lines

    def install(self) -> None:
        for cls, names in _FACTORIES.items():
            for name in names:
                self._wrap_factory(cls, name)
        self._wrap_add_slide()
        for prop in _GEOMETRY:
            self._wrap_setter(BaseShape, prop, prop)
        for cls, prop in (
            (TextFrame, "text"),
            (_Paragraph, "text"),
            (_Run, "text"),
            (TextFrame, "word_wrap"),
            (TextFrame, "auto_size"),
        ):
            self._wrap_setter(cls, prop, "text")
        for method in ("add_paragraph", "fit_text"):
            self._wrap_method(TextFrame, method, "text")
        self._wrap_method(_Paragraph, "add_run", "text")
        self._wrap_setter(Font, "size", "font_size")
        for prop in ("name", "bold", "italic"):
            self._wrap_setter(Font, prop, "font")
        for prop in ("rgb", "theme_color", "brightness"):
            self._wrap_setter(ColorFormat, prop, "color")
        for method in ("solid", "gradient", "patterned", "background"):
            self._wrap_method(FillFormat, method, "fill")

    def _aspect(self, proxy, aspect: str) -> tuple[object, str]:
        """A color or fill belongs to the text (under run or paragraph properties), to the
        outline (`a:ln`) or to the shape's fill: `font.color` fills the run's properties."""
        element = _element_of(proxy)
        if aspect in ("color", "fill") and element is not None:
            aspect = "fill"
            node = element
            while node is not None and _local(node.tag) not in _SHAPE_TAGS:
                if _local(node.tag) in _TEXT_PROPS:
                    aspect = "text_color"
                elif _local(node.tag) == "ln" and aspect == "fill":
                    aspect = "line"
                node = node.getparent()
        return element, aspect

    def _wrap_setter(self, cls, name: str, aspect: str) -> None:
        prop = getattr(cls, name)
        tracer = self

        def fset(proxy, value):
            prop.fset(proxy, value)
            tracer.note(*tracer._aspect(proxy, aspect))

        setattr(cls, name, property(prop.fget, fset, prop.fdel, prop.__doc__))

    def _wrap_method(self, cls, name: str, aspect: str) -> None:
        original = getattr(cls, name)
        tracer = self

        @functools.wraps(original)
        def wrapper(proxy, *args, **kwargs):
            result = original(proxy, *args, **kwargs)
            tracer.note(*tracer._aspect(proxy, aspect))
            return result

        setattr(cls, name, wrapper)

    def _wrap_factory(self, cls, name: str) -> None:
        original = getattr(cls, name)
        tracer = self

        @functools.wraps(original)
        def wrapper(shapes, *args, **kwargs):
            shape = original(shapes, *args, **kwargs)
            tracer.note(shape.element, "create")
            return shape

        setattr(cls, name, wrapper)

    def _wrap_add_slide(self) -> None:
        original = Slides.add_slide
        tracer = self

        @functools.wraps(original)
        def wrapper(slides, layout):
            slide = original(slides, layout)
            for shape in slide.shapes:  # the layout's placeholders appear here
                tracer.note(shape.element, "create")
            return slide

        Slides.add_slide = wrapper
