"""Length-prefixed msgpack messages between the pool, its workers and their children.

Plain data only: None, booleans, integers, floats, strings, byte strings, sequences (read back
as tuples) and maps with string keys (dataclasses are sent as maps of their fields). msgpack
parses data and never runs code; extension types are refused. Every read is capped before it happens: the 8-byte length
prefix is checked against the reader's `max_bytes` before one byte of the body is read, and
the body's strings, arrays and maps can be no longer than the body. What the message means is
checked by the receiver against its schema (messages.py).
"""

from __future__ import annotations

import dataclasses
import os
import select
import struct
import time
from typing import Any

import msgpack

_HEADER = struct.Struct("!Q")
MAX_MESSAGE_BYTES = 256 << 20  # a reader that names no cap


class WireClosed(Exception):
    """The other side closed its end."""


class WireTimeout(WireClosed):
    """The other side sent nothing complete before the deadline."""


class WireError(Exception):
    """A message that is too large or is not plain msgpack data; the channel is out of step."""


def pack(message: Any) -> bytes:
    """The message's bytes without the length prefix; TypeError for values that are not data."""
    return msgpack.packb(message, use_bin_type=True, default=_fields)


def unpack(data: bytes) -> Any:
    """Plain data from bytes that anyone may have written; WireError when they are not."""
    try:
        return msgpack.unpackb(data, raw=False, use_list=False, strict_map_key=True, max_ext_len=0)
    except Exception as err:  # msgpack's own errors, ValueError, recursion, bad UTF-8
        raise WireError(f"not a plain message ({type(err).__name__}: {err})") from None


def frame(message: Any) -> bytes:
    data = pack(message)
    return _HEADER.pack(len(data)) + data


def send(fd: int, message: Any) -> None:
    view = memoryview(frame(message))
    while view:
        view = view[os.write(fd, view) :]


def receive(fd: int, deadline: float | None = None, max_bytes: int = MAX_MESSAGE_BYTES) -> Any:
    """Read one message; WireClosed on EOF or when `deadline` (monotonic) passes, WireError when
    it announces more than `max_bytes` or is not plain data."""
    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size, deadline))
    if size > max_bytes:
        raise WireError(f"a message of {size:,} bytes is over the {max_bytes:,}-byte limit")
    return unpack(_read_exact(fd, size, deadline))


def _fields(value: Any) -> dict:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    raise TypeError(f"{type(value).__name__} is not plain data")


def _read_exact(fd: int, size: int, deadline: float | None) -> bytes:
    buffer = bytearray()
    while len(buffer) < size:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise WireTimeout("deadline passed")
        chunk = os.read(fd, min(size - len(buffer), 1 << 20))
        if not chunk:
            raise WireClosed("end of stream")
        buffer += chunk
    return bytes(buffer)
