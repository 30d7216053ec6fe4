"""TensorBoard output of a run: tensorboardX event files under `<run_dir>/tb` (the pictures it
shows are drawn by `sdpo_jax.loop.pictures`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from tensorboardX import SummaryWriter


class Board:
    """A thin, typed front to tensorboardX's SummaryWriter."""

    def __init__(self, logdir: str):
        self._writer = SummaryWriter(logdir, flush_secs=10)

    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        for tag, value in values.items():
            self._writer.add_scalar(tag, float(value), step)

    def image(self, step: int, tag: str, rgb: np.ndarray) -> None:
        self._writer.add_image(tag, rgb, step, dataformats="HWC")

    def text(self, step: int, tag: str, markdown: str) -> None:
        self._writer.add_text(tag, markdown, step)

    def histogram(self, step: int, tag: str, values: Sequence[float] | np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64).ravel()
        if values.size:
            self._writer.add_histogram(tag, values, step)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
