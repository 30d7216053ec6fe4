"""Run one function in a fresh, locked-down child of a warm process.

Why fork: the worker has already imported matplotlib (or python-pptx), so a forked child starts
rendering in milliseconds, and whatever the model's code does to the interpreter dies with it.
In a pool worker the child is forked from the worker's zygote (zygote.py), which never held a
request; its work (the function's name and plain arguments) comes down a pipe. Called outside
a worker, `run_sandboxed` forks the calling process itself.

Layers, each catching what the one before may miss:
  * in a jailed worker, a user and mount namespace of its own: an empty tmpfs as scratch and
    no /proc (isolation.py);
  * resource limits: CPU seconds, address space (headroom over what the warm process already
    maps), file size, tasks (`RLIMIT_NPROC`, counted per request in its own user namespace),
    no core dumps;
  * a seccomp filter (syscalls.py): the kernel's word, whatever the code does to Python;
  * a Python audit hook that turns refused actions into friendly errors (sockets,
    subprocesses, signals, ctypes, writes outside scratch, other processes' /proc entries);
  * a scrubbed environment and the scratch directory as cwd;
  * a parent-side watchdog: at the wall limit, or when stdout+stderr or the result exceed
    their caps, the child's whole process group is SIGKILLed and the child is reaped.
The child's value comes back as one plain msgpack message (wire.py), read under a cap. The code
can write that message itself, so a value is a claim: renderers measure what they can outside.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import faulthandler
import importlib
import os
import resource
import selectors
import shutil
import signal
import stat
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from typing import Any

from render_service import wire
from render_service.generated import GeneratedCodeError, error_report
from render_service.isolation import isolate
from render_service.syscalls import deny_dangerous_syscalls
from render_service.zygote import Zygote

_CLONE_NEWNET = 0x40000000
_PR_SET_PDEATHSIG = 1
_SANDBOX_FAILED = 70  # the child's exit status when a layer could not be applied
_SAFE_ENV = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin"}
_REFUSED_EVENTS = frozenset(
    {
        "socket.__new__",
        "socket.connect",
        "socket.bind",
        "socket.sendto",
        "socket.sendmsg",
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "subprocess.Popen",
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "os.fork",
        "os.forkpty",
        "os.kill",
        "os.killpg",
        "signal.pthread_kill",
        "ctypes.dlopen",
        "ctypes.dlsym",
        "ctypes.dlsym/handle",
        "ctypes.call_function",
        "ctypes.string_at",
        "ctypes.wstring_at",
        "ctypes.cdata",
        "ctypes.cdata/buffer",
        "ctypes.addressof",
    }
)
# Events whose path arguments (by position) must lie inside the scratch directory.
_PATH_EVENTS = {
    "os.remove": (0,),
    "os.rmdir": (0,),
    "os.mkdir": (0,),
    "os.rename": (0, 1),
    "os.link": (0, 1),
    "os.symlink": (1,),
    "os.truncate": (0,),
    "os.chmod": (0,),
    "os.chown": (0,),
    "os.utime": (0,),
    "shutil.rmtree": (0,),
    "shutil.copyfile": (1,),
}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


@dataclasses.dataclass(frozen=True)
class SandboxLimits:
    """Per-run limits. `memory_mb` is address space on top of what the forked process maps."""

    cpu_seconds: float = 10.0
    wall_seconds: float = 20.0
    memory_mb: int = 2048
    output_bytes: int = 64 * 1024
    file_bytes: int = 64 * 1024 * 1024
    tasks: int = 32  # threads of the request's child, itself included
    result_bytes: int = 128 * 1024 * 1024  # the child's value as sent (a deck, an image)

    def __post_init__(self):
        for name in (f.name for f in dataclasses.fields(self)):
            if getattr(self, name) <= 0:
                raise ValueError(f"SandboxLimits.{name}={getattr(self, name)}: must be > 0")


@dataclasses.dataclass(frozen=True)
class SandboxOutcome:
    """What came back. `error`'s first line says what went wrong; `value` is fn's return."""

    ok: bool
    value: Any = None
    error: str | None = None
    stdout: str = ""
    stderr: str = ""
    elapsed: float = 0.0


# The worker's zygote and whether its children isolate themselves (see `use_zygote`).
_SPAWNER: dict[str, Any] = {}


def use_zygote(zygote: Zygote, isolated: bool) -> None:
    """Fork every later child from `zygote`; `isolated`: in namespaces of its own (a jail)."""
    _SPAWNER.update(zygote=zygote, isolated=isolated)


def start_zygote(isolated: bool) -> Zygote:
    """Fork this warm process's zygote and use it for every later child."""
    zygote = Zygote.start(child=_child_of_zygote, let_go=lambda keep: _close_inherited(keep))
    use_zygote(zygote, isolated)
    return zygote


