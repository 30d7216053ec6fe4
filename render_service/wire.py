"""Length-prefixed pickle messages between the pool and its workers, with deadlines."""

from __future__ import annotations

import os
import pickle
import select
import struct
import time
from typing import Any

_HEADER = struct.Struct("!Q")


class WireClosed(Exception):
    """The other side closed its end or missed the deadline."""


def send(fd: int, message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def receive(fd: int, deadline: float | None = None) -> Any:
    """Read one message; raise WireClosed on EOF or when `deadline` (monotonic) passes."""
    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size, deadline))
    return pickle.loads(_read_exact(fd, size, deadline))


def _read_exact(fd: int, size: int, deadline: float | None) -> bytes:
    buffer = bytearray()
    while len(buffer) < size:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise WireClosed("deadline passed")
        chunk = os.read(fd, min(size - len(buffer), 1 << 20))
        if not chunk:
            raise WireClosed("end of stream")
        buffer += chunk
    return bytes(buffer)
