"""Known defects injected into clean programs, one entry per (domain, kind) of defect.

Each injection takes a clean program and a seeded `random.Random` and returns the program with
one defect of a known kind caused at known lines, or None when the program has no statement it
can change. Two users:
- the warm start (`sdpo_jax.warmstart.sft`) teaches the tiny policy to write programs of which a
  share carry such a defect, and to revise them from the renderer's feedback;
- labeled detector cases: the injected lines are the ground truth the detectors' tracing is
  checked against.

Python edits are made on whole statements found with `ast`, so they apply to any program that
makes the call they look for, not only to the bundled generators' output. HTML edits add
declarations to one CSS rule of the page's `<style>`; the rule's line is the responsible line.

The `error` injections break the program instead (it no longer runs): they give the warm start
failed attempts to learn revising from an execution error.
"""

from __future__ import annotations

import ast
import dataclasses
import random
import re
from collections.abc import Callable

ERROR = "error"  # the kind of the injections that make a program fail


@dataclasses.dataclass(frozen=True)
class Injected:
    """A program with one injected defect: `lines` are the 1-based lines of `code` that cause
    it, `kind` the defect kind the renderer should report (or "error": the code fails), `also`
    kinds the same edit may visibly cause too (a figure shrunk until its labels collide also
    clips them): reporting those is neither required nor a false alarm."""

    name: str
    kind: str
    code: str
    lines: tuple[int, ...]
    also: tuple[str, ...] = ()


Edit = Callable[[str, random.Random], tuple[str, tuple[int, ...]] | None]


@dataclasses.dataclass(frozen=True)
class Injection:
    name: str
    domains: tuple[str, ...]
    kind: str
    describe: str  # what the injection does, for docs and reports
    edit: Edit
    also: tuple[str, ...] = ()  # kinds the edit may visibly cause as well

    def apply(self, code: str, rng: random.Random) -> Injected | None:
        edited = self.edit(code, rng)
        if edited is None or edited[0] == code:
            return None
        return Injected(self.name, self.kind, *edited, also=self.also)


# --------------------------------------------------------------------------- Python helpers


def _calls(code: str, method: str) -> list[ast.Call]:
    """Calls of `<anything>.method(...)` or `method(...)` in `code`, in source order; none when
    the code does not parse."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name == method:
                found.append(node)
    return sorted(found, key=lambda n: (n.lineno, n.col_offset))


def _single_line(calls: list[ast.Call]) -> list[ast.Call]:
    return [c for c in calls if c.lineno == c.end_lineno]


def _receiver(call: ast.Call) -> str | None:
    """The source of `x` in `x.method(...)`."""
    return ast.unparse(call.func.value) if isinstance(call.func, ast.Attribute) else None


def replace_segment(code: str, node: ast.AST, text: str) -> str:
    """`code` with the single-line `node` replaced by `text`."""
    lines = code.split("\n")
    line = lines[node.lineno - 1]
    lines[node.lineno - 1] = line[: node.col_offset] + text + line[node.end_col_offset :]
    return "\n".join(lines)


def _insert_after(code: str, lineno: int, statement: str) -> tuple[str, int]:
    """`code` with `statement` inserted after line `lineno` at that line's indentation; the
    inserted line's number."""
    lines = code.split("\n")
    indent = re.match(r"\s*", lines[lineno - 1]).group(0)
    lines.insert(lineno, indent + statement)
    return "\n".join(lines), lineno + 1


def _with_keywords(call: ast.Call, drop: tuple[str, ...] = (), **keywords) -> str:
    """The call's source with keyword arguments set (replaced when present), `drop` removed."""
    call = ast.parse(ast.unparse(call), mode="eval").body
    call.keywords = [k for k in call.keywords if k.arg not in keywords and k.arg not in drop]
    call.keywords += [ast.keyword(k, ast.parse(v, mode="eval").body) for k, v in keywords.items()]
    return ast.unparse(call)


def _string_list(node: ast.AST) -> list[str] | None:
    if isinstance(node, ast.List) and node.elts:
        values = [e.value for e in node.elts if isinstance(e, ast.Constant)]
        if len(values) == len(node.elts) and all(isinstance(v, str) for v in values):
            return values
    return None


def _number_list(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.List)
        and len(node.elts) > 1
        and all(isinstance(e, ast.Constant) and isinstance(e.value, int | float) for e in node.elts)
    )


def _pick(rng: random.Random, options: list):
    return rng.choice(options) if options else None


# --------------------------------------------------------------------------- chart defects

