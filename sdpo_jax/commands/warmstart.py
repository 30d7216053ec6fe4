"""`python -m sdpo_jax warmstart CONFIG [key.sub=value ...]` (make warmstart CONFIG=...): the
supervised warm start the tiny recipes begin from (`sdpo_jax.warmstart.sft`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from sdpo_jax.commands import one_line_errors
from sdpo_jax.config import parse_args


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    config, _ = parse_args(argv)
    with one_line_errors():
        from sdpo_jax.warmstart.sft import warmstart

        warmstart(config, ["python", "-m", "sdpo_jax", "warmstart", *argv])


if __name__ == "__main__":
    main()
