"""On 8 simulated CPU devices (data=2, fsdp=2, tensor=2), the sampler over a sharded model and a
batch-sharded prompt gives the unsharded sampler's tokens and log-probs, sampling and greedy:
with XLA placing the loop state from the parameters' shardings, and with the `mesh` argument
pinning it (then the outputs are split by row over data x fsdp)."""

import jax
import numpy as np
import pytest
from flax import nnx
from jax.sharding import PartitionSpec

from models import sharding
from models.qwen3_vl import Qwen3VL, preset
from sdpo_jax.loop.sampling import generate
from tests.models.conftest import make_batch, text

EOS = 4002
TOL = 1e-5


@pytest.fixture(scope="module")
def models():
    jax.config.update("jax_default_matmul_precision", "highest")
    mesh = sharding.make_mesh(data=2, fsdp=2, tensor=2)
    plain = Qwen3VL(preset("tiny"), rngs=nnx.Rngs(0))
    graphdef, state = nnx.split(plain)
    sharded = sharding.shard_model(nnx.merge(graphdef, jax.tree.map(np.array, state)), mesh)
    return plain, sharded, mesh


@pytest.fixture(scope="module")
def unsharded(models):
    """The plain model's output per setting, computed once for the parametrizations."""
    cache = {}

    def run(**settings):
        key = tuple(sorted(settings.items()))
        if key not in cache:
            cache[key] = generate(models[0], prompts(), rng=jax.random.key(3), **settings)
        return cache[key]

    return run


def prompts():
    """Four left-padded prompts, two with images: the batch axis splits over data x fsdp."""
    rows = [[*text(3), "img", *text(2, 1)], [*text(6, 2)], [*text(2, 3), "img"], [*text(5, 4)]]
    ids, mask, pixels, grid = make_batch(rows, [(1, 4, 6), (1, 2, 4)])
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "pixel_values": pixels,
        "image_grid_thw": grid,
    }


@pytest.mark.slow
@pytest.mark.parametrize(("temperature", "pass_mesh"), [(1.0, False), (1.0, True), (0.0, True)])
def test_sharded_sampler_equals_unsharded(models, unsharded, temperature, pass_mesh):
    _, sharded, mesh = models
    assert len(jax.devices()) == 8
    kernel = sharded.language_model.layers.self_attn.q_proj.kernel[...]
    assert len(kernel.sharding.device_set) == 8  # really spread over the mesh
    batch = prompts()
    on_mesh = dict(batch)
    for name in ("input_ids", "attention_mask"):
        on_mesh[name] = jax.device_put(batch[name], sharding.batch_sharding(mesh, 2))
    settings = dict(
        max_new_tokens=8, num_samples=2, temperature=temperature, eos_ids=(EOS,), top_k=50
    )
    want = unsharded(**settings)
    got = generate(
        sharded, on_mesh, rng=jax.random.key(3), mesh=mesh if pass_mesh else None, **settings
    )
    assert len(got.tokens.sharding.device_set) == 8
    if pass_mesh:
        assert got.tokens.sharding.spec == PartitionSpec(("data", "fsdp"))
    np.testing.assert_array_equal(np.asarray(got.tokens), np.asarray(want.tokens))
    np.testing.assert_array_equal(np.asarray(got.lengths), np.asarray(want.lengths))
    for name in ("logprobs", "model_logprobs"):
        np.testing.assert_allclose(
            np.asarray(getattr(got, name)), np.asarray(getattr(want, name)), atol=TOL, rtol=0
        )
