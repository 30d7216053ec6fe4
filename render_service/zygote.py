"""The zygote: forked from the warm worker before it reads its first request, it forks every
request's sandboxed child.

A child forked from the worker itself would start with whatever the worker held at that moment:
the previous request's code and result (in training, a gold render), in a frame or in freed
memory. The zygote is the worker as it was when warm and before any request, and it never learns
what a request is: it receives only the descriptors of a new child's pipes (over a socket pair
with the worker), forks, and answers with the child's pid and, when the child has exited, its
wait status. The child reads its work from those pipes itself. The zygote holds nothing of the
worker's channel to the pool: it closes every inherited descriptor but regular files (the font
files matplotlib reads glyphs from, see sandbox._close_inherited) when it starts.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import socket
import struct
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15
_ANSWER = struct.Struct("!ci")  # b"p" + pid, or b"s" + wait status


class ZygoteGone(RuntimeError):
    """The zygote died; the worker cannot fork clean children any more and must be replaced."""


class Zygote:
    """The worker's side: `spawn(fds)` starts a child holding `fds`, `status()` reports its end."""

    def __init__(self, channel: socket.socket, pid: int):
        self.channel, self.pid = channel, pid

    @classmethod
    def start(cls, child: Callable[[list[int]], None], let_go: Callable[[set[int]], None]):
        """Fork the zygote; in each forked child, `child(fds)` runs and must never return.
        `let_go(keep)` closes the descriptors the zygote must not hold."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            try:
                ours.close()
                _serve(theirs, child, let_go)
            finally:
                os._exit(70)
        theirs.close()
        return cls(ours, pid)

    def spawn(self, fds: list[int]) -> int:
        try:
            socket.send_fds(self.channel, [b"fork"], fds)
            return self._answer(b"p", None)
        except OSError as err:
            raise ZygoteGone(f"the zygote is gone ({err})") from None

    def fileno(self) -> int:
        return self.channel.fileno()

    def status(self, timeout: float | None) -> int | None:
        """The last child's wait status once it has exited; None if it has not yet."""
        return self._answer(b"s", timeout)

    def close(self) -> None:
        self.channel.close()
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)

    def _answer(self, kind: bytes, timeout: float | None) -> int | None:
        if timeout is not None and not select.select([self.channel], [], [], timeout)[0]:
            return None
        data = self.channel.recv(_ANSWER.size)
        if len(data) != _ANSWER.size:
            raise ZygoteGone("the zygote is gone")
        got, value = _ANSWER.unpack(data)
        if got != kind:
            raise ZygoteGone(f"the zygote answered {got!r} instead of {kind!r}")
        return value


def _serve(channel: socket.socket, child, let_go) -> None:
    libc = ctypes.CDLL(None)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # ends with its worker
    libc.prctl(_PR_SET_NAME, b"render-zygote")  # the pool reaps what it orphans by this name
    let_go({channel.fileno()})
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(channel, 16, 8)
        except OSError:
            return
        if not message:  # the worker closed its end
            return
        pid = os.fork()
        if pid == 0:
            libc.prctl(_PR_SET_NAME, b"render-child")
            channel.close()
            child(fds)
        for fd in fds:
            os.close(fd)
        channel.send(_ANSWER.pack(b"p", pid))
        _, status = os.waitpid(pid, 0)
        channel.send(_ANSWER.pack(b"s", status))
