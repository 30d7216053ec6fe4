"""Trace the CSS declarations that decide a property of an element to their source lines.

Chromium's DevTools protocol (`CSS.getMatchedStylesForNode`) lists, for one node, the author
rules that match it in cascade order with each declaration's position inside its `<style>`
element or `style` attribute; `tagging.TagLines` turns those into lines of the submission.
The winning declaration for a property is the last one in cascade order (the last `!important`
one when any is important); inherited properties fall back to the nearest ancestor that sets
them. A pseudo-element's declarations are its host's rules for it (`h2::after`), and it inherits
from its host.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.sync_api import CDPSession

from render_service.web.tagging import TAG_ATTR, TagLines

INHERITED = frozenset(
    {"color", "font-size", "font-weight", "font-family", "line-height", "white-space"}
)
# Shorthands whose names are not a prefix of the longhands they set.
_SHORTHANDS = {
    "inset": ("top", "right", "bottom", "left"),
    "font": ("font-size", "font-weight", "font-family", "line-height"),
    "flex-flow": ("flex-direction", "flex-wrap"),
    "place-self": ("align-self", "justify-self"),
}

_ANCESTOR_TAGS = """([attr, index]) => {
  const chain = [];
  let el = document.querySelector(`[${attr}="${index}"]`)?.parentElement;
  for (; el; el = el.parentElement) chain.push(el.getAttribute(attr));
  return chain;
}"""


def _sets(declared: str, wanted: str) -> bool:
    return (
        declared == wanted
        or wanted.startswith(declared + "-")
        or wanted in _SHORTHANDS.get(declared, ())
    )


class CssTracer:
    """Answers `lines(element_index, properties)` for the page currently loaded in the tab."""

    def __init__(
        self,
        evaluate: Callable[[str, Any], Any],
        cdp: CDPSession,
        sheets: list[dict],
        tags: list[TagLines],
    ):
        """`evaluate(function, arg)` runs JavaScript on the page (`Browser.evaluate`); `cdp`
        has DOM and CSS enabled; `sheets` are the page's `styleSheetAdded` headers."""
        self._evaluate = evaluate
        self._tags = tags
        self._cdp = cdp
        self._sheet_owner: dict[str, int] = {}  # styleSheetId -> tagged index of its <style>
        for header in sheets:
            if header.get("ownerNode"):
                node = cdp.send("DOM.describeNode", {"backendNodeId": header["ownerNode"]})["node"]
                index = self._tag_index(node.get("attributes", []))
                if index is not None:
                    self._sheet_owner[header["styleSheetId"]] = index
        self._root = cdp.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]

    @staticmethod
    def _tag_index(attributes: list[str]) -> int | None:
        pairs = dict(zip(attributes[::2], attributes[1::2]))
        return int(pairs[TAG_ATTR]) if TAG_ATTR in pairs else None

    def _declarations(self, style: dict, base_line: int) -> list[tuple[str, bool, int]]:
        return [
            (prop["name"], bool(prop.get("important")), base_line + prop["range"]["startLine"])
            for prop in style.get("cssProperties", [])
            if "range" in prop and not prop.get("disabled")
        ]

    def _author_declarations(self, rules: list[dict], inline: dict | None, index: int):
        """(name, important, line) in cascade order: matched author rules, then `style=`."""
        found = []
        for match in rules:
            rule = match["rule"]
            owner = self._sheet_owner.get(rule.get("styleSheetId", ""))
            if rule.get("origin") == "regular" and owner is not None:
                found += self._declarations(rule["style"], self._tags[owner].content)
        if inline:
            found += self._declarations(inline, self._tags[index].style_attr)
        return found

    def lines(
        self, index: int, properties: tuple[str, ...], pseudo: str | None = None
    ) -> tuple[int, ...]:
        """Lines of the declarations that decide `properties` of tagged element `index`, or of
        its pseudo-element `pseudo` (`"after"`)."""
        node = self._cdp.send(
            "DOM.querySelector", {"nodeId": self._root, "selector": f'[{TAG_ATTR}="{index}"]'}
        )["nodeId"]
        if not node:
            return ()
        matched = self._cdp.send("CSS.getMatchedStylesForNode", {"nodeId": node})
        element = self._author_declarations(
            matched.get("matchedCSSRules", []), matched.get("inlineStyle"), index
        )
        own, parents = element, None  # parents: read only when an inherited property is unset
        if pseudo is not None:
            own = [
                declaration
                for entry in matched.get("pseudoElements", [])
                if entry.get("pseudoType") == pseudo
                for declaration in self._author_declarations(entry.get("matches", []), None, index)
            ]
        found = set()
        for wanted in properties:
            line = _winner(own, wanted)
            if line is None and wanted in INHERITED:
                if parents is None:
                    parents = ([element] if pseudo is not None else []) + self._inherited(
                        matched, index
                    )
                line = next(
                    (ln for decls in parents if (ln := _winner(decls, wanted)) is not None), None
                )
            if line is not None:
                found.add(line)
        return tuple(sorted(found))

    def _inherited(self, matched: dict, index: int) -> list[list[tuple[str, bool, int]]]:
        """Declarations of each ancestor, nearest first: the protocol sends one inherited entry
        per ancestor element; an untagged one (an implied <body>) has no inline style to trace."""
        chain = self._evaluate(_ANCESTOR_TAGS, [TAG_ATTR, index])
        return [
            self._author_declarations(
                level.get("matchedCSSRules", []),
                level.get("inlineStyle") if tag is not None else None,
                int(tag) if tag is not None else 0,
            )
            for level, tag in zip(matched.get("inherited", []), chain)
        ]


def _winner(declarations: list[tuple[str, bool, int]], wanted: str) -> int | None:
    setting = [(important, line) for name, important, line in declarations if _sets(name, wanted)]
    if not setting:
        return None
    important = [line for flag, line in setting if flag]
    return important[-1] if important else setting[-1][1]