# Long enough that four such labels outgrow a 7-inch axis.
LONG_SUFFIXES = (
    "Regional Quarterly Total",
    "Share of Segment Revenue",
    "Quarterly Operating Result",
    "Annual Average per Region",
)
FAINT_COLORS = ("#f2f2f2", "#eeeeee", "#f5f0e6", "#e8eef2")


def long_tick_labels(code: str, rng: random.Random):
    """Categorical bar labels made long, with no rotation: the x tick labels overlap."""
    calls = [c for c in _single_line(_calls(code, "bar")) if c.args and _string_list(c.args[0])]
    call = _pick(rng, calls)
    if call is None:
        return None
    suffix = rng.choice(LONG_SUFFIXES)
    labels = [f"{label} {suffix}" for label in _string_list(call.args[0])]
    edited = ast.parse(ast.unparse(call), mode="eval").body
    edited.args[0] = ast.parse(repr(labels), mode="eval").body
    return replace_segment(code, call, ast.unparse(edited)), (call.lineno,)


def legend_over_data(code: str, rng: random.Random):
    """The legend moved to the middle of the plot, opaque and large: it hides data. Only on
    axes with lines or bars, which run through the middle; a sparse scatter may leave it
    empty."""
    drawn = {
        _receiver(c) for name in ("plot", "bar", "barh", "fill_between") for c in _calls(code, name)
    }
    call = _pick(rng, [c for c in _single_line(_calls(code, "legend")) if _receiver(c) in drawn])
    if call is None:
        return None
    # An anchor would hold the legend where it was (outside the axes, say): drop it.
    text = _with_keywords(
        call, drop=("bbox_to_anchor",), loc="'center'", framealpha="1", fontsize="16"
    )
    return replace_segment(code, call, text), (call.lineno,)


def text_outside_axes(code: str, rng: random.Random):
    """A note placed in figure coordinates past the right edge, after the layout is fixed
    (axes coordinates would land on a neighbouring panel when the axes is not the last)."""
    titles = [c for c in _single_line(_calls(code, "set_title")) if _receiver(c)]
    call = _pick(rng, titles)
    if call is None:
        return None
    note = rng.choice(("Source: survey data", "Values in thousands", "Preliminary figures"))
    x = rng.choice((1.02, 1.1, 1.2))
    ax = _receiver(call)
    statement = f"{ax}.text({x}, 0.5, {note!r}, transform={ax}.figure.transFigure)"
    lines = code.rstrip("\n").split("\n")
    lines.append(statement)
    return "\n".join(lines) + "\n", (len(lines),)


def low_contrast_mark(code: str, rng: random.Random):
    """A data color (or the title's) set to a near-white that barely shows on white."""
    faint = repr(rng.choice(FAINT_COLORS))
    marks = [
        c
        for name in ("bar", "barh", "plot", "scatter", "fill_between", "hist")
        for c in _single_line(_calls(code, name))
        if any(k.arg == "color" for k in c.keywords)
    ]
    titles = _single_line(_calls(code, "set_title"))
    if marks and (not titles or rng.random() < 0.7):
        call = rng.choice(marks)
        return replace_segment(code, call, _with_keywords(call, color=faint)), (call.lineno,)
    call = _pick(rng, titles)
    if call is None:
        return None
    return replace_segment(code, call, _with_keywords(call, color=faint)), (call.lineno,)


def figure_too_small(code: str, rng: random.Random):
    """figsize shrunk far below what the titles, labels and ticks need: they collide, and may
    also be cut off at the edge, pushed over the data (low contrast there), overrun by the
    legend or left unplaced by tight_layout."""
    calls = [
        c
        for name in ("subplots", "figure")
        for c in _single_line(_calls(code, name))
        if any(k.arg == "figsize" for k in c.keywords)
    ]
    call = _pick(rng, calls)
    if call is None:
        return None
    size = rng.choice(("(1.5, 1.2)", "(1.8, 1.2)", "(1.2, 1.6)"))
    return replace_segment(code, call, _with_keywords(call, figsize=size)), (call.lineno,)


