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


def test_the_maps_stay_bounded_however_many_programs_come(monkeypatch):
    """The warm start asks `release_near_limit` before each new program (test_warmstart.py), so
    its maps never pass `share` of the limit by more than one program, whatever the number of
    length groups. Here 12 programs come under a limit that holds about 5."""

    def loss(x):
        for _ in range(6):
            x = jnp.tanh(x @ x.T) + jnp.sin(x)
        return jnp.sum(x**2)

    step = jax.jit(jax.grad(loss))
    jnp.ones(1).block_until_ready()
    jax.clear_caches()
    base = memory_maps.map_count()
    step(jnp.ones((4, 4))).block_until_ready()
    one = memory_maps.map_count() - base  # the maps of one program
    jax.clear_caches()
    monkeypatch.setattr(memory_maps, "map_limit", lambda: int(2 * (base + 2.5 * one)))
    counts, released = [], 0
    for n in range(8, 104, 8):  # a new shape, so a new program, each time
        released += memory_maps.release_near_limit()
        step(jnp.ones((n, n))).block_until_ready()
        counts.append(memory_maps.map_count())
    bound = base + 2.5 * one + 1.5 * one  # share of the limit, one program more, some slack
    assert max(counts) <= bound, (counts, base, one)
    assert released >= 2 and 12 * one > 2 * (bound - base)  # without releases it would pass it
