"""What the recipes share: the paper-scale setup and the tiny CPU setup, per task."""

from sdpo_jax.config import (
    Config,
    DataConfig,
    MeshConfig,
    ModelConfig,
    RenderConfig,
    SamplingConfig,
    TrainConfig,
)

# Logical parameter axes -> mesh axes for multi-device runs: FSDP over the embedding dimension,
# tensor parallelism over heads, MLP width and vocabulary (Megatron-style column/row split).
PAPER_SHARDING_RULES = (
    ("batch", ("data", "fsdp")),
    ("vocab", ("tensor",)),
    ("embed", ("fsdp",)),
    ("mlp", ("tensor",)),
    ("heads", ("tensor",)),
    ("kv_heads", ("tensor",)),
    ("head_dim", ()),
    ("norm", ()),
    ("vision_embed", ("fsdp",)),
    ("vision_mlp", ("tensor",)),
    ("vision_heads", ("tensor",)),
    ("vision_merge", ("fsdp",)),
    ("vision_patch", ()),
    ("vision_pos", ()),
)


def paper_scale(task: str) -> Config:
    """Qwen3-VL-8B-Instruct from a local folder, 32 prompts x 8 samples per step."""
    return Config(
        name=task,
        model=ModelConfig(
            path=None, preset="8b", dtype="bfloat16", param_dtype="float32", remat=True
        ),
        mesh=MeshConfig(data=1, fsdp=-1, tensor=1, rules=PAPER_SHARDING_RULES),
        data=DataConfig(task=task),
        sampling=SamplingConfig(num_samples=8, max_new_tokens=2048, temperature=1.0),
        train=TrainConfig(batch_prompts=32, microbatches=8, steps=200),
    )


def tiny(task: str) -> Config:
    """The built-in tiny model on the bundled data: CPU, minutes."""
    return Config(
        name=f"{task}_tiny",
        model=ModelConfig(preset="tiny", dtype="float32", param_dtype="float32"),
        mesh=MeshConfig(data=1, fsdp=1, tensor=1),
        data=DataConfig(task=task, max_prompt_tokens=512, image_size=(256, 192)),
        sampling=SamplingConfig(num_samples=4, max_new_tokens=256),
        render=RenderConfig(workers=2, wall_seconds=10.0, cpu_seconds=5.0, memory_mb=1024),
        train=TrainConfig(batch_prompts=2, steps=20, checkpoint_every=10, image_every=5),
    )
