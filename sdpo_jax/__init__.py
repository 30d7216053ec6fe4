"""sdpo_jax: the Visual-SDPO trainer.

objectives: the losses (self-distillation, GRPO, group advantages) as pure functions on arrays.
credit: defects and errors → implicated statements → per-token credit weights.
rewards: executed + visual similarity − defect penalty, per rollout.
"""