def unclipped_artist(code: str, rng: random.Random):
    """Data drawn with clip_on=False under a y limit it exceeds: it leaves the axes. Every
    family of data artist the programs draw: a line, scatter bubbles (drawn large), a filled
    area. Under tight_layout the stray artist also squeezes the plots, so their texts may
    collide."""
    calls = [
        c
        for name in ("plot", "scatter", "fill_between")
        for c in _single_line(_calls(code, name))
        if _receiver(c) and len(c.args) >= 2 and _number_list(c.args[1])
    ]
    call = _pick(rng, calls)
    if call is None:
        return None
    values = [e.value for e in call.args[1].elts]
    top = max(1, round(min(values) + (max(values) - min(values)) * 0.4))
    keywords = {"clip_on": "False"}
    if isinstance(call.func, ast.Attribute) and call.func.attr == "scatter":
        keywords["s"] = str(rng.choice((600, 1200, 2000)))
    code = replace_segment(code, call, _with_keywords(call, **keywords))
    code, limit = _insert_after(code, call.lineno, f"{_receiver(call)}.set_ylim(0, {top})")
    return code, (call.lineno, limit)


def misaligned_panels(code: str, rng: random.Random):
    """One of the panels placed by hand (add_axes / plt.axes with a [left, bottom, width,
    height] list) nudged by one to four hundredths of the figure across the line it shares
    with a neighbour (up or down in a row, sideways in a column): its edges almost, but not
    quite, line up with its neighbour's."""
    calls = [
        c
        for name in ("add_axes", "axes")
        for c in _single_line(_calls(code, name))
        if c.args and _number_list(c.args[0]) and len(c.args[0].elts) == 4
    ]
    if len(calls) < 2:
        return None
    call = rng.choice(calls)
    edited = ast.parse(ast.unparse(call), mode="eval").body
    mine = [e.value for e in call.args[0].elts]
    # Across the line the panels share: the bottom in a row, the left edge in a column.
    shared = [
        index
        for index in (0, 1)
        if any(c is not call and c.args[0].elts[index].value == mine[index] for c in calls)
    ]
    if not shared:
        return None
    edge = edited.args[0].elts[rng.choice(shared)]
    step = rng.choice((0.012, 0.015, 0.025, 0.04))
    edge.value = round(edge.value + rng.choice((-1, 1)) * step, 3)
    return replace_segment(code, call, ast.unparse(edited)), (call.lineno,)


# --------------------------------------------------------------------------- chart errors


def length_mismatch(code: str, rng: random.Random):
    """One value dropped from a data list: x and y no longer have the same length."""
    calls = [
        c
        for name in ("bar", "barh", "plot", "scatter")
        for c in _single_line(_calls(code, name))
        if len(c.args) >= 2 and isinstance(c.args[1], ast.List) and len(c.args[1].elts) > 2
    ]
    call = _pick(rng, calls)
    if call is None:
        return None
    edited = ast.parse(ast.unparse(call), mode="eval").body
    edited.args[1].elts.pop()
    return replace_segment(code, call, ast.unparse(edited)), (call.lineno,)


def misspelled_method(code: str, rng: random.Random):
    """A method name misspelled: AttributeError."""
    typos = {"set_title": "set_titel", "set_xlabel": "set_xlabl", "set_ylabel": "set_ylable",
             "legend": "legnd", "tight_layout": "tight_layuot"}  # fmt: skip
    calls = [c for name in typos for c in _single_line(_calls(code, name)) if _receiver(c)]
    call = _pick(rng, calls)
    if call is None:
        return None
    line = code.split("\n")[call.lineno - 1]
    name = call.func.attr
    fixed = line.replace(f".{name}(", f".{typos[name]}(", 1)
    return _replace_line(code, call.lineno, fixed), (call.lineno,)


def undefined_name(code: str, rng: random.Random):
    """A statement that uses a name never defined: NameError."""
    calls = [c for c in _single_line(_calls(code, "set_xlabel")) if _receiver(c)]
    calls += [c for c in _single_line(_calls(code, "set_ylabel")) if _receiver(c)]
    call = _pick(rng, calls)
    if call is None:
        return None
    line = code.split("\n")[call.lineno - 1]
    receiver = _receiver(call)
    return _replace_line(code, call.lineno, line.replace(receiver, receiver + "s", 1)), (
        call.lineno,
    )


def unclosed_call(code: str, rng: random.Random):
    """A call's closing parenthesis dropped: SyntaxError."""
    lines = code.split("\n")
    candidates = [i for i, line in enumerate(lines) if line.rstrip().endswith(")") and "(" in line]
    if not candidates:
        return None
    index = rng.choice(candidates)
    lines[index] = lines[index].rstrip()[:-1]
    return "\n".join(lines), (index + 1,)


def _replace_line(code: str, lineno: int, text: str) -> str:
    lines = code.split("\n")
    lines[lineno - 1] = text
    return "\n".join(lines)


# --------------------------------------------------------------------------- HTML / CSS

