"""On 8 simulated CPU devices, a (fsdp=4, tensor=2) sharded forward equals the unsharded one."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from flax import nnx
from jax.sharding import PartitionSpec

from models import sharding
from models.qwen3_vl import load_hf
from tests.models.conftest import logits_of, make_batch, text

TOL = 1e-4


def test_logical_rules_replicate_what_does_not_divide():
    mesh = sharding.make_mesh(fsdp=4, tensor=2)
    assert sharding.logical_to_spec(("embed", "mlp"), (64, 128), mesh) == PartitionSpec(
        "fsdp", "tensor"
    )
    assert sharding.logical_to_spec(("embed", "mlp"), (6, 128), mesh) == PartitionSpec(
        None, "tensor"
    )
    assert sharding.logical_to_spec(("norm",), (64,), mesh) == PartitionSpec(None)
    assert sharding.logical_to_spec(("vocab", "embed"), (4096, 64), mesh, {}) == PartitionSpec(
        None, None
    )


@pytest.mark.slow
def test_sharded_forward_equals_unsharded(hf_dir, port):
    assert len(jax.devices()) == 8
    mesh = sharding.make_mesh(fsdp=4, tensor=2)
    sharded = load_hf(hf_dir, mesh=mesh)  # parameters created directly on their shards
    q_kernel = sharded.language_model.layers.self_attn.q_proj.kernel[...]
    assert q_kernel.sharding.spec == PartitionSpec(None, "fsdp", "tensor")  # layers: never split

    rows = [[*text(3), "img", *text(2, 1)], [*text(6, 2)], [*text(2, 3), "img"], [*text(5, 4)]]
    ids, mask, pixels, grid = make_batch(rows, [(1, 4, 6), (1, 2, 4)])
    graphdef, state = nnx.split(sharded)
    batch = sharding.batch_sharding(mesh, 2)
    ids_s, mask_s = jax.device_put(ids, batch), jax.device_put(mask, batch)

    @jax.jit
    def forward(state, ids, mask, pixels, grid):
        return nnx.merge(graphdef, state)(ids, mask, pixels, grid).logits

    got = forward(state, ids_s, mask_s, pixels, grid)
    expected = np.asarray(logits_of(port, ids, mask, pixels, grid))
    real = mask.astype(bool)
    np.testing.assert_allclose(np.asarray(got)[real], expected[real], atol=TOL, rtol=0)


def test_shard_model_moves_parameters_onto_their_shards(port):
    mesh = sharding.make_mesh(fsdp=4, tensor=2)
    graphdef, state = nnx.split(port)
    model = nnx.merge(graphdef, jax.tree.map(np.array, state))  # a copy with its own arrays
    sharding.shard_model(model, mesh)
    embed = model.language_model.embed_tokens.weight[...]
    assert embed.sharding.spec == PartitionSpec("tensor", "fsdp")
    np.testing.assert_array_equal(embed, port.language_model.embed_tokens.weight[...])
