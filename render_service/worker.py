"""One pool worker: a fresh interpreter that renders requests from its parent, one at a time.

Started by RenderPool as `python -P -m render_service.worker` with a scrubbed environment; it
reads msgpack messages on stdin and answers on stdout (wire.py, messages.py). Its renderers are
built once (warm state); then it forks its zygote, and every request's untrusted code runs in a
sandboxed child forked from that zygote (zygote.py), never from the worker, which by then holds
earlier requests.

In the jail the worker is started as pid 1 of its pid namespace (bubblewrap's `--as-pid-1`: no
bubblewrap init that would hold the pool's pipes). It forks at once: the parent stays pid 1 as
the jail's init, which closes every descriptor, reaps orphans and exits with the worker (taking
the namespace with it); the kernel does not deliver signals to it from inside the namespace, so
a request that kills "pid 1" kills nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time

from render_service import messages, wire
from render_service.renderers import RendererSet
from render_service.sandbox import start_zygote
from render_service.types import RenderResult
from render_service.zygote import ZygoteGone

_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_SET_NAME = 15


def main() -> None:
    if os.getpid() == 1:
        _split_off_init()
    libc = ctypes.CDLL(None)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # die with the pool (or the jail's init)
    # Not dumpable (inherited by the zygote and the children): no process in the jail can open
    # this one's /proc/<pid>/fd, mem or environ.
    libc.prctl(_PR_SET_DUMPABLE, 0)
    inbox = sys.stdin.fileno()
    outbox = os.dup(sys.stdout.fileno())
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints must not corrupt the wire
    config, registry, warm_domains = messages.read_start(wire.receive(inbox))
    messages.bound_image_decoding(config, registry)
    renderers = RendererSet(config, registry)
    renderers.warm(warm_domains)
    zygote = start_zygote(isolated=config.sandbox == "bwrap")
    wire.send(outbox, {"ready": True, "rss_mb": rss_mb()})
    retire = False
    while not retire:
        try:
            request = messages.read_request(wire.receive(inbox))
        except wire.WireClosed:
            break
        start = time.perf_counter()
        try:
            result = renderers.render(request)
        except ZygoteGone as err:  # no clean process to fork from: answer, then be replaced
            result, retire = (
                RenderResult(id=request.id, ok=False, error=f"WorkerError: {err}"),
                True,
            )
        except Exception as err:  # a renderer bug must not take the worker down
            result = RenderResult(id=request.id, ok=False, error=f"RendererError: {err!r}")
        result.timings.setdefault("worker_total", time.perf_counter() - start)
        wire.send(outbox, messages.result_message(result, rss_mb(), retire))
    renderers.close()
    zygote.close()


def _split_off_init() -> None:
    """Fork; the parent becomes the jail's init (see the module docstring) and never returns."""
    worker = os.fork()
    if worker == 0:
        return
    libc = ctypes.CDLL(None)
    libc.prctl(_PR_SET_DUMPABLE, 0)
    libc.prctl(_PR_SET_NAME, b"render-init")  # the pool reaps it by this name
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)  # no handler: the kernel drops them for an init
    while True:
        with contextlib.suppress(InterruptedError):
            pid, status = os.wait()
            if pid == worker:
                os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


if __name__ == "__main__":
    main()