_RULE = re.compile(r"^(\s*)([^{}\n]+?)\s*\{([^{}\n]*)\}\s*$")


def css_rules(code: str) -> dict[str, int]:
    """Selector -> 1-based line of each one-line CSS rule (`selector { declarations }`)."""
    rules = {}
    for number, line in enumerate(code.split("\n"), start=1):
        match = _RULE.match(line)
        if match and not match.group(2).lstrip().startswith("<"):
            rules[match.group(2).strip()] = number
    return rules


def _declare(code: str, selectors: tuple[str, ...], rng: random.Random, declarations: str):
    """Adds `declarations` to one rule among `selectors` that the page has (last wins in
    CSS, so they override what the rule already says)."""
    rules = css_rules(code)
    present = [s for s in selectors if s in rules]
    if not present:
        return None
    number = rules[rng.choice(present)]
    line = code.split("\n")[number - 1]
    edited = line.rstrip()[:-1].rstrip() + " " + declarations + " }"
    return _replace_line(code, number, edited), (number,)


def fixed_height_clip(code: str, rng: random.Random):
    """A box with text given a fixed height too small for it, its overflow hidden."""
    height = rng.choice((18, 24, 30))
    return _declare(
        code, (".card", ".hero", "ul"), rng, f"height: {height}px; padding: 0; overflow: hidden;"
    )


def wide_overflow(code: str, rng: random.Random):
    """A fixed width wider than the page: content runs past its right edge."""
    width = rng.choice((1500, 1700, 1900))
    return _declare(code, (".cards", "header", ".hero", "table"), rng, f"width: {width}px;")


def tight_line_height(code: str, rng: random.Random):
    """line-height below 1 in a narrow box: wrapped lines print over each other. The box is
    narrowed too, so its text wraps (short texts in wide cards did not, and showed nothing)."""
    height, width = rng.choice((0.4, 0.5, 0.6)), rng.choice((120, 140, 160))
    return _declare(code, (".card", "ul"), rng, f"line-height: {height}; max-width: {width}px;")


def negative_margin(code: str, rng: random.Random):
    """A negative bottom margin on a heading pulls the text after it up over the heading.
    (Pulling the heading up instead mostly sent it off the page top or over a dark header.)
    The pull is in ems, about the heading's height: a fixed one lifted text clean over small
    headings, which only swaps them."""
    shift = rng.choice((0.9, 1.0, 1.1))
    return _declare(code, ("h1",), rng, f"margin-bottom: -{shift}em;")


def low_contrast_text(code: str, rng: random.Random):
    """Text colored near-white on a white or light background."""
    return _declare(
        code, (".card", "ul", ".hero", "h1"), rng, f"color: {rng.choice(FAINT_COLORS)};"
    )


def text_overflows_box(code: str, rng: random.Random):
    """The slide's accent box made too small for its text, which is cut off."""
    size = rng.choice(
        ("width: 90px; height: 60px;", "width: 120px; height: 80px;", "width: 150px; height: 60px;")
    )
    return _declare(code, (".stat",), rng, f"flex: none; {size} padding: 0; overflow: hidden;")


def off_canvas_shape(code: str, rng: random.Random):
    """The slide's accent box pushed past the slide's right edge (a transform moves it in
    flow and absolutely placed alike)."""
    shift = rng.choice((500, 700, 900))
    return _declare(code, (".stat",), rng, f"transform: translateX({shift}px);")


def staggered_cards(code: str, rng: random.Random):
    """A flex or grid row of cards centred across the row while its first card is taller:
    the cards' tops no longer line up. The extra height is a rule on the same line, so the
    labeled line holds both."""
    rules = css_rules(code)
    number = rules.get(".cards")
    if number is None:
        return None
    line = code.split("\n")[number - 1]
    if not re.search(r"display:\s*(flex|grid)\b", line):
        return None
    extra = rng.choice((60, 80, 100))
    edited = (
        line.rstrip()[:-1].rstrip()
        + f" align-items: center; }} .cards > :first-child {{ padding-bottom: {extra}px; }}"
    )
    return _replace_line(code, number, edited), (number,)


# --------------------------------------------------------------------------- python-pptx
# Edits find the statements that make shapes (`add_textbox`, `add_shape`, `add_table`) and
# follow plain assignments (`frame = box.text_frame`, `run = para.add_run()`) from each name
# back to the shape it came from, so a font or color statement is known to belong to a shape.

