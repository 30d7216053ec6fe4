"""`python -m sdpo_jax COMMAND [args ...]`: runs `sdpo_jax.commands.COMMAND` (dashes or
underscores); `python -m sdpo_jax` alone lists the commands."""

import importlib
import sys

COMMANDS = (
    "train", "warmstart", "evaluate", "eval-compare", "export", "plan", "feedback-gap",
    "feedback-reading",
)  # fmt: skip


def main(argv: list[str]) -> None:
    if not argv or argv[0] in ("-h", "--help") or argv[0].replace("_", "-") not in COMMANDS:
        known = ", ".join(COMMANDS)
        if argv and argv[0] not in ("-h", "--help"):
            sys.exit(f"error: no command {argv[0]!r}; the commands are {known}")
        print(f"usage: python -m sdpo_jax COMMAND [args ...]\ncommands: {known}")
        return
    module = importlib.import_module(f"sdpo_jax.commands.{argv[0].replace('-', '_')}")
    module.main(argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
