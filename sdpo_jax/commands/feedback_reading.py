"""`python -m sdpo_jax feedback-reading CONFIG [key.sub=value ...]` (make feedback-reading
CONFIG=...): whether the policy reads its feedback, teacher-forced
(`sdpo_jax.warmstart.feedback_reading`)."""

from __future__ import annotations

from collections.abc import Sequence

from sdpo_jax.commands import measured


def main(argv: Sequence[str] | None = None) -> None:
    from sdpo_jax.warmstart import feedback_reading

    config, scores = measured(argv, feedback_reading.measure)
    print(
        f"{config.name}, {config.eval.quick_split} split, model {config.model.path}: negative "
        "log-likelihood per gold token that a content edit changed"
    )
    print(feedback_reading.table(scores))


if __name__ == "__main__":
    main()
