"""sdpo_jax package."""
