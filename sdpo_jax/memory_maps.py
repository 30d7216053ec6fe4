"""Keeping compiled programs under the kernel's memory-map limit.

XLA:CPU maps each compiled kernel's code into memory on its own, so every live program holds
hundreds of memory maps. A process that compiles one program per padded shape (the warm start,
a benchmark that trains many runs) can pass Linux's default `vm.max_map_count` of 65,530, and
then dies in mmap. Dropping jax's caches unmaps them all; a program is compiled again (or
loaded from the persistent cache) when next used.
"""

from __future__ import annotations

import gc
from pathlib import Path

import jax

MAPS = Path("/proc/self/maps")
LIMIT = Path("/proc/sys/vm/max_map_count")
# Compiling one program can add a few thousand maps: drop the caches well before the limit.
SHARE = 0.5


def map_count() -> int | None:
    """Memory maps this process holds; None where /proc does not say (not Linux)."""
    try:
        with MAPS.open("rb") as maps:
            return sum(1 for _ in maps)
    except OSError:
        return None


def map_limit() -> int | None:
    """The kernel's limit on memory maps per process; None where /proc does not say."""
    try:
        return int(LIMIT.read_text())
    except (OSError, ValueError):
        return None


def release_near_limit(share: float = SHARE) -> bool:
    """Clears jax's compiled programs when this process holds more than `share` of the
    kernel's map limit; returns whether it did."""
    count, limit = map_count(), map_limit()
    if count is None or limit is None or count <= share * limit:
        return False
    jax.clear_caches()
    gc.collect()  # executables held in reference cycles go only now
    return True