_ADD = ("add_textbox", "add_shape", "add_table")
_EMU_PER_INCH = 914400
# The default template's placeholders (left, top, width, height in inches) by layout index,
# in placeholder order: moved shapes stay clear of them, or land on their text.
_PLACEHOLDERS = {
    0: ((0.75, 2.33, 8.5, 1.61), (1.5, 4.25, 7.0, 1.92)),
    1: ((0.5, 0.3, 9.0, 1.25), (0.5, 1.75, 9.0, 4.95)),
    5: ((0.5, 0.3, 9.0, 1.25),),
}
LIGHT_GREYS = (0xC8, 0xD0, 0xD9, 0xE0)


def _root(node: ast.AST) -> str | None:
    """The name an expression chain starts from: `run` in `run.font.color.rgb`."""
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _chain(node: ast.AST) -> list[str]:
    """Attribute names along an expression chain, outermost first."""
    names = []
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        if isinstance(node, ast.Attribute):
            names.append(node.attr)
        node = node.func if isinstance(node, ast.Call) else node.value
    return names


def _length(node: ast.AST, slide: tuple[float, float]) -> float | None:
    """Inches of a literal length: Inches/Pt/Cm/Emu(constant), a bare EMU count or the
    presentation's slide width or height."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return node.value / _EMU_PER_INCH
    if isinstance(node, ast.Attribute) and node.attr in ("slide_width", "slide_height"):
        return slide[node.attr == "slide_height"]
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, int | float)
    ):
        scale = {"Inches": 1, "Pt": 1 / 72, "Cm": 1 / 2.54, "Emu": 1 / _EMU_PER_INCH}
        if node.func.id in scale:
            return node.args[0].value * scale[node.func.id]
    return None


@dataclasses.dataclass
class _Shape:
    """What a program does to one shape, as far as its literal arguments tell."""

    method: str  # add_textbox, add_shape, add_table or placeholder
    box: tuple[float, float, float, float] | None  # left, top, right, bottom in inches
    call: ast.Call | None = None  # the statement that made it (None: a layout placeholder)
    text: bool = False  # text is written into it
    texts: list[str] = dataclasses.field(default_factory=list)  # literal texts written
    size: float = 18.0  # its largest font size set, in points
    fixed: bool = False  # its box does not grow with its text
    wraps: bool = False  # its text wraps at the box's width
    moved: bool = False  # a later statement sets its position or size


def _placeholder(node: ast.AST) -> int | None:
    """The placeholder index an expression goes through: `slide.shapes.title` (0) or
    `slide.placeholders[1]`."""
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "title"
            and _chain(node.value)[:1] == ["shapes"]
        ):
            return 0
        if (
            isinstance(node, ast.Subscript)
            and _chain(node.value)[:1] == ["placeholders"]
            and isinstance(node.slice, ast.Constant)
        ):
            return node.slice.value
        node = node.func if isinstance(node, ast.Call) else node.value
    return None


def _deck(code: str):
    """(slide width and height in inches, shapes by name, the shape each variable's value
    derives from, the program's assignment statements) of a python-pptx program with one
    slide's worth of shapes, or None when it does not parse. Layout placeholders are named
    `#<idx>`."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    assigns = [n for n in ast.walk(tree) if isinstance(n, ast.Assign) and len(n.targets) == 1]
    assigns.sort(key=lambda n: n.lineno)
    slide = [10.0, 7.5]
    for node in assigns:
        target = node.targets[0]
        if isinstance(target, ast.Attribute) and target.attr in ("slide_width", "slide_height"):
            value = _length(node.value, (10.0, 7.5))
            if value is not None:
                slide[target.attr == "slide_height"] = value
    shapes: dict[str, _Shape] = {}
    owner: dict[str, str] = {}  # variable -> the shape it was derived from
    for node in assigns:
        target, value = node.targets[0], node.value
        if isinstance(value, ast.Call) and "add_slide" in _chain(value) and value.args:
            layout = value.args[0]
            if isinstance(layout, ast.Subscript) and isinstance(layout.slice, ast.Constant):
                for idx, (x, y, w, h) in enumerate(_PLACEHOLDERS.get(layout.slice.value, ())):
                    shapes[f"#{idx}"] = _Shape("placeholder", (x, y, x + w, y + h))
        if isinstance(target, ast.Name):
            is_call = isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute)
            method = value.func.attr if is_call else None
            if method in _ADD:
                lengths = [_length(arg, tuple(slide)) for arg in value.args[-4:]]
                box = None
                if len(value.args) >= 4 and None not in lengths:
                    x, y, w, h = lengths
                    box = (x, y, x + w, y + h)
                shapes[target.id] = _Shape(method, box, value, fixed=method == "add_shape")
                owner[target.id] = target.id
            elif _placeholder(value) is not None:
                owner[target.id] = f"#{_placeholder(value)}"
            elif _root(value) in owner:
                owner[target.id] = owner[_root(value)]
            continue
        if not isinstance(target, ast.Attribute):
            continue
        index = _placeholder(target)
        shape = shapes.get(f"#{index}" if index is not None else owner.get(_root(target), ""))
        if shape is None:
            continue
        if target.attr == "text" and shape.method != "add_table":
            shape.text = True
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                shape.texts.append(value.value)
        elif _chain(target)[:2] == ["size", "font"] and _length(value, (10.0, 7.5)):
            shape.size = max(shape.size, _length(value, (10.0, 7.5)) * 72)
        elif target.attr == "auto_size" and _chain(value)[:1] == ["NONE"]:
            shape.fixed = True
        elif target.attr == "word_wrap" and isinstance(value, ast.Constant):
            shape.wraps = bool(value.value)
        elif target.attr in ("left", "top", "width", "height") and shape.box is not None:
            length = _length(value, tuple(slide))
            x0, y0, x1, y1 = shape.box
            shape.moved = True
            shape.box = (
                None
                if length is None
                else {
                    "left": (length, y0, length + x1 - x0, y1),
                    "top": (x0, length, x1, length + y1 - y0),
                    "width": (x0, y0, x0 + length, y1),
                    "height": (x0, y0, x1, y0 + length),
                }[target.attr]
            )
    for shape in shapes.values():  # autoshapes and placeholders wrap unless told not to
        shape.wraps = shape.wraps or shape.method in ("add_shape", "placeholder")
    return (slide[0], slide[1]), shapes, owner, assigns


