"""`python -m sdpo_jax train CONFIG [key.sub=value ...] [--print-config]` (what `make train` runs).

python -m sdpo_jax train chart_tiny train.steps=4
python -m sdpo_jax train chart model.path=/models/Qwen3-VL-8B-Instruct
"""

from __future__ import annotations

import sys

from sdpo_jax.commands import one_line_errors
from sdpo_jax.config import format_config, parse_args


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    config, print_only = parse_args(argv)
    if print_only:
        print(format_config(config))
        return
    with one_line_errors():  # JAX and the trainer load only now: --print-config takes no time
        from sdpo_jax.loop.trainer import train
        from sdpo_jax.runtime import join_processes, keep_compiled

        join_processes()
        keep_compiled()
        train(config, ["python", "-m", "sdpo_jax", "train", *argv])


if __name__ == "__main__":
    main()
