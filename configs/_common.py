"""What the recipes share: the paper-scale setup and the tiny CPU setup, per task."""

from pathlib import Path

from render_service import SandboxLimits
from sdpo_jax.config import (
    Config,
    DataConfig,
    EvalConfig,
    MeshConfig,
    ModelConfig,
    ObjectiveConfig,
    OptimConfig,
    RenderConfig,
    RewardConfig,
    SamplingConfig,
    TeacherConfig,
    TrainConfig,
)

# The visual score each task's benchmark reports (sdpo_jax/method/rewards.py).
BENCHMARK_VISUAL = {"chart": "chartmimic", "web": "design2code", "slide": "slide"}
# The warm-started tiny policies shipped with the repository (sdpo_jax/warmstart/sft.py).
WARMSTART = Path(__file__).resolve().parent.parent / "weights"
# The tasks with a shipped warm start.
WARM_STARTED = ("chart", "web", "slide")

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
    ("layers", ()),  # the stacked-layer axis of the scanned layers: never split
)


def paper_scale(task: str) -> Config:
    """Qwen3-VL-8B-Instruct from a local folder, 32 prompts x 8 samples per step.

    Where each value comes from:
    [Q] the backbone of the Visual-SDPO method: Qwen3-VL-8B-Instruct.
    [S] SDPO, Hubotter et al. 2026, arXiv:2601.20802; its code, github.com/lasgroup/SDPO:
        experiments/rich_feedback/run_sdpo.sh (the rich-feedback runs on LiveCodeBench with an
        8B model) and verl/trainer/config/actor/{actor,dp_actor}.yaml (defaults those runs keep).
    [D] DAPO, Yu et al. 2025, arXiv:2503.14476: asymmetric "clip-higher" ratio clipping, no KL
        to a reference policy, token-level loss averaging.
    [V] Visual-SDPO's own terms, for which no published value exists: lambda weighs the
        distillation against the GRPO term, gamma the extra weight on tokens of statements a
        defect or error implicates. 1.0 gives both terms equal footing and doubles implicated
        tokens; treat them as the first knobs to sweep.
    """
    return Config(
        name=task,
        model=ModelConfig(
            path=None, preset="8b", dtype="bfloat16", param_dtype="float32", remat=True
        ),  # [Q]
        mesh=MeshConfig(data=1, fsdp=-1, tensor=1, rules=PAPER_SHARDING_RULES),
        data=DataConfig(task=task),
        reward=RewardConfig(visual=BENCHMARK_VISUAL[task]),
        # [S] 8 rollouts per prompt (rollout.n=8), sampled at temperature 1 (verl's default).
        sampling=SamplingConfig(num_samples=8, max_new_tokens=2048, temperature=1.0),
        objective=ObjectiveConfig(
            sd_weight=1.0,  # lambda [V]
            credit_gamma=1.0,  # gamma [V]
            divergence="reverse_kl",  # [S] self_distillation.alpha=1.0 (reverse KL)
            support="topk",  # [S] distillation_topk=20 with a tail bucket (add_tail default)
            topk=20,
            tail_bucket=True,
            is_clip=2.0,  # [S] is_clip: 2
            eps_low=0.2,  # [D]
            eps_high=0.28,  # [D]
            beta=0.0,  # [D]
            aggregation="token_mean",  # [S] loss_agg_mode: token-mean; [D]
        ),
        # Live teacher under stop-gradient, this project's default. SDPO's runs use an
        # EMA teacher at rate 0.01 (ema_update_rate): teacher.weights=ema keeps that rate.
        teacher=TeacherConfig(weights="live", ema_rate=0.01),
        # [S] AdamW at a constant 1e-6 (lr=1e-6, lr_warmup_steps=0, verl's constant schedule),
        # weight decay 0.01 and gradient-norm clipping at 1.0 (actor.yaml, dp_actor.yaml).
        optim=OptimConfig(
            lr=1e-6, warmup_steps=0, min_lr_ratio=1.0, weight_decay=0.01, grad_clip=1.0
        ),
        # [S] 32 prompts per step (data.train_batch_size=32). Accumulated over 16 microbatches
        # of 16 rollouts, the 8B step fits 8 x H100 and a v5p-8 (python -m sdpo_jax plan).
        train=TrainConfig(batch_prompts=32, microbatches=16, steps=200),
    )


# Room for the longest bundled gold program of each task (fence and end of turn included,
# measured with the tiny tokenizer; tests/sdpo_jax/data/test_bundled.py checks that every one fits).
TINY_NEW_TOKENS = {"chart": 512, "web": 640, "slide": 448}
# Steps chosen on the validation split: 60 chart steps gained more than 30 on every seed;
# slides gain within 30 (docs/training.md).
TINY_STEPS = {"chart": 60, "web": 30, "slide": 30}


def tiny(task: str) -> Config:
    """The tiny policy on the bundled data: CPU, minutes.

    For the tasks in WARM_STARTED, `model.path` is the shipped warm start
    (weights/<task>_tiny, made by `make warmstart`); `model.path=none` (the others' default)
    starts from fresh random weights of `model.preset` instead. Prompts run
    to about 170 tokens (the 128x96 image is 12), so 256 holds every one; the teacher's context
    adds the render (12), the feedback and possibly a sibling's program. Images are small
    because the vision tower attends over all patches of a batch at once (models/qwen3_vl):
    at 256x192 it took 80% of a warm-start step.
    """
    return Config(
        name=f"{task}_tiny",
        model=ModelConfig(
            path=str(WARMSTART / f"{task}_tiny") if task in WARM_STARTED else None,
            preset="tiny",
            dtype="float32",
            param_dtype="float32",
        ),
        mesh=MeshConfig(data=-1, fsdp=1, tensor=1),  # data-parallel over every device
        data=DataConfig(task=task, max_prompt_tokens=256, image_size=(128, 96)),
        # At temperature 1 the warm-started chart policy runs 38% of its held-out programs; at
        # 0.7, 78% of the validation ones (the split settings are tuned on).
        sampling=SamplingConfig(
            num_samples=4, max_new_tokens=TINY_NEW_TOKENS[task], temperature=0.7
        ),
        render=RenderConfig(
            workers=2, limits=SandboxLimits(wall_seconds=10.0, cpu_seconds=5.0, memory_mb=1024)
        ),
        teacher=TeacherConfig(max_context_tokens=1024),
        reward=RewardConfig(visual=BENCHMARK_VISUAL[task]),
        optim=OptimConfig(lr=3e-5, warmup_steps=2, min_lr_ratio=1.0),
        train=TrainConfig(
            batch_prompts=2, steps=TINY_STEPS[task], checkpoint_every=10, image_every=5
        ),
        # The whole held-out split (64 items x 4 samples): 16 items left the before -> after
        # change within its own noise (about ±0.1 reward).
        eval=EvalConfig(quick_items=64),
    )