def _overlap(a, b) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def _inside(inner, outer) -> bool:
    return all(inner[i] >= outer[i] for i in (0, 1)) and all(inner[i] <= outer[i] for i in (2, 3))


def _move(code: str, shape: _Shape, left: float, top: float) -> str:
    """The shape's creating call with its left and top replaced."""
    edited = ast.parse(ast.unparse(shape.call), mode="eval").body
    edited.args[-4] = ast.parse(f"Inches({round(left, 2):g})", mode="eval").body
    edited.args[-3] = ast.parse(f"Inches({round(top, 2):g})", mode="eval").body
    return replace_segment(code, shape.call, ast.unparse(edited))


def _movable(shapes: dict[str, _Shape]) -> list[_Shape]:
    """Shapes made on one line with a literal box that no later statement changes."""
    return [
        s
        for s in shapes.values()
        if s.call is not None and s.box and not s.moved and s.call.lineno == s.call.end_lineno
    ]


def pptx_font_too_large(code: str, rng: random.Random):
    """The font sizes of a text shape whose box does not grow with its text made three to
    four times as large: the text runs out of its box (all of them, as a short bold lead-in
    grown alone may still fit)."""
    deck = _deck(code)
    if deck is None:
        return None
    _, shapes, owner, assigns = deck
    sizes: dict[str, list[ast.Assign]] = {}
    for node in assigns:
        target, value = node.targets[0], node.value
        name = owner.get(_root(target) or "", "")
        shape = shapes.get(name)
        if (
            shape is not None
            and shape.fixed
            and shape.text
            and isinstance(target, ast.Attribute)
            and _chain(target)[:2] == ["size", "font"]
            and isinstance(value, ast.Call)
            and getattr(value.func, "id", None) == "Pt"
            and node.lineno == node.end_lineno
            and _length(value, (10.0, 7.5)) is not None
        ):
            sizes.setdefault(name, []).append(node)
    nodes = sizes[_pick(rng, sorted(sizes))] if sizes else None
    if nodes is None:
        return None
    scale = rng.choice((3, 3.5, 4))
    for node in nodes:
        code = replace_segment(code, node.value, f"Pt({round(node.value.args[0].value * scale)})")
    return code, tuple(node.lineno for node in nodes)


def pptx_box_too_small(code: str, rng: random.Random):
    """A text shape that does not grow with its text made a fraction of a line tall: the
    text spills out of it."""
    deck = _deck(code)
    if deck is None:
        return None
    call = _pick(rng, [s.call for s in _movable(deck[1]) if s.fixed and s.text])
    if call is None:
        return None
    edited = ast.parse(ast.unparse(call), mode="eval").body
    edited.args[-1] = ast.parse(f"Inches({rng.choice((0.12, 0.15, 0.18))})", mode="eval").body
    return replace_segment(code, call, ast.unparse(edited)), (call.lineno,)


