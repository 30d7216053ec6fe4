"""The prompts a run trains and evaluates on:

    records   prompt records from every source (jsonl, ChartMimic, Design2Code, bundled)
    pipeline  grain: records -> encoded prompts with their images
    bundled   the tiny recipes' sets, generated (render_service.programs.synthetic) and rendered

Imports: `config`, `errors`, `models`, render_service; nothing else of sdpo_jax.
"""
