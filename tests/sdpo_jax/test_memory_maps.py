"""Dropping jax's caches near the kernel's memory-map limit unmaps the compiled programs, and
is a no-op below the limit or where /proc does not say."""

import jax
import jax.numpy as jnp
import pytest

from sdpo_jax import memory_maps

pytestmark = pytest.mark.skipif(memory_maps.map_count() is None, reason="needs /proc (Linux)")


def test_dropping_the_caches_near_the_limit_unmaps_the_compiled_programs():
    def loss(x):
        for _ in range(6):
            x = jnp.tanh(x @ x.T) + jnp.sin(x)
        return jnp.sum(x**2)

    step = jax.jit(jax.grad(loss))
    jnp.ones(1).block_until_ready()  # the backend's own maps come before
    jax.clear_caches()
    before = memory_maps.map_count()
    for n in (8, 16, 24, 32, 40, 48):  # one program per shape
        step(jnp.ones((n, n))).block_until_ready()
    compiled = memory_maps.map_count()
    assert compiled - before > 100
    assert not memory_maps.release_near_limit(share=1.0)
    assert memory_maps.map_count() >= compiled
    assert memory_maps.release_near_limit(share=0.0)
    assert memory_maps.map_count() - before < (compiled - before) / 4
    assert float(jnp.abs(step(jnp.ones((8, 8)))).sum()) > 0  # compiled again when used


def test_where_proc_does_not_say_nothing_is_dropped(monkeypatch, tmp_path):
    monkeypatch.setattr(memory_maps, "LIMIT", tmp_path / "missing")
    assert memory_maps.map_limit() is None
    assert not memory_maps.release_near_limit(share=0.0)