def pptx_off_slide(code: str, rng: random.Random):
    """A shape that touches no other moved so that most of it lies past an edge of the slide,
    still clear of every other shape (so it overlaps nothing on its way)."""
    deck = _deck(code)
    if deck is None:
        return None
    (width, height), shapes, _, _ = deck
    options = []
    for shape in _movable(shapes):
        x0, y0, x1, y1 = shape.box
        others = [s.box for s in shapes.values() if s is not shape and s.box]
        if _drawn_size(shape) is None or any(_overlap(shape.box, other) for other in others):
            continue  # a panel with text laid on it, or such text: moving it bares the text
        w, h = _drawn_size(shape)  # what is drawn goes past the edge, not an empty box
        share = rng.choice((0.5, 0.6, 0.7))  # of the shape past the edge
        for left, top in (
            (width - (1 - share) * w, y0),
            (x0, height - (1 - share) * h),
            (-share * w, y0),
            (x0, -share * h),
        ):
            moved = (left, top, left + x1 - x0, top + y1 - y0)
            if all(_overlap(moved, other) == 0 for other in others):
                options.append((shape, left, top))
    choice = _pick(rng, options)
    if choice is None:
        return None
    shape, left, top = choice
    return _move(code, shape, left, top), (shape.call.lineno,)


def _text_width(shape: _Shape) -> float:
    """Inches its longest text's first line spans: a rough guess (Carlito averages about
    0.42 em a character)."""
    longest = max(map(len, shape.texts), default=0)
    return min(shape.box[2] - shape.box[0] - 0.2, longest * shape.size * 0.42 / 72)


def _drawn_size(shape: _Shape) -> tuple[float, float] | None:
    """(width, height) in inches the shape is drawn at: its box, except for a text box that
    fits itself to its text: as tall as a rough guess of its wrapped text (None where it does
    not wrap either, so its width follows the text too)."""
    w, h = shape.box[2] - shape.box[0], shape.box[3] - shape.box[1]
    if shape.method != "add_textbox" or shape.fixed:
        return w, h
    if not shape.wraps:
        return None
    line = shape.size * 1.2 / 72
    length = sum(map(len, shape.texts)) * shape.size * 0.42 / 72
    return w, min(h, (int(length / max(w - 0.2, 0.1)) + 1) * line + 0.1)


def pptx_text_over_text(code: str, rng: random.Random):
    """A text shape moved onto another one's text, a tenth of an inch below its top, neither
    inside the other: hanging off the other's left side with its own text running into the
    start of the other's, or, where the other's text fills its width, with its left edge
    halfway into the other. Clear of every other shape."""
    deck = _deck(code)
    if deck is None:
        return None
    (width, height), shapes, _, _ = deck
    boxes = [s.box for s in shapes.values() if s.box]
    targets = [s for s in shapes.values() if s.box and s.text and s.wraps]
    options = []
    for shape in _movable(shapes):
        if not (shape.text and shape.wraps):
            continue
        if any(_inside(shape.box, b) and b != shape.box for b in boxes):
            continue  # text laid on a panel: moving it off the panel changes its contrast too
        x0, y0, x1, y1 = shape.box
        w, h = x1 - x0, y1 - y0
        for other in targets:
            if other is shape:
                continue
            ox0, oy0, ox1, _ = other.box
            lefts = []
            if _text_width(shape) > 0.6:
                lefts.append(ox0 - 0.5 * _text_width(shape))
            if other.method == "placeholder" or _text_width(other) >= 0.9 * (ox1 - ox0 - 0.2):
                lefts.append(ox1 - 0.5 * min(w, ox1 - ox0))
            rest = [b for b in boxes if b not in (shape.box, other.box)]
            for left in lefts:
                moved = (left, oy0 + 0.1, left + w, oy0 + 0.1 + h)
                if (
                    min(moved[:2]) >= 0
                    and moved[2] <= width
                    and moved[3] <= height
                    and not _inside(moved, other.box)
                    and all(_overlap(moved, b) == 0 for b in rest)
                ):
                    options.append((shape, left, oy0 + 0.1))
    choice = _pick(rng, options)
    if choice is None:
        return None
    shape, left, top = choice
    return _move(code, shape, left, top), (shape.call.lineno,)


