"""The method as pure functions of arrays and texts, each named after its equation:

    objectives  self-distillation and GRPO losses, group advantages (docs/objective.md)
    credit      defects and errors -> implicated statements -> per-token credit weights
    teacher     the teacher's context: prompt + feedback (render, defects, error, a solution)
    rewards     executed + visual similarity - defect penalty, per rollout
    choices     the allowed values of every method setting, written once

Imports: `config`, `errors`, `data`, `models` and render_service's result types; never the
loop, the warm start, the commands, nor what runs them (`runtime`, `hosts`).
"""
