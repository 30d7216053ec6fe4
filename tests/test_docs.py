"""Each choice's allowed values are written once (sdpo_jax/method/choices.py); the config takes its
types from there and docs/objective.md lists exactly those values."""

import re
import typing
from pathlib import Path

from sdpo_jax.config import ObjectiveConfig, RewardConfig
from sdpo_jax.method import choices

DOC = (Path(__file__).parent.parent / "docs" / "objective.md").read_text()


def test_the_config_types_its_choices_from_the_one_list():
    hints = typing.get_type_hints(ObjectiveConfig)
    assert typing.get_args(hints["divergence"]) == choices.DIVERGENCES
    assert typing.get_args(hints["support"]) == choices.SUPPORTS
    assert typing.get_args(hints["kl_estimator"]) == choices.KL_ESTIMATORS
    assert typing.get_args(hints["aggregation"]) == choices.AGGREGATIONS
    assert typing.get_args(typing.get_type_hints(RewardConfig)["visual"]) == choices.VISUAL_SCORES


def test_docs_list_every_allowed_value():
    quoted = set(re.findall(r"`([a-z0-9_]+)`", DOC))
    for values in (
        choices.DIVERGENCES,
        choices.SUPPORTS,
        choices.KL_ESTIMATORS,
        choices.AGGREGATIONS,
        choices.VISUAL_SCORES,
    ):
        missing = set(values) - quoted
        assert not missing, f"docs/objective.md does not list {sorted(missing)}"
