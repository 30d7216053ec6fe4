"""Clean python-pptx programs."""

from __future__ import annotations

STYLES = ()
