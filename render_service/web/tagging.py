"""Mark every start tag of submitted HTML with its index, so rendered elements map back to lines.

The browser's DOM loses source positions; an attribute added inside each start tag survives
parsing. Nothing is inserted that contains a newline, so line numbers stay those of the
submission. The browser reports CSS positions relative to a `<style>` element's text or a
`style` attribute's value, so those starting lines are kept too.
"""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser

TAG_ATTR = "data-vsl"
_STYLE_ATTR = re.compile(r"""\sstyle\s*=\s*["']?""", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class TagLines:
    """1-based lines of one start tag: the tag, the text after it, its `style` attribute value."""

    tag: int
    content: int
    style_attr: int


class _StartTagFinder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[int, int, str, str]] = []  # (line, column, name, start tag text)

    def handle_starttag(self, tag, attrs):
        line, col = self.getpos()
        text = self.get_starttag_text() or ""
        self.tags.append((line, col, text[1 : 1 + len(tag)], text))

    handle_startendtag = handle_starttag


def tag_html(html: str) -> tuple[str, list[TagLines]]:
    """Return `html` with `data-vsl="i"` in the i-th start tag, and the lines of each tag."""
    finder = _StartTagFinder()
    finder.feed(html)
    finder.close()
    line_starts = [0] + [m.end() for m in re.finditer("\n", html)]
    pieces, lines, cursor = [], [], 0
    for index, (line, col, name, text) in enumerate(finder.tags):
        at = line_starts[line - 1] + col + 1 + len(name)
        pieces.append(html[cursor:at])
        pieces.append(f' {TAG_ATTR}="{index}"')
        cursor = at
        style = _STYLE_ATTR.search(text)
        style_line = line + (text.count("\n", 0, style.end()) if style else 0)
        lines.append(TagLines(line, line + text.count("\n"), style_line))
    pieces.append(html[cursor:])
    return "".join(pieces), lines