def pptx_light_grey_text(code: str, rng: random.Random):
    """A dark text color (so one on a light background) turned light grey."""
    candidates = []
    for node in _calls(code, "RGBColor"):
        values = [a.value for a in node.args if isinstance(a, ast.Constant)]
        if len(values) == 3 and node.lineno == node.end_lineno and sum(values) < 3 * 0x60:
            candidates.append(node)
    lines = code.split("\n")
    candidates = [
        c for c in candidates if re.search(r"\.font\.color\.rgb\s*=", lines[c.lineno - 1])
    ]
    node = _pick(rng, candidates)
    if node is None:
        return None
    grey = f"0x{rng.choice(LIGHT_GREYS):02X}"
    return replace_segment(code, node, f"RGBColor({grey}, {grey}, {grey})"), (node.lineno,)


PYTHON = ("chart",)
HTML = ("web", "slide_html")
PPTX = ("slide_pptx",)
INJECTIONS: dict[str, Injection] = {
    i.name: i
    for i in (
        Injection("long_tick_labels", PYTHON, "text_overlap", long_tick_labels.__doc__, long_tick_labels),
        Injection("legend_over_data", PYTHON, "legend_occlusion", legend_over_data.__doc__, legend_over_data),
        Injection("text_outside_axes", PYTHON, "off_canvas", text_outside_axes.__doc__, text_outside_axes),
        Injection("low_contrast_mark", PYTHON, "low_contrast", low_contrast_mark.__doc__, low_contrast_mark),
        Injection("figure_too_small", PYTHON, "text_overlap", figure_too_small.__doc__, figure_too_small,
                  also=("clipped_text", "off_canvas", "overflow", "legend_occlusion", "low_contrast",
                        "layout_warning")),
        Injection("unclipped_artist", PYTHON, "overflow", unclipped_artist.__doc__, unclipped_artist,
                  also=("text_overlap", "clipped_text", "layout_warning")),
        Injection("misaligned_panels", PYTHON, "misalignment", misaligned_panels.__doc__, misaligned_panels),
        Injection("length_mismatch", PYTHON, ERROR, length_mismatch.__doc__, length_mismatch),
        Injection("misspelled_method", PYTHON, ERROR, misspelled_method.__doc__, misspelled_method),
        Injection("undefined_name", PYTHON, ERROR, undefined_name.__doc__, undefined_name),
        Injection("unclosed_call", PYTHON, ERROR, unclosed_call.__doc__, unclosed_call),
        Injection("fixed_height_clip", HTML, "clipped_text", fixed_height_clip.__doc__, fixed_height_clip),
        Injection("wide_overflow", ("web",), "overflow", wide_overflow.__doc__, wide_overflow),
        Injection("tight_line_height", HTML, "text_overlap", tight_line_height.__doc__, tight_line_height),
        Injection("negative_margin", ("web",), "text_overlap", negative_margin.__doc__, negative_margin),
        Injection("low_contrast_text", HTML, "low_contrast", low_contrast_text.__doc__, low_contrast_text),
        Injection("text_overflows_box", ("slide_html",), "clipped_text", text_overflows_box.__doc__, text_overflows_box),
        Injection("off_canvas_shape", ("slide_html",), "off_canvas", off_canvas_shape.__doc__, off_canvas_shape),
        Injection("staggered_cards", ("web",), "misalignment", staggered_cards.__doc__, staggered_cards),
        Injection("pptx_font_too_large", PPTX, "text_overflow", pptx_font_too_large.__doc__, pptx_font_too_large),
        Injection("pptx_box_too_small", PPTX, "text_overflow", pptx_box_too_small.__doc__, pptx_box_too_small),
        Injection("pptx_off_slide", PPTX, "off_canvas", pptx_off_slide.__doc__, pptx_off_slide),
        Injection("pptx_text_over_text", PPTX, "text_overlap", pptx_text_over_text.__doc__, pptx_text_over_text),
        Injection("pptx_light_grey_text", PPTX, "low_contrast", pptx_light_grey_text.__doc__, pptx_light_grey_text),
    )
}  # fmt: skip


def for_domain(domain: str, *, errors: bool | None = None) -> list[Injection]:
    """The injections that apply to `domain`'s programs; `errors`: only the ones that break
    the program (True), only visible defects (False), or both (None)."""
    return [
        i
        for i in INJECTIONS.values()
        if domain in i.domains and (errors is None or (i.kind == ERROR) == errors)
    ]


def inject(code: str, domain: str, rng: random.Random, *, errors: bool = False) -> Injected | None:
    """One injection drawn at random among those that apply to `code`, or None if none does."""
    candidates = for_domain(domain, errors=errors)
    rng.shuffle(candidates)
    for injection in candidates:
        injected = injection.apply(code, rng)
        if injected is not None:
            return injected
    return None
