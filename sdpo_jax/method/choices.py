"""The allowed values of every choice the objective and the config share: one list each.

`sdpo_jax.config` types its fields with these Literals (so overrides are checked against them),
`sdpo_jax.method.objectives` checks its arguments against the tuples, and a test checks that
docs/objective.md lists the same values.
"""

import typing
from typing import Literal

Divergence = Literal["reverse_kl", "forward_kl", "jsd"]
Support = Literal["full", "topk", "sampled"]
KLEstimator = Literal["k1", "k2", "k3"]
Aggregation = Literal["token_mean", "seq_mean_token_mean", "seq_sum_norm"]
# The visual score in the reward: SSIM against the target image, or a benchmark's own scores
# (sdpo_jax/method/rewards.py says which task each one serves).
VisualScore = Literal["ssim", "chartmimic", "design2code", "slide"]

DIVERGENCES: tuple[str, ...] = typing.get_args(Divergence)
SUPPORTS: tuple[str, ...] = typing.get_args(Support)
KL_ESTIMATORS: tuple[str, ...] = typing.get_args(KLEstimator)
AGGREGATIONS: tuple[str, ...] = typing.get_args(Aggregation)
VISUAL_SCORES: tuple[str, ...] = typing.get_args(VisualScore)
