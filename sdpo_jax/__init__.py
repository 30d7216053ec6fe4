"""sdpo_jax: the Visual-SDPO trainer, laid out as the algorithm runs.

    data/       prompt records and the grain pipeline that encodes them
    method/     the pure math: losses, credit weights, teacher contexts, rewards
    loop/       one RL step (generate, render, feedback, update, log) and what runs it
    warmstart/  the supervised start of the tiny policies and the probes that measure it
    commands/   what users run: `python -m sdpo_jax COMMAND` (train, warmstart, evaluate, ...)

Beside them: `config` (typed recipes and overrides), `errors` (the one-line `RunError`),
`runtime` (the mesh, model and prompts every command builds from a config), `hosts` (a run
of several processes) and `memory_maps` (compiled programs under the kernel's map limit).
Each subpackage's docstring says what it may import; tests/test_imports.py holds them to it.
"""
