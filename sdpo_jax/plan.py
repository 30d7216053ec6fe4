"""Deprecated path of `python -m sdpo_jax plan`, kept for the commands users saved."""

from sdpo_jax.commands import deprecated

deprecated(__name__, "plan")
