"""One RL step and what runs it (docs/training.md, "One step"):

    trainer      the loop: generate -> render -> feedback -> step -> log, one method a phase
    policy       the student's sampler over a batch of prompts (sampling: the jitted decoder)
    rollouts     completions -> render requests -> rewards, advantages, teacher contexts
    batch        padded, microbatched arrays for the train step
    train_step   the jitted, sharded update: student and teacher forwards, loss, optax
    heldout      the before -> after check on held-out prompts
    checkpoints  orbax save and restore; board and pictures: TensorBoard; rundir: run files

Imports: `method`, `data`, `config`, `errors`, `runtime`, `hosts`, `models`, render_service's
client; never the warm start or the commands.
"""
