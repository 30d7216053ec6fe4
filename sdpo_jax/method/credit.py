"""Credit weighting: from what the renderer blamed to a weight per completion token.

    w_t = 1 + γ · m_t,   m_t = 1 where token t lies in a statement implicated by a defect or by
                          the execution error; optionally renormalized to mean 1.

The chain, each step a function here:
  completion ──extract_code──► code block and its character offset in the completion
  RenderResult ──implicated_lines──► 1-based code lines (defects' source lines, or the error's)
  lines ──statement_ranges──► whole statements (Python: the enclosing `ast` statement, so a call
                              spread over three lines is weighted whole; HTML or unparsable
                              code: the line itself)
  statements ──statement_spans──► character spans in the completion
  spans + token offsets ──token_weights──► w, one per completion token

Token offsets are (start, end) character pairs, one per completion token: from the sampled ids
(`decode_with_offsets`, exact for what the sampler emitted), from re-encoding the text with any
Hugging Face fast tokenizer (`token_offsets`), or from the caller.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from render_service.types import RenderResult

# The fence info strings that name each domain's language; the first block with one of them is
# the program, else the first block without a language, else the first block.
DOMAIN_LANGUAGES = {
    "chart": ("python", "py", "python3"),
    "slide_pptx": ("python", "py", "python3"),
    "web": ("html", "htm"),
    "slide_html": ("html", "htm"),
}
PYTHON_DOMAINS = ("chart", "slide_pptx")

# A fence line: up to three spaces, three or more backticks or tildes, an optional info string.
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*([^\s`]*)[^\n]*$", re.MULTILINE)
# The render service's errors start with one summary line ending in "(line N)", the last line of
# generated code on the stack; other tracebacks name frames as "line N", innermost last.
_SUMMARY_LINE = re.compile(r"\(line (\d+)\)\s*$")
_ANY_LINE = re.compile(r"\bline (\d+)")

Offsets = Sequence[tuple[int, int]]


def extract_code(completion: str, domain: str) -> tuple[str, int]:
    """The program inside a model completion, and the character offset where it starts.

    `code == completion[offset:offset + len(code)]` always holds, so line numbers of the code map
    back to characters of the completion. The code is the body of a fenced block (```python,
    ```html, plain ```; ~~~ too): the first block tagged with the domain's language, else the
    first untagged block, else the first block. A block whose closing fence is missing (a
    truncated generation) runs to the end. Without any fence the whole completion is the code.
    The renderer runs exactly this string, so its 1-based source lines are lines of it.
    """
    if domain not in DOMAIN_LANGUAGES:
        raise ValueError(f"extract_code: domain={domain!r}; allowed: {tuple(DOMAIN_LANGUAGES)}")
    blocks = []  # (language, start, end) of each block body
    opening = None
    for fence in _FENCE.finditer(completion):
        marker, info = fence.group(1), fence.group(2).lower()
        if opening is None:
            opening = (marker, info, fence.end() + 1)
        elif marker[0] == opening[0][0] and len(marker) >= len(opening[0]) and not info:
            blocks.append((opening[1], opening[2], fence.start()))
            opening = None
    if opening is not None:
        blocks.append((opening[1], min(opening[2], len(completion)), len(completion)))
    if not blocks:
        return completion, 0
    languages = DOMAIN_LANGUAGES[domain]
    chosen = next(
        (b for b in blocks if b[0] in languages),
        next((b for b in blocks if not b[0]), blocks[0]),
    )
    _, start, end = chosen
    return completion[start:end], start


def implicated_lines(result: RenderResult) -> list[int]:
    """The 1-based code lines the render blamed: every defect's source lines when the code ran,
    the failing line of the error when it did not: the "(line N)" closing the error's first line
    (the render service's summary), else the last "line N" in it; none when it names no line."""
    if not result.ok:
        error = result.error or ""
        summary = _SUMMARY_LINE.search(error.split("\n", 1)[0])
        found = [summary.group(1)] if summary else _ANY_LINE.findall(error)[-1:]
        return [int(line) for line in found]
    return sorted({line for defect in result.defects for line in defect.source_lines})


def _python_statements(code: str) -> list[ast.stmt] | None:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    return [node for node in ast.walk(tree) if isinstance(node, ast.stmt)]


def _first_line(node: ast.stmt) -> int:
    """A statement's first line, counting its decorators."""
    return min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])


def _enclosing_statement(statements: list[ast.stmt], line: int) -> tuple[int, int]:
    """The innermost statement around `line`, as a 1-based inclusive line range. For the header
    of a compound statement (`for …:`, `with …:`, `def …:`) only the header, not its body; for a
    line no statement owns alone (`else:`, a blank line) the line itself."""
    around = [s for s in statements if _first_line(s) <= line <= s.end_lineno]
    if not around:
        return line, line
    node = min(around, key=lambda s: s.end_lineno - _first_line(s))
    body = getattr(node, "body", None)
    if not body:
        return _first_line(node), node.end_lineno
    if line < body[0].lineno:
        return _first_line(node), max(node.lineno, body[0].lineno - 1)
    return line, line


def statement_ranges(code: str, lines: Iterable[int], domain: str) -> list[tuple[int, int]]:
    """Each blamed line widened to the whole statement that contains it (1-based, inclusive).
    Python that parses is widened with `ast`; HTML and code that does not parse keep the line.
    Lines outside the code are dropped."""
    num_lines = len(code.splitlines())
    lines = sorted({line for line in lines if 1 <= line <= num_lines})
    statements = _python_statements(code) if domain in PYTHON_DOMAINS else None
    if statements is None:
        return [(line, line) for line in lines]
    return sorted({_enclosing_statement(statements, line) for line in lines})


def statement_spans(code: str, ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Character spans in `code` of line ranges: from the first non-blank character of the first
    line to the last non-blank character of the last line, so indentation and the newlines around
    a statement stay uncredited while everything between (continuation lines) is."""
    starts = np.cumsum([0] + [len(line) for line in code.splitlines(keepends=True)])
    spans = []
    for first, last in ranges:
        first_text = code[starts[first - 1] : starts[first]]
        last_text = code[starts[last - 1] : starts[last]]
        begin = starts[first - 1] + len(first_text) - len(first_text.lstrip())
        end = starts[last - 1] + len(last_text.rstrip())
        if begin < end:
            spans.append((int(begin), int(end)))
    return spans


def token_offsets(tokenizer: Callable, text: str) -> list[tuple[int, int]]:
    """(start, end) character offsets of the tokens of `text` from a Hugging Face fast tokenizer,
    without special tokens: the tokenization the completion gets when re-encoded."""
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    return [tuple(pair) for pair in encoding["offset_mapping"]]


def decode_with_offsets(tokenizer, ids: Sequence[int]) -> tuple[str, list[tuple[int, int]]]:
    """The text of sampled token ids and each token's (start, end) characters in it, for when
    re-encoding the text could split it differently from the sampler. A token that holds part of
    a multi-byte character gets that character's span, as fast tokenizers' own offsets do.

    Text is decoded from the last point where every character was complete, so each step decodes
    a few tokens; that relies on decoding being concatenation there (true of byte-level BPE such
    as Qwen's), which is checked against decoding all ids at once.
    """
    decode = lambda part: tokenizer.decode(part, clean_up_tokenization_spaces=False)
    text, anchor = "", 0  # the text of ids[:anchor], all its characters complete
    offsets, done = [], 0  # `done`: characters complete after the tokens so far
    for n in range(1, len(ids) + 1):
        piece = decode(ids[anchor:n])
        complete = len(text) + len(piece.rstrip("\ufffd"))
        partial = complete < len(text) + len(piece)  # a character still waits for bytes
        offsets.append((done, complete + partial))
        done = complete
        if not partial:
            text, anchor = text + piece, n
    if anchor < len(ids):  # cut off mid-character (max_new_tokens): it decodes as U+FFFD
        text += decode(ids[anchor:])
    full = decode(ids)
    if text != full:
        raise ValueError(
            "decode_with_offsets: this tokenizer does not decode token by token (pieces give "
            f"{text[:40]!r}…, the whole gives {full[:40]!r}…); pass offsets to token_weights"
        )
    return full, offsets


def credited_tokens(spans: Iterable[tuple[int, int]], offsets: Offsets) -> np.ndarray:
    """m_t: True for each token whose characters overlap a span."""
    offsets = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    m = np.zeros(len(offsets), dtype=bool)
    for begin, end in spans:
        m |= (offsets[:, 0] < end) & (offsets[:, 1] > begin)
    return m


def token_weights(
    completion: str,
    result: RenderResult,
    domain: str,
    offsets: Offsets | Callable,
    *,
    gamma: float = 1.0,
    renormalize: bool = False,
) -> np.ndarray:
    """w_t = 1 + γ · m_t for each completion token, float32; divided by its mean when
    `renormalize`, so credit moves weight between tokens without changing the loss scale.

    `offsets` is one (start, end) character pair per completion token, or a Hugging Face fast
    tokenizer to re-encode the completion with. When the sampled ids are at hand prefer
    `decode_with_offsets`: a re-encoding can split the text differently from the sampler.
    """
    if gamma < 0:
        raise ValueError(f"token_weights: gamma={gamma} must be ≥ 0 (0 turns credit off)")
    if callable(offsets):
        offsets = token_offsets(offsets, completion)
    code, code_start = extract_code(completion, domain)
    ranges = statement_ranges(code, implicated_lines(result), domain)
    spans = [(code_start + b, code_start + e) for b, e in statement_spans(code, ranges)]
    weights = 1.0 + gamma * credited_tokens(spans, offsets).astype(np.float32)
    if renormalize and len(weights):
        weights /= weights.mean()
    return weights.astype(np.float32)
