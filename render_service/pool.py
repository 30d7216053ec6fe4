"""RenderPool: long-lived render workers behind a small client API that imports no JAX.

    with RenderPool(RenderConfig(workers=4)) as pool:
        results = pool.render(requests)          # one RenderResult per request, in order
        future = pool.submit(request)            # or one at a time, as rollouts finish

Each worker is a fresh interpreter (`python -m render_service.worker`, scrubbed environment,
its own bubblewrap jail) so nothing of the trainer's process (JAX, device handles, secrets)
leaks into it; it builds its renderers once and forks a sandboxed child per request. Browser
domains (web pages, HTML slides) and Python domains (charts, python-pptx) are served by
different workers, so model-written Python never runs beside a browser. One feeder thread per
slot pulls from a bounded queue (a full queue blocks `submit`: back-pressure), sends the request
to the slot's worker for its family and waits with a deadline of the sandbox wall limit plus a
grace period. A worker that crashes or hangs
outside its sandbox is SIGKILLed with its children and restarted, and that request answered
with an error result. Workers are recycled after K requests or above an RSS ceiling, between
requests. `close()` lets queued work finish, then ends workers: EOF, a wait, SIGKILL.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable

from render_service import messages, wire
from render_service.config import RenderConfig
from render_service.jail import check_jail, jail_command, warn_unsafe
from render_service.renderers import RENDERERS, family, no_renderer
from render_service.sandbox import scrubbed_env
from render_service.types import RenderRequest, RenderResult

_STARTUP_SECONDS = 120.0
_EXIT_GRACE_SECONDS = 2.0
_PR_SET_CHILD_SUBREAPER = 36
_PASSED_ENV = ("HOME", "MPLCONFIGDIR", "XDG_CACHE_HOME", "PLAYWRIGHT_BROWSERS_PATH")


class RenderPool:
    """N worker processes rendering RenderRequests; use as a context manager."""

    def __init__(
        self,
        config: RenderConfig | None = None,
        registry: dict[str, str] | None = None,
        warm_domains: Iterable[str] = ("chart",),
    ):
        self.config = config or RenderConfig()
        if self.config.sandbox == "bwrap":
            check_jail()
            _adopt_orphans()
        else:
            warn_unsafe()
        self.size = self.config.workers or os.cpu_count() or 1
        self._registry = dict(RENDERERS if registry is None else registry)
        messages.bound_image_decoding(self.config, self._registry)
        self._warm = tuple(d for d in warm_domains if d in self._registry)
        self._queue: queue.Queue = queue.Queue(maxsize=self.config.queue_size)
        self._closed = False
        self._lock = threading.Lock()
        self._slots = [_Slot(self, index) for index in range(self.size)]
        for slot in self._slots:
            slot.thread.start()
        for slot in self._slots:
            slot.started.wait()  # warm workers before the first batch is timed against them

    def submit(self, request: RenderRequest) -> concurrent.futures.Future:
        """Queue one request; blocks while the queue is full."""
        with self._lock:
            if self._closed:
                raise RuntimeError("RenderPool is closed: create a new pool to render more")
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._queue.put((request, future))
        return future

    def render(self, requests: Iterable[RenderRequest]) -> list[RenderResult]:
        """Render all requests; results in request order."""
        return [future.result() for future in [self.submit(r) for r in requests]]

    def close(self) -> None:
        """Finish queued requests, then stop every worker; safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for _ in self._slots:
            self._queue.put(None)
        for slot in self._slots:
            slot.thread.join()

    def worker_pids(self) -> list[int]:
        """The live worker processes (for a jailed worker, its bubblewrap process)."""
        return [
            worker.process.pid
            for slot in self._slots
            for worker in list(slot.workers.values())
            if worker.process is not None
        ]

    def __enter__(self) -> RenderPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _worker_command(self) -> tuple[list[str], dict[str, str]]:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # above the package
        path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
        extra = {k: os.environ[k] for k in _PASSED_ENV if k in os.environ}
        threads = {k: "1" for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
        env = scrubbed_env({**extra, **threads, "PYTHONPATH": path})
        command = [sys.executable, "-P", "-m", "render_service.worker"]  # -P: no cwd on sys.path
        if self.config.sandbox == "bwrap":
            scratch = self.config.scratch_root or "/tmp"
            command = jail_command(command, self.config.scratch_mb, scratch)
        return command, env


class _Slot:
    """One feeder thread and its workers, one per family of domains (see `family`), started
    when the first request of that family arrives (or at once for the warm domains)."""

    def __init__(self, pool: RenderPool, index: int):
        self.pool = pool
        self.workers: dict[str, _Worker] = {}
        self.started = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"render-slot-{index}", daemon=True)

    def _run(self) -> None:
        try:
            for kind in dict.fromkeys(family(d) for d in self.pool._warm):
                with contextlib.suppress(wire.WireClosed, OSError):
                    self._worker(kind).start()  # warm before the first request; else per request
            self.started.set()
            while (item := self.pool._queue.get()) is not None:
                request, future = item
                if future.set_running_or_notify_cancel():
                    future.set_result(self._answer(request))
        finally:
            for worker in self.workers.values():
                worker.stop()

    def _worker(self, kind: str) -> _Worker:
        if kind not in self.workers:
            self.workers[kind] = _Worker(self.pool, kind)
        return self.workers[kind]

    def _answer(self, request: RenderRequest) -> RenderResult:
        """Always a result: a request the pool itself cannot handle must not hang render()."""
        if request.domain not in self.pool._registry:
            return no_renderer(request, self.pool._registry)
        worker = self._worker(family(request.domain))
        try:
            return worker.render(request)
        except Exception as err:  # e.g. options that are not plain data
            worker.stop(kill=True)
            return RenderResult(id=request.id, ok=False, error=f"PoolError: {err!r}")