def run_sandboxed(
    fn: Callable[..., Any], *args: Any, limits: SandboxLimits, scratch_root: str | None = None
) -> SandboxOutcome:
    """Call `fn(scratch_dir, *args)` in a sandboxed child; never raises for what fn does.

    From a zygote, `fn` must be a module-level function and `args` plain data (they travel as
    a message); `fn`'s value must be plain data (dataclasses travel as maps) either way."""
    zygote, isolated = _SPAWNER.get("zygote"), _SPAWNER.get("isolated", False)
    root = scratch_root or tempfile.gettempdir()
    scratch = root if isolated else tempfile.mkdtemp(prefix="sandbox-", dir=root)
    args = wire.unpack(wire.pack(args))  # plain data in either case, as the child reads it
    job = {"limits": limits, "scratch": scratch, "isolated": isolated}
    pipes = [os.pipe() for _ in range(4)]  # work in; stdout, stderr, the value out
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    start = time.monotonic()
    if zygote is not None:
        child_ends = [pipes[0][0], *(w for _, w in pipes[1:])]
        pid = zygote.spawn(child_ends)
        job.update(fn=f"{fn.__module__}:{fn.__qualname__}", args=args)
    else:
        pid = os.fork()
        if pid == 0:  # child: never returns
            child_ends = [pipes[0][0], *(w for _, w in pipes[1:])]
            _child(fn, args, child_ends, pipes[0][1], limits, scratch, False)
    os.close(pipes[0][0])
    for _, w in pipes[1:]:
        os.close(w)
    waiter = _ZygoteWait(zygote) if zygote is not None else _ForkWait(pid)
    try:
        if zygote is not None:
            with contextlib.suppress(OSError):  # a child that died at once reads nothing
                wire.send(pipes[0][1], job)
        os.close(pipes[0][1])
        chunks, status, reason = _watch(waiter, [r for r, _ in pipes[1:]], limits, start)
    finally:
        for r, _ in pipes[1:]:
            os.close(r)
        _kill_everything(pid, waiter if zygote is not None else None)
        if not isolated:
            shutil.rmtree(scratch, ignore_errors=True)
    elapsed = time.monotonic() - start
    stdout, stderr = (_decode(c, limits.output_bytes) for c in chunks[:2])
    outcome = dict(stdout=stdout, stderr=stderr, elapsed=elapsed)
    if reason is None and chunks[2]:
        try:
            ok, value, error = _read_value(bytes(chunks[2]))
            return SandboxOutcome(ok=ok, value=value, error=error, **outcome)
        except (wire.WireError, ValueError) as err:  # a truncated, forged or foreign message
            reason = f"Crash: result could not be read ({err})"
    if reason is None:
        reason = _describe_status(status, limits, stderr)
    return SandboxOutcome(ok=False, error=reason, **outcome)


def scrubbed_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The only environment sandboxed code and pool workers get."""
    return {**_SAFE_ENV, **(extra or {})}


def _read_value(data: bytes) -> tuple[bool, Any, str | None]:
    """(ok, value, error) from the child's one framed message, read as untrusted data."""
    size = int.from_bytes(data[:8], "big")
    if len(data) < 8 or size != len(data) - 8:
        raise ValueError(f"{len(data)} bytes are not one framed message")
    message = wire.unpack(data[8:])
    if not isinstance(message, dict) or set(message) != {"ok", "value", "error"}:
        raise ValueError("not an outcome message")
    ok, error = message["ok"], message["error"]
    if not isinstance(ok, bool) or not (error is None or isinstance(error, str)):
        raise ValueError("not an outcome message")
    return ok, message["value"], error


class _ForkWait:
    """A child of this process: its status comes from waitpid."""

    def __init__(self, pid: int):
        self.pid = pid

    def fileno(self) -> int | None:
        return None

    def status(self) -> int | None:
        done, raw = os.waitpid(self.pid, os.WNOHANG)
        return raw if done else None


class _ZygoteWait:
    """A child of the zygote: its status comes over the zygote's socket."""

    def __init__(self, zygote: Zygote):
        self.zygote, self.done = zygote, None

    def fileno(self) -> int:
        return self.zygote.fileno()

    def status(self) -> int | None:
        if self.done is None:
            self.done = self.zygote.status(timeout=0)
        return self.done


