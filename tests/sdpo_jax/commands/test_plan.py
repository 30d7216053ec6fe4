"""The memory plan on the tiny model over 8 simulated devices, against facts worked out apart
from it: byte counts by hand from the architecture, the bytes a really sharded model holds on a
device, bounds every peak must respect, and the verdict both ways. One plan, compiled once (a
train step and a sampler): every check reads it."""

import dataclasses

import jax
import pytest
from flax import nnx

from models.sharding import shard_model
from sdpo_jax.commands import plan as plan_module
from sdpo_jax.config import load_config
from sdpo_jax.runtime import load_model, make_mesh, sharding_rules

# 2 prompts x 4 samples in one microbatch of 8 rollouts, one per device: the smallest step the
# mesh takes, and no second microbatch size to compile (none other splits 8 rollouts into whole
# groups of 4 over 8 devices).
OVERRIDES = [
    "model.path=none",
    "mesh.fsdp=8",
    "train.batch_prompts=2",
    "train.microbatches=1",
    "sampling.max_new_tokens=64",
    "data.max_prompt_tokens=64",
    "teacher.max_context_tokens=256",
]
# The tiny preset (models/qwen3_vl/config.py), counted by hand, float32:
#   text: embeddings 4096 x 64 (tied) + 4 layers x (q 64x64, k and v 64x32, o 64x64, q/k norms
#     16 each, two RMSNorms 64 each, gate/up/down 64x128) = 262,144 + 4 x 37,024, + norm 64
#     = 410,304
#   vision: patch embedding 1536 x 32 + 32, positions 64 x 32, 3 blocks x (two LayerNorms 2 x 64,
#     qkv 32x96 + 96, proj 32x32 + 32, fc1 32x64 + 64, fc2 64x32 + 32) = 49,184 + 2,048
#     + 3 x 8,544; merger LayerNorm(32) + fc1 128x128 + 128 + fc2 128x64 + 64 = 24,832; two
#     deepstack mergers with LayerNorm(128) = 2 x 25,024: 151,744
TINY_PARAMETERS = 410_304 + 151_744
# AdamW after the global-norm clip: two moments shaped like the parameters, two int32 step
# counts (Adam's and the schedule's), replicated.
COUNTS = 2 * 4
# Sampling: K and V of 4 layers for this device's one rollout (8 over 8 devices), 2 KV heads of
# 16 values, over the prompt (the tiny image's 12 tokens + 256 of text) and 64 new tokens.
KV_CACHE = 2 * 4 * 1 * 2 * (12 + 256 + 64) * 16 * 4


@pytest.fixture(scope="module")
def planned():
    config = load_config("chart_tiny", OVERRIDES)
    return config, *plan_module.make_plan(config, "tpu-v5e", (128, 96))


def test_the_shapes_of_the_step(planned):
    _, _, shapes = planned
    assert (shapes.rollouts, shapes.microbatches, shapes.completion) == (8, 1, 64)
    # A 128x96 image in 32x32 merged patches: 4 x 3 tokens, 48 patches of 16x16.
    assert (shapes.image_tokens, shapes.patches, shapes.prompt) == (12, 48, 12 + 256)


def test_parameter_bytes_are_those_of_a_sharded_model_on_one_device(planned):
    config, plan, _ = planned
    model, _ = load_model(config.model, seed=0, mesh=None, rules=None)
    params = jax.tree.leaves(nnx.state(model, nnx.Param))
    assert sum(p.size for p in params) == TINY_PARAMETERS
    shard_model(model, make_mesh(config.mesh), sharding_rules(config.mesh))
    first = jax.devices()[0]
    on_first = sum(
        shard.data.nbytes
        for leaf in jax.tree.leaves(nnx.state(model, nnx.Param))
        for shard in leaf.addressable_shards
        if shard.device == first
    )
    assert plan.parameters == on_first
    # FSDP over 8 devices: at least an eighth of the model per device, far less than all of it.
    assert 4 * TINY_PARAMETERS / 8 <= plan.parameters < 4 * TINY_PARAMETERS / 4


def test_optimizer_gradient_and_cache_bytes_by_hand(planned):
    _, plan, _ = planned
    assert plan.optimizer == 2 * plan.parameters + COUNTS
    assert plan.gradients == plan.parameters
    assert plan.kv_cache == KV_CACHE


def test_each_peak_holds_what_must_be_resident(planned):
    """XLA's peaks, bounded from below by what lives through each program: the state and the
    gradients through the train step, the state and the KV cache through sampling."""
    _, plan, _ = planned
    assert plan.train_peak >= plan.parameters + plan.optimizer + plan.gradients
    assert plan.activations > 0
    assert plan.sampling_peak >= plan.parameters + plan.optimizer + plan.kv_cache
    assert plan.peak == max(plan.train_peak, plan.sampling_peak)
    assert plan.largest_microbatch is None  # no second size: the advice cannot name one


def test_the_verdict_and_the_advice(planned):
    config, plan, shapes = planned
    text = plan_module.report(plan, shapes, config, "tpu-v5e", 8, (128, 96))
    gib = plan.peak / plan_module.GIB
    assert plan.peak < 1 << 30  # the tiny model on a 16 GiB chip
    assert text.splitlines()[-1] == f"fits: yes, peak {gib:.1f} GiB of 16.0 GiB per device"
    assert "to fit:" not in text
    # A device a byte too small for the train step: what make_plan returns for it (capacity
    # enters nothing else when there is no second microbatch size).
    small = dataclasses.replace(plan, capacity=plan.train_peak - 1)
    text = plan_module.report(small, shapes, config, "tpu-v5e", 8, (128, 96))
    assert text.splitlines()[-1].startswith("fits: no, peak ")
    assert "to fit: lower the rollouts per microbatch (train.microbatches)" in text


def test_the_command_line_refuses_a_bad_image_size():
    with pytest.raises(SystemExit, match="not WIDTHxHEIGHT"):
        plan_module.main(["chart_tiny", "--device", "tpu-v5e", "--devices", "8", "--image", "big"])
