"""Orbax checkpoints of a run: the train state pytree, the data iterator position, host metadata.

One `Checkpointer` per run directory wraps an orbax `CheckpointManager`: saves every
`save_every` steps (asynchronously: training continues while arrays are written), keeps the
newest `keep`, and restores exactly what resuming needs. Orbax writes each step into a temporary
folder and commits it with a rename, so a process killed during a save leaves that step out of
`all_steps()` and the run resumes from the last complete one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp


class Checkpointer:
    def __init__(
        self, directory: str | Path, *, save_every: int, keep: int, async_save: bool = True
    ):
        self.directory = Path(directory).absolute()
        self.save_every = save_every
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(
                max_to_keep=keep,
                enable_async_checkpointing=async_save,
                create=True,
            ),
        )

    def save(
        self,
        step: int,
        state: Any,
        *,
        data: dict[str, Any],
        meta: dict[str, Any],
        force: bool = False,
    ) -> bool:
        """Starts saving `state` (a pytree of arrays), the data iterator state and JSON-able
        metadata at `step` when it is a multiple of `save_every` (or `force`); returns whether
        it did."""
        if step % self.save_every and not force:
            return False
        return self._manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state),
                data=ocp.args.JsonSave(data),
                meta=ocp.args.JsonSave(meta),
            ),
            force=force,
        )

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self._manager.all_steps())

    def restore(self, step: int, like: Any = None) -> tuple[Any, dict[str, Any], dict[str, Any]]:
        """(state, data, meta) saved at `step`; `like` is a pytree of arrays or
        `jax.ShapeDtypeStruct`s (with shardings) giving the structure and placement. Without it
        the state comes back as saved: nested dicts of arrays on the default device."""
        abstract = None if like is None else jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        restored = self._manager.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract),
                data=ocp.args.JsonRestore(),
                meta=ocp.args.JsonRestore(),
            ),
        )
        return restored.state, restored.data, restored.meta

    def wait(self) -> None:
        """Blocks until a pending asynchronous save is committed."""
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()

    def __enter__(self) -> Checkpointer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
