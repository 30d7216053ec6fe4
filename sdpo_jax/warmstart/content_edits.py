"""Content edits: a gold program changed in one thing its benchmark scores.

Charts (`EDITS`, what ChartMimic scores): a title or axis label, a mark's colour, a plot call.
Web pages and HTML slides (`PAGE_EDITS`, what Design2Code's blocks score): a heading's or a
paragraph's words, a text colour.

The warm start revises such attempts toward the gold program with `teacher.departures` on.
The edited program still runs, and the small prompt image cannot show a title's words:
the departures, which name the change, are what the loss on the changed tokens can be lowered
from. (An edit can cause a defect too, as bars turned horizontal can crowd their labels.) These
attempts teach the policy to read what the feedback says, not only that there is some.

Each edit takes the program, a donor program (another train item's gold) and a seeded
`random.Random`, and returns the edited program, or None where it finds nothing to change.
"""

from __future__ import annotations

import ast
import difflib
import random
import re
from collections.abc import Callable

from render_service.injections import replace_segment

TEXT_CALLS = ("set_title", "set_xlabel", "set_ylabel", "suptitle")
# Plot calls swapped for another that draws the same data another way, with the keywords
# renamed that the other call names differently (a stacked bar's `bottom` is a `left`).
SWAPS = {"bar": "barh", "barh": "bar", "plot": "scatter", "scatter": "plot", "fill_between": "plot"}
BAR_KEYWORDS = {"bottom": "left", "width": "height"}
RENAMED = {
    "barh": BAR_KEYWORDS,
    "bar": {new: old for old, new in BAR_KEYWORDS.items()},
}


def calls(code: str) -> list[ast.Call]:
    """Single-line method calls in `code` (`x.name(...)`), in source order; none when it does
    not parse."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    found = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.lineno == node.end_lineno
    ]
    return sorted(found, key=lambda n: (n.lineno, n.col_offset))


def _strings(code: str, pick: Callable[[ast.Call], ast.AST | None]) -> list[tuple[ast.AST, str]]:
    """The string constants `pick` selects from the calls of `code`, with their values."""
    nodes = [pick(call) for call in calls(code)]
    return [(n, n.value) for n in nodes if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _text_argument(call: ast.Call) -> ast.AST | None:
    return call.args[0] if call.func.attr in TEXT_CALLS and call.args else None


def _color_keyword(call: ast.Call) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == "color"), None)


def _swap_string(code: str, donor: str, rng: random.Random, pick) -> str | None:
    """One string `pick` selects in `code` replaced by a different one from `donor`."""
    ours = _strings(code, pick)
    theirs = sorted({value for _, value in _strings(donor, pick)})
    if not ours:
        return None
    node, value = rng.choice(ours)
    options = [t for t in theirs if t != value and t not in {v for _, v in ours}]
    if not options:
        return None
    return replace_segment(code, node, repr(rng.choice(options)))


def retitle(code: str, donor: str, rng: random.Random) -> str | None:
    """A title or axis label takes the donor's words: a text departure."""
    return _swap_string(code, donor, rng, _text_argument)


def recolor(code: str, donor: str, rng: random.Random) -> str | None:
    """A mark's colour takes one of the donor's: a colour departure."""
    return _swap_string(code, donor, rng, _color_keyword)


def retype(code: str, donor: str, rng: random.Random) -> str | None:
    """A plot call becomes one that draws the same data another way (bars turned horizontal,
    a line drawn as points): a plot-call departure. `donor` is unused: the swap is fixed."""
    del donor
    swappable = [c for c in calls(code) if c.func.attr in SWAPS]
    if not swappable:
        return None
    chosen = rng.choice(swappable)
    call = ast.parse(ast.unparse(chosen), mode="eval").body
    swapped = SWAPS[call.func.attr]
    renamed = RENAMED.get(swapped, {})
    call.func.attr = swapped
    for keyword in call.keywords:
        keyword.arg = renamed.get(keyword.arg, keyword.arg)
    return replace_segment(code, chosen, ast.unparse(call))


EDITS: dict[str, Callable[[str, str, random.Random], str | None]] = {
    "retitle": retitle,
    "recolor": recolor,
    "retype": retype,
}


# An element's own text (no markup inside), and a text colour declaration in CSS.
_HEADING = re.compile(r"<(h[1-6])(\s[^<>]*)?>([^<>]+)</\1>")
_WORDS = re.compile(r"<(p|li)(\s[^<>]*)?>([^<>]+)</\1>")
_TEXT_COLOR = re.compile(r"(?<![-\w])color:\s*(#[0-9a-fA-F]{3,6})\b")


def _swap_match(code: str, donor: str, rng: random.Random, pattern: re.Pattern, group: int):
    """One `pattern` match's `group` in `code` replaced by a different value from `donor`."""
    ours = list(pattern.finditer(code))
    values = {m.group(group) for m in ours}
    options = sorted({m.group(group) for m in pattern.finditer(donor)} - values)
    if not ours or not options:
        return None
    chosen = rng.choice(ours)
    start, end = chosen.span(group)
    return code[:start] + rng.choice(options) + code[end:]


def retitle_page(code: str, donor: str, rng: random.Random) -> str | None:
    """A heading takes the words of one of the donor's: a block that reads otherwise."""
    return _swap_match(code, donor, rng, _HEADING, 3)


def reword_page(code: str, donor: str, rng: random.Random) -> str | None:
    """A paragraph or list item takes the words of one of the donor's."""
    return _swap_match(code, donor, rng, _WORDS, 3)


def recolor_page(code: str, donor: str, rng: random.Random) -> str | None:
    """A CSS text colour takes one of the donor's: blocks coloured otherwise."""
    return _swap_match(code, donor, rng, _TEXT_COLOR, 1)


PAGE_EDITS: dict[str, Callable[[str, str, random.Random], str | None]] = {
    "retitle": retitle_page,
    "reword": reword_page,
    "recolor": recolor_page,
}
EDIT_NAMES = frozenset(EDITS) | frozenset(PAGE_EDITS)


def edits_for(domain: str) -> dict[str, Callable[[str, str, random.Random], str | None]]:
    """The content edits of a render domain's programs (none for python-pptx decks)."""
    return {"chart": EDITS, "web": PAGE_EDITS, "slide_html": PAGE_EDITS}.get(domain, {})


def changed_tokens(tokenizer, before: str, after: str) -> list[int]:
    """Positions of the tokens of `after` that differ from `before`, token by token; where
    tokens were only removed, the two tokens around the gap."""
    ours = tokenizer.encode(before, add_special_tokens=False)
    theirs = tokenizer.encode(after, add_special_tokens=False)
    changed = set()
    matcher = difflib.SequenceMatcher(None, ours, theirs, autojunk=False)
    for op, _, _, start, end in matcher.get_opcodes():
        if op != "equal":
            changed.update(range(start, end) if end > start else (start - 1, start))
    return sorted(i for i in changed if 0 <= i < len(theirs))
