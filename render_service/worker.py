"""One pool worker: a fresh interpreter that renders requests from its parent, one at a time.

Started by RenderPool as `python -m render_service.worker` with a scrubbed environment; it
talks framed pickles over stdin/stdout (see wire.py). Its renderers are built once (warm state)
and every request's untrusted code runs in a sandboxed child forked from here.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time

from render_service import wire
from render_service.renderers import RendererSet
from render_service.types import RenderResult

_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4


def main() -> None:
    libc = ctypes.CDLL(None)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # die with the pool
    # Not dumpable (inherited by the forked children): no process in the jail can open this
    # one's /proc/<pid>/fd, mem or environ, so a child cannot reopen the pipes it closed.
    libc.prctl(_PR_SET_DUMPABLE, 0)
    inbox = sys.stdin.fileno()
    outbox = os.dup(sys.stdout.fileno())
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints must not corrupt the wire
    config, registry, warm_domains = wire.receive(inbox)
    renderers = RendererSet(config, registry)
    renderers.warm(warm_domains)
    wire.send(outbox, ("ready", rss_mb()))
    while True:
        try:
            request = wire.receive(inbox)
        except wire.WireClosed:
            break
        start = time.perf_counter()
        try:
            result = renderers.render(request)
        except Exception as err:  # a renderer bug must not take the worker down
            result = RenderResult(id=request.id, ok=False, error=f"RendererError: {err!r}")
        result.timings.setdefault("worker_total", time.perf_counter() - start)
        wire.send(outbox, (result, rss_mb()))
    renderers.close()


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


if __name__ == "__main__":
    main()
