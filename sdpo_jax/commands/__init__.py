"""What a user runs: `python -m sdpo_jax COMMAND ...` (and the make targets of the same names).

train, warmstart, evaluate, eval-compare, export, plan, feedback-gap, feedback-reading: one
module each, whose `main(argv)` parses the command line, calls the part that does the work and
prints what the user asked for. evaluate, eval_compare, export and plan hold their own work too,
since no other part uses it. Commands may import every part of sdpo_jax; no part imports them.

Every command ends a problem its user can fix with one line (`one_line_errors`), never a
traceback from deep inside.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Sequence
from typing import TypeVar

from sdpo_jax.config import Config, parse_args
from sdpo_jax.errors import RunError

T = TypeVar("T")


@contextlib.contextmanager
def one_line_errors():
    """What a command's user can fix, as one line on exit instead of a traceback: a RunError,
    or a package the environment lacks (an install that `make setup` did not finish, or a
    dependency pyproject.toml forgot)."""
    try:
        yield
    except RunError as err:
        sys.exit(f"error: {err}")
    except ImportError as err:
        sys.exit(
            f"error: a package this command needs is missing ({err}). Run `make setup` again; "
            "if that does not bring it, pyproject.toml's dependencies lack it: please report it"
        )


def measured(argv: Sequence[str] | None, measure: Callable[[Config], T]) -> tuple[Config, T]:
    """A measuring command's front door: the config from `argv` (the command line when None),
    then `measure(config)` under `one_line_errors`."""
    config, _ = parse_args(list(sys.argv[1:] if argv is None else argv))
    with one_line_errors():
        return config, measure(config)


def deprecated(module: str, command: str) -> None:
    """Runs `command` when an old module path is run as a script (`python -m sdpo_jax.train`),
    saying the new one; importing the old path does nothing."""
    if module != "__main__":
        return
    print(f"note: this is now `python -m sdpo_jax {command}`", file=sys.stderr)
    from sdpo_jax.__main__ import main

    main([command, *sys.argv[1:]])
