"""Deprecated path of `python -m sdpo_jax warmstart`, kept for the commands the shipped warm
starts' READMEs record."""

from sdpo_jax.commands import deprecated

deprecated(__name__, "warmstart")
