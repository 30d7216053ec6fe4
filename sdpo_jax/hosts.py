"""What the processes of a run launched as several (`runtime.join_processes`) exchange.

Each process holds its own block of every global batch: with P processes and N rows, process
i holds rows [i·N/P, (i+1)·N/P). What must be the same everywhere (padded lengths, the images
that every device sees, the numbers that go to TensorBoard) is gathered through JAX's own
collectives (`multihost_utils.process_allgather`: gloo on CPUs). In a single process every
function here returns its input as it is and talks to no one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import jax
import numpy as np
from jax.experimental import multihost_utils

from sdpo_jax.errors import RunError

T = TypeVar("T")


def is_main() -> bool:
    """Process 0 writes the run directory, TensorBoard and the progress bar."""
    return jax.process_index() == 0


def share(batch_prompts: int) -> int:
    """The prompts of each global batch of `batch_prompts` that this process takes."""
    count = jax.process_count()
    if batch_prompts % count:
        raise RunError(
            f"train.batch_prompts={batch_prompts} cannot be split among {count} processes; "
            "make it a multiple of the process count"
        )
    return batch_prompts // count


def main_first(make: Callable[[], T]) -> T:
    """`make()` in process 0, then in the others: what it builds in a shared folder (the
    bundled data) is built once, and hosts that share no disk each build their own."""
    if jax.process_count() == 1:
        return make()
    made = make() if is_main() else None
    multihost_utils.sync_global_devices("sdpo_jax.hosts.main_first")
    return made if is_main() else make()


def largest(*values: int) -> tuple[int, ...]:
    """Each value's maximum over the processes: sizes every process must pad to alike."""
    if jax.process_count() == 1:
        return tuple(values)
    found = multihost_utils.process_allgather(np.asarray(values, np.int64))
    return tuple(int(v) for v in found.max(axis=0))


def gather(rows: np.ndarray) -> np.ndarray:
    """Every process's `rows` (their counts may differ), concatenated in process order, in
    their own dtype (64-bit values travel as 32-bit ones unless JAX runs with x64)."""
    rows = np.asarray(rows)
    if jax.process_count() == 1:
        return rows
    counts = multihost_utils.process_allgather(np.asarray([len(rows)]))[:, 0]
    if not counts.any():
        return rows
    padded = np.zeros((int(counts.max()), *rows.shape[1:]), rows.dtype)
    padded[: len(rows)] = rows
    found = multihost_utils.process_allgather(padded)
    return np.concatenate([part[:n] for part, n in zip(found, counts)]).astype(rows.dtype)


def total(value: float) -> float:
    """The sum of `value` over the processes."""
    return float(gather(np.asarray([value])).sum())


def own_block(rows: np.ndarray) -> np.ndarray:
    """This process's block of a global batch's rows."""
    size = len(rows) // jax.process_count()
    return rows[jax.process_index() * size : (jax.process_index() + 1) * size]


def own_rows(array: jax.Array) -> np.ndarray | jax.Array:
    """This process's block of the rows of a computation's output: read from the global array
    (a whole array held here, e.g. a model on one device per process, is already global)."""
    if jax.process_count() == 1:
        return array
    whole = (
        np.asarray(array)
        if array.is_fully_addressable
        else multihost_utils.process_allgather(array, tiled=True)
    )
    return own_block(whole)


def global_batch(batch, shardings):
    """Global arrays from this process's rows (and, for replicated arrays such as the images,
    from the full value every process holds alike)."""
    return jax.tree.map(_global_array, batch, shardings)


def _global_array(local: np.ndarray, sharding) -> jax.Array:
    array = jax.make_array_from_process_local_data(sharding, local)
    _check_block(array)
    return array


def _check_block(array: jax.Array) -> None:
    """The rows this process gave must be its block of the global array: the images of a
    microbatch are concatenated in process order and the model matches them to rows in
    order. True for meshes laid out over `jax.devices()` (process-major)."""
    axis = next((d for d, name in enumerate(array.sharding.spec) if name is not None), None)
    if axis is None:
        return
    spans = {
        (index[axis].start or 0, index[axis].stop or array.shape[axis])
        for index in array.sharding.addressable_devices_indices_map(array.shape).values()
    }
    size = array.shape[axis] // jax.process_count()
    first = jax.process_index() * size
    covered = sum(end - start for start, end in spans)
    if (min(spans)[0], max(spans)[1], covered) != (first, first + size, size):
        raise RunError(
            f"process {jax.process_index()}'s devices hold rows {sorted(spans)} of a batch of "
            f"{array.shape[axis]}, not its block [{first}, {first + size}): order the mesh's "
            "devices by process"
        )