class _Worker:
    """One worker process (in its own jail) for the domains of one family."""

    def __init__(self, pool: RenderPool, kind: str):
        self.pool = pool
        self.registry = {d: e for d, e in pool._registry.items() if family(d) == kind}
        self.warm = tuple(d for d in pool._warm if d in self.registry)
        self.process: subprocess.Popen | None = None
        self.served = 0

    def render(self, request: RenderRequest) -> RenderResult:
        """The worker's answer, read as untrusted data: a message that is too large or breaks
        the schema costs this request (an error result) and the worker (replaced)."""
        config = self.pool.config
        try:
            if self.process is None:
                self.start()
            wire.send(self.process.stdin.fileno(), messages.request_message(request))
            deadline = time.monotonic() + config.limits.wall_seconds + config.worker_grace_seconds
            limit = messages.answer_limit(config, request.domain)
            answer = wire.receive(self.process.stdout.fileno(), deadline, limit)
            result, rss_mb, retire = messages.read_answer(answer, request, config)
        except (wire.WireClosed, OSError) as err:
            reason = "hung" if isinstance(err, wire.WireTimeout) else "crashed"
            self.stop(kill=True)
            return RenderResult(
                id=request.id, ok=False, error=f"WorkerError: the render worker {reason}"
            )
        except (wire.WireError, messages.MessageError) as err:
            self.stop(kill=True)
            return RenderResult(
                id=request.id, ok=False, error=f"WorkerError: the answer was refused: {err}"
            )
        self.served += 1
        if (
            retire
            or self.served >= config.recycle_after_requests
            or rss_mb > config.recycle_above_rss_mb
        ):
            self.stop()
        return result

    def start(self) -> None:
        self.stop(kill=True)
        command, env = self.pool._worker_command()
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )
        self.served = 0
        try:
            start = messages.start_message(self.pool.config, self.registry, self.warm)
            wire.send(self.process.stdin.fileno(), start)
            ready = wire.receive(
                self.process.stdout.fileno(), time.monotonic() + _STARTUP_SECONDS, 1 << 20
            )
            messages.read_ready(ready)
        except (wire.WireError, messages.MessageError) as err:
            self.stop(kill=True)
            raise wire.WireClosed(f"the worker did not start: {err}") from None
        except BaseException:
            self.stop(kill=True)
            raise

    def stop(self, kill: bool = False) -> None:
        """End the worker: EOF and a short wait, or straight to SIGKILL with its children."""
        process, self.process = self.process, None
        if process is None:
            return
        if not kill:
            process.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(_EXIT_GRACE_SECONDS)
        if process.poll() is None:
            for child in _children(process.pid):
                for kill_child in (os.killpg, os.kill):  # an unjailed child leads its group
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        kill_child(child, signal.SIGKILL)
            process.kill()
            process.wait()
        _reap_orphaned_inits()
        for stream in (process.stdin, process.stdout):
            with contextlib.suppress(OSError):
                stream.close()


def _reap_orphaned_inits() -> None:
    """Reap the service's processes that came to the pool as orphans (see `_adopt_orphans`): a
    killed bubblewrap leaves its child, the jail's init, and a killed unjailed worker its zygote
    and the zygote's child. They carry names starting with "render-" (worker.py, zygote.py)."""
    deadline = time.monotonic() + _EXIT_GRACE_SECONDS
    while orphans := [pid for pid in _children(os.getpid()) if _is_our_orphan(pid)]:
        for pid in orphans:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        if time.monotonic() > deadline:
            return
        time.sleep(0.01)


def _is_our_orphan(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            name = stat.read().rpartition(")")[0].split("(", 1)[1]
        return name.startswith("render-")
    except (OSError, IndexError):
        return False


def _adopt_orphans() -> None:
    """Make this process the reaper of its descendants' orphans. bubblewrap's outer process
    may exit before the jail's init, its child, has been reaped; without this the init goes to
    pid 1, which in some containers never reaps, and stays a zombie."""
    ctypes.CDLL(None).prctl(_PR_SET_CHILD_SUBREAPER, 1)


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return found
