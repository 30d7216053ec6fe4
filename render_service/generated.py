"""Executing untrusted model-written source as `<generated>` and reporting failures in its terms.

Every renderer that runs Python (chart, pptx) compiles the code under one filename so that
tracebacks, warnings and artist tracing can tell the model's lines from library lines. Errors
come back as one line first ("NameError: name 'x' is not defined (line 3)") followed by only
the generated code's frames: the teacher sees what it wrote, not matplotlib internals.
"""

from __future__ import annotations

import linecache
import sys
import traceback
import types

GENERATED = "<generated>"


class GeneratedCodeError(Exception):
    """The generated code failed to compile or run; `str()` is the cleaned report."""


class _Running:
    """The module code now being executed and, once found, its frame.

    Code without functions, lambdas, classes or comprehensions runs in that one frame only, so
    its current line is read off the frame instead of walking matplotlib's deep stack for each
    of the hundreds of artists a chart makes.
    """

    code = None
    frame = None


def exec_generated(source: str, namespace: dict) -> None:
    """Compile and run `source` in `namespace`; raise GeneratedCodeError with a cleaned report."""
    lines = source.splitlines(keepends=True)
    linecache.cache[GENERATED] = (len(source), None, lines, GENERATED)
    try:
        code = compile(source, GENERATED, "exec")
    except SyntaxError as err:
        raise GeneratedCodeError(_syntax_report(err)) from None
    flat = not any(isinstance(const, types.CodeType) for const in code.co_consts)
    _Running.code, _Running.frame = (code if flat else None), None
    try:
        exec(code, namespace)
    except GeneratedCodeError:
        raise
    except BaseException as err:  # SystemExit too: the code must not end the renderer
        raise GeneratedCodeError(error_report(err)) from None
    finally:
        _Running.code = _Running.frame = None


def current_generated_line() -> int | None:
    """The innermost line of generated code on the calling thread's stack, if any."""
    if _Running.frame is not None:
        return _Running.frame.f_lineno
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename == GENERATED:
            if frame.f_code is _Running.code:
                _Running.frame = frame
            return frame.f_lineno
        frame = frame.f_back
    return None


def error_report(err: BaseException) -> str:
    """One-line summary naming the last generated line, then the generated frames only."""
    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename == GENERATED]
    summary = f"{type(err).__name__}: {err}".rstrip(": ")
    if not frames:
        return summary
    body = [f"  line {f.lineno}: {(f.line or '').strip()}" for f in frames]
    return f"{summary} (line {frames[-1].lineno})\nTraceback (generated code):\n" + "\n".join(body)


def _syntax_report(err: SyntaxError) -> str:
    text = (err.text or "").rstrip("\n")
    report = f"SyntaxError: {err.msg} (line {err.lineno})"
    if text:
        caret = " " * max((err.offset or 1) - 1, 0) + "^"
        report += f"\n  {text}\n  {caret}"
    return report
