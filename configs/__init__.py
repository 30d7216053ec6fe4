"""Run recipes: one file per recipe, each with `get_config() -> sdpo_jax.config.Config`.

Paper-scale recipes (chart, web, slide) need a local Qwen3-VL folder (`model.path=...`);
the *_tiny recipes run anywhere on the built-in tiny model and the bundled data.
"""
