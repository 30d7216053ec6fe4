"""Known defects injected into clean programs, one entry per (domain, kind) of defect.

Each injection takes a clean program and a seeded `random.Random` and returns the program with
one defect of a known kind caused at known lines, or None when the program has no statement it
can change. Two users:
- the warm start (`sdpo_jax.warmstart`) teaches the tiny policy to write programs of which a
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


def _replace_segment(code: str, node: ast.AST, text: str) -> str:
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
    return _replace_segment(code, call, ast.unparse(edited)), (call.lineno,)


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
    return _replace_segment(code, call, text), (call.lineno,)


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
        return _replace_segment(code, call, _with_keywords(call, color=faint)), (call.lineno,)
    call = _pick(rng, titles)
    if call is None:
        return None
    return _replace_segment(code, call, _with_keywords(call, color=faint)), (call.lineno,)


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
    return _replace_segment(code, call, _with_keywords(call, figsize=size)), (call.lineno,)


def unclipped_artist(code: str, rng: random.Random):
    """A line drawn with clip_on=False under a y limit it exceeds: it leaves the axes. Under
    tight_layout the stray line also squeezes the plots, so their texts may collide."""
    calls = [c for c in _single_line(_calls(code, "plot")) if _receiver(c) and len(c.args) >= 2]
    calls = [c for c in calls if _number_list(c.args[1])]
    call = _pick(rng, calls)
    if call is None:
        return None
    values = [e.value for e in call.args[1].elts]
    top = max(1, round(min(values) + (max(values) - min(values)) * 0.4))
    code = _replace_segment(code, call, _with_keywords(call, clip_on="False"))
    code, limit = _insert_after(code, call.lineno, f"{_receiver(call)}.set_ylim(0, {top})")
    return code, (call.lineno, limit)


def misaligned_panels(code: str, rng: random.Random):
    """One of the panels placed by hand (add_axes / plt.axes with a [left, bottom, width,
    height] list) nudged up or down by about 1% of the figure: its edges almost, but not
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
    bottom = edited.args[0].elts[1]
    bottom.value = round(bottom.value + rng.choice((-1, 1)) * rng.choice((0.012, 0.015)), 3)
    return _replace_segment(code, call, ast.unparse(edited)), (call.lineno,)


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
    return _replace_segment(code, call, ast.unparse(edited)), (call.lineno,)


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


PYTHON = ("chart",)
HTML = ("web", "slide_html")
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