def _watch(waiter, fds: list[int], limits: SandboxLimits, start: float):
    """Drain the child's pipes until it exits, the wall limit passes or output overflows.

    Returns (chunks, wait status, reason); reason is set when the watchdog ended the run. After
    the child exits, only what is already buffered is read: a straggler that inherited a pipe
    must not keep the parent waiting.
    """
    chunks = [bytearray(), bytearray(), bytearray()]
    with selectors.DefaultSelector() as selector:
        for index, fd in enumerate(fds):
            selector.register(fd, selectors.EVENT_READ, index)
        if waiter.fileno() is not None:
            selector.register(waiter.fileno(), selectors.EVENT_READ, None)
        status = None
        while True:
            remaining = start + limits.wall_seconds - time.monotonic()
            if remaining <= 0:
                return chunks, status, f"Timeout: wall-clock limit of {limits.wall_seconds:g} s"
            events = selector.select(timeout=0 if status is not None else min(remaining, 0.05))
            drained = False
            for key, _ in events:
                if key.data is None:
                    continue  # the zygote's answer: read below
                data = os.read(key.fd, 1 << 16)
                if not data:
                    selector.unregister(key.fd)
                chunks[key.data] += data
                drained = True
            if len(chunks[0]) + len(chunks[1]) > limits.output_bytes:
                reason = f"OutputLimit: more than {limits.output_bytes} bytes of stdout/stderr"
                return chunks, status, reason
            if len(chunks[2]) > limits.result_bytes + 8:
                reason = f"ResultLimit: a value of more than {limits.result_bytes} bytes"
                return chunks, status, reason
            if status is not None and not drained:
                return chunks, status, None
            if status is None:
                status = waiter.status()
                if status is not None and waiter.fileno() is not None:
                    selector.unregister(waiter.fileno())


def _child_of_zygote(fds: list[int]) -> None:
    """A child forked from the zygote: its work comes down the first pipe."""
    code = _SANDBOX_FAILED
    try:
        job = wire.receive(fds[0], max_bytes=wire.MAX_MESSAGE_BYTES)
        module, _, name = job["fn"].partition(":")
        fn = importlib.import_module(module)
        for part in name.split("."):
            fn = getattr(fn, part)
        limits = SandboxLimits(**job["limits"])
        code = None
    finally:
        if code is not None:
            os._exit(code)
    _child(fn, job["args"], fds, None, limits, job["scratch"], job["isolated"])


def _child(fn, args, fds, spare, limits, scratch, isolated) -> None:
    code = 0
    try:
        if spare is not None:
            os.close(spare)  # the parent's end of the work pipe
        result_fd = _confine(limits, scratch, fds, isolated)
        try:
            payload = {"ok": True, "value": fn(scratch, *args), "error": None}
        except GeneratedCodeError as err:
            payload = {"ok": False, "value": None, "error": str(err)}
        except BaseException as err:
            payload = {"ok": False, "value": None, "error": error_report(err)}
        try:
            data = wire.frame(payload)
        except Exception as err:
            error = f"ResultError: the value is not plain data ({err})"
            data = wire.frame({"ok": False, "value": None, "error": error})
        sys.stdout.flush()
        sys.stderr.flush()
        view = memoryview(data)
        while view:
            view = view[os.write(result_fd, view) :]
    except BaseException:
        code = _SANDBOX_FAILED  # the parent reports it, with the reason written to stderr
        with contextlib.suppress(Exception):
            os.write(2, traceback.format_exc().encode())
    finally:
        os._exit(code)


def _confine(limits: SandboxLimits, scratch: str, fds: list[int], isolated: bool) -> int:
    """Apply every layer to this (child) process; returns the fd for the result."""
    os.setpgid(0, 0)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # a killed worker takes its child along
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(_SANDBOX_FAILED)
    work_fd, out_fd, err_fd, result_fd = fds
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)  # input() gets EOF, never the worker's request pipe
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    for fd in {null, work_fd, out_fd, err_fd} - {0, 1, 2}:
        os.close(fd)
    _close_inherited(keep={0, 1, 2, result_fd})
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    faulthandler.disable()  # an inherited handler would dump into the parent's stderr
    mapped = _vm_size_bytes()
    if isolated:
        isolate(scratch, limits.file_bytes)
    os.chdir(scratch)
    if os.geteuid() == 0:
        libc.unshare(_CLONE_NEWNET)  # best effort: the audit hook refuses sockets anyway
    _close_spawn_backdoor()
    _set_limit(resource.RLIMIT_AS, mapped + limits.memory_mb * 1024 * 1024)
    cpu = int(limits.cpu_seconds + 0.999)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    _set_limit(resource.RLIMIT_FSIZE, limits.file_bytes)
    _set_limit(resource.RLIMIT_CORE, 0)
    _set_limit(resource.RLIMIT_NPROC, limits.tasks)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # oversize writes raise instead of killing
    os.environ.clear()
    os.environ.update(scrubbed_env({"HOME": scratch, "TMPDIR": scratch}))
    tempfile.tempdir = scratch
    # The kernel's filter, whatever the code later does to Python; loaded through ctypes, so
    # before the audit hook, which refuses ctypes.
    deny_dangerous_syscalls()
    sys.addaudithook(_make_guard(os.path.realpath(scratch)))
    return result_fd


