"""`python -m sdpo_jax feedback-gap CONFIG [key.sub=value ...]` (make feedback-gap CONFIG=...):
how much better the policy writes from the teacher's context than without
(`sdpo_jax.warmstart.feedback_gap`)."""

from __future__ import annotations

from collections.abc import Sequence

from sdpo_jax.commands import measured


def main(argv: Sequence[str] | None = None) -> None:
    from sdpo_jax.warmstart import feedback_gap

    config, scores = measured(argv, feedback_gap.measure)
    print(
        f"{config.name}, {config.eval.quick_split} split, {config.sampling.num_samples} attempts "
        f"per item at temperature {config.sampling.temperature}, model {config.model.path}"
    )
    print(feedback_gap.table(scores, config.reward.visual))


if __name__ == "__main__":
    main()