def _close_inherited(keep: set[int]) -> None:
    """Close every inherited descriptor but `keep` and regular files: the worker's pipes to the
    pool, a browser or LibreOffice connection go; the font files the warm worker reads glyphs
    from stay (closing them breaks text drawing), and reveal nothing the view does not."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd in keep:
            continue
        with contextlib.suppress(OSError):
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)


def _make_guard(scratch: str):
    inside = scratch + os.sep
    realpath, fspath = os.path.realpath, os.fsdecode

    def allowed(path) -> bool:
        if isinstance(path, int):
            return True
        resolved = realpath(fspath(path))
        return resolved == scratch or resolved.startswith(inside) or resolved == "/dev/null"

    def guard(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = args
            if isinstance(path, int):
                return
            name = realpath(fspath(path))
            if name.startswith("/proc/") and _foreign_proc(name):
                raise PermissionError(f"sandbox: reading {name} is not allowed")
            writing = (
                any(c in mode for c in "wax+") if isinstance(mode, str) else flags & _WRITE_FLAGS
            )
            if writing and not allowed(path):
                raise PermissionError(f"sandbox: writing outside the scratch directory: {name}")
        elif event in _REFUSED_EVENTS:
            raise PermissionError(f"sandbox: {event} is not allowed")
        elif event in _PATH_EVENTS:
            for index in _PATH_EVENTS[event]:
                if index < len(args) and args[index] is not None and not allowed(args[index]):
                    raise PermissionError(f"sandbox: {event} outside the scratch directory")

    return guard


def _foreign_proc(name: str) -> bool:
    """/proc paths naming another process, or any process's environment."""
    part = name.split("/")[2] if name.count("/") >= 2 else ""
    own = part in ("self", "thread-self", str(os.getpid()))
    return name.endswith("/environ") or (part.isdigit() and not own)


def _set_limit(which: int, value: int) -> None:
    _, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))


def _vm_size_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _kill_everything(pid: int, zygote_wait=None) -> None:
    """SIGKILL the child (and its process group, which it leads) and reap it: here, or in the
    zygote, whose answer is then read so that the next child's is not mistaken for it."""
    for kill in (os.killpg, os.kill):  # before setpgid the child leads no group yet
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pid, signal.SIGKILL)
    if zygote_wait is None:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    elif zygote_wait.done is None:
        zygote_wait.done = zygote_wait.zygote.status(timeout=None)


def _close_spawn_backdoor() -> None:
    """`subprocess` spawns through `_posixsubprocess.fork_exec`, which raises no audit event."""
    import _posixsubprocess

    def refuse(*_args, **_kwargs):
        raise PermissionError("sandbox: starting processes is not allowed")

    _posixsubprocess.fork_exec = refuse
    if "subprocess" in sys.modules:
        sys.modules["subprocess"]._fork_exec = refuse


def _describe_status(status: int | None, limits: SandboxLimits, stderr: str) -> str:
    if status is None:
        return "Crash: the child vanished without a status"
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == _SANDBOX_FAILED:
        last = (stderr.strip().splitlines() or ["no reason given"])[-1]
        return f"Crash: the sandbox could not be set up ({last})"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU:
            return f"CPULimit: CPU time limit of {limits.cpu_seconds:g} s exceeded"
        if sig == signal.SIGKILL:
            return "Killed: SIGKILL (CPU or memory limit, or the system's OOM killer)"
        return f"Crash: killed by signal {signal.Signals(sig).name}"
    return f"Exit: the code ended the process with status {os.WEXITSTATUS(status)}"


def _decode(data: bytearray, limit: int) -> str:
    text = bytes(data[:limit]).decode("utf-8", errors="replace")
    return text + (f"\n[truncated {len(data) - limit} bytes]" if len(data) > limit else "")
