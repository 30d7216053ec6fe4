"""Run one function in a fresh, locked-down child forked from the current (warm) process.

Why fork: the worker has already imported matplotlib (or python-pptx), so a forked child starts
rendering in milliseconds, and whatever the model's code does to the interpreter dies with it.

Layers, each catching what the one before may miss:
  * resource limits: CPU seconds, address space (headroom over what the warm process already
    maps), file size, no core dumps;
  * as root: a fresh network namespace (no interfaces but a downed loopback);
  * a Python audit hook that refuses sockets, subprocesses, forks, signals, ctypes, writes
    outside the scratch directory and reads of any process's environment or of other
    processes' /proc entries; the one unaudited way to spawn (`_posixsubprocess.fork_exec`)
    is replaced in the child;
  * a scrubbed environment and the scratch directory as cwd, removed afterwards;
  * a parent-side watchdog: at the wall limit, or when stdout+stderr exceed their cap, the
    child's whole process group is SIGKILLed and the child is reaped.
Ugly but honest: the file and process rules are enforced in Python, not by the kernel. A
private uid would add kernel enforcement, but here the interpreter's stdlib lives under a
0700 /root, so a dropped uid could not import anything not already loaded.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import faulthandler
import io
import os
import pickle
import resource
import selectors
import shutil
import signal
import stat
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from render_service.generated import GeneratedCodeError, error_report
from render_service.syscalls import deny_dangerous_syscalls

_CLONE_NEWNET = 0x40000000
_PR_SET_PDEATHSIG = 1
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
# Classes a sandboxed child's result may contain besides plain data (see allow_result_types).
_RESULT_CLASSES: set[tuple[str, str]] = {
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "bytearray"),
    ("builtins", "complex"),
    *(("render_service.types", name) for name in ("Defect", "Element", "RenderResult")),
}


@dataclasses.dataclass(frozen=True)
class SandboxLimits:
    """Per-run limits. `memory_mb` is address space on top of what the forked process maps."""

    cpu_seconds: float = 10.0
    wall_seconds: float = 20.0
    memory_mb: int = 2048
    output_bytes: int = 64 * 1024
    file_bytes: int = 64 * 1024 * 1024

    def __post_init__(self):
        for name in ("cpu_seconds", "wall_seconds", "memory_mb", "output_bytes", "file_bytes"):
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


def run_sandboxed(
    fn: Callable[..., Any], *args: Any, limits: SandboxLimits, scratch_root: str | None = None
) -> SandboxOutcome:
    """Call `fn(scratch_dir, *args)` in a sandboxed child; never raises for what fn does."""
    scratch = tempfile.mkdtemp(prefix="sandbox-", dir=scratch_root)
    pipes = [os.pipe() for _ in range(3)]  # stdout, stderr, pickled result
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # child: never returns
        _child(fn, args, limits, scratch, [w for _, w in pipes], [r for r, _ in pipes])
    for _, w in pipes:
        os.close(w)
    try:
        chunks, status, reason = _watch(pid, [r for r, _ in pipes], limits, start)
    finally:
        for r, _ in pipes:
            os.close(r)
        _kill_everything(pid)
        shutil.rmtree(scratch, ignore_errors=True)
    elapsed = time.monotonic() - start
    stdout, stderr = (_decode(c, limits.output_bytes) for c in chunks[:2])
    outcome = dict(stdout=stdout, stderr=stderr, elapsed=elapsed)
    if reason is None and chunks[2]:
        try:
            ok, value, error = _ResultUnpickler(io.BytesIO(bytes(chunks[2]))).load()
            return SandboxOutcome(ok=ok, value=value, error=error, **outcome)
        except Exception as err:  # a truncated, forged or foreign payload
            reason = f"Crash: result could not be read ({type(err).__name__})"
    if reason is None:
        reason = _describe_status(status, limits)
    return SandboxOutcome(ok=False, error=reason, **outcome)


def allow_result_types(*classes: type) -> None:
    """Let values of these classes come back from sandboxed children (see _ResultUnpickler)."""
    _RESULT_CLASSES.update((cls.__module__, cls.__qualname__) for cls in classes)


class _ResultUnpickler(pickle.Unpickler):
    """Model code can write to the result pipe, so the payload is untrusted: unpickling it
    may only build plain data and the registered result classes, never call anything else."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _RESULT_CLASSES:
            raise pickle.UnpicklingError(f"{module}.{name} is not an allowed result type")
        return super().find_class(module, name)


def scrubbed_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The only environment sandboxed code and pool workers get."""
    return {**_SAFE_ENV, **(extra or {})}


def _watch(pid: int, fds: list[int], limits: SandboxLimits, start: float):
    """Drain the child's pipes until it exits, the wall limit passes or output overflows.

    Returns (chunks, wait status, reason); reason is set when the watchdog ended the run. After
    the child exits, only what is already buffered is read: a straggler that inherited a pipe
    must not keep the parent waiting.
    """
    chunks = [bytearray(), bytearray(), bytearray()]
    with selectors.DefaultSelector() as selector:
        for index, fd in enumerate(fds):
            selector.register(fd, selectors.EVENT_READ, index)
        status = None
        while True:
            remaining = start + limits.wall_seconds - time.monotonic()
            if remaining <= 0:
                return chunks, status, f"Timeout: wall-clock limit of {limits.wall_seconds:g} s"
            events = selector.select(timeout=0 if status is not None else min(remaining, 0.05))
            for key, _ in events:
                data = os.read(key.fd, 1 << 16)
                if not data:
                    selector.unregister(key.fd)
                chunks[key.data] += data
            if len(chunks[0]) + len(chunks[1]) > limits.output_bytes:
                reason = f"OutputLimit: more than {limits.output_bytes} bytes of stdout/stderr"
                return chunks, status, reason
            if status is not None and not events:
                return chunks, status, None
            if status is None:
                done, raw = os.waitpid(pid, os.WNOHANG)
                status = raw if done else None


def _child(fn, args, limits, scratch, write_fds, read_fds) -> None:
    code = 0
    try:
        for fd in read_fds:
            os.close(fd)
        result_fd = _confine(limits, scratch, write_fds)
        try:
            payload = (True, fn(scratch, *args), None)
        except GeneratedCodeError as err:
            payload = (False, None, str(err))
        except BaseException as err:
            payload = (False, None, error_report(err))
        try:
            data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as err:
            data = pickle.dumps((False, None, f"ResultError: value is not picklable ({err})"))
        sys.stdout.flush()
        sys.stderr.flush()
        view = memoryview(data)
        while view:
            view = view[os.write(result_fd, view) :]
    except BaseException:
        code = 70  # the sandbox itself failed; the parent reports the exit status
    finally:
        os._exit(code)


def _confine(limits: SandboxLimits, scratch: str, write_fds: list[int]) -> int:
    """Apply every layer to this (child) process; returns the fd for the result."""
    os.setpgid(0, 0)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # a killed worker takes its child along
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(70)
    out_fd, err_fd, result_fd = write_fds
    null = os.open(os.devnull, os.O_RDONLY)
    if null != 0:  # input() gets EOF, never the worker's request pipe
        os.dup2(null, 0)
        os.close(null)
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    os.close(out_fd)
    os.close(err_fd)
    _close_inherited(keep=(0, 1, 2, result_fd))
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    faulthandler.disable()  # an inherited handler would dump into the parent's stderr
    os.chdir(scratch)
    if os.geteuid() == 0:
        libc.unshare(_CLONE_NEWNET)  # best effort: the audit hook refuses sockets anyway
    _close_spawn_backdoor()
    mapped = _vm_size_bytes()
    _set_limit(resource.RLIMIT_AS, mapped + limits.memory_mb * 1024 * 1024)
    cpu = int(limits.cpu_seconds + 0.999)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    _set_limit(resource.RLIMIT_FSIZE, limits.file_bytes)
    _set_limit(resource.RLIMIT_CORE, 0)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # oversize writes raise instead of killing
    os.environ.clear()
    os.environ.update(scrubbed_env({"HOME": scratch, "TMPDIR": scratch}))
    tempfile.tempdir = scratch
    # The kernel's filter, whatever the code later does to Python; loaded through ctypes, so
    # before the audit hook, which refuses ctypes.
    deny_dangerous_syscalls()
    sys.addaudithook(_make_guard(os.path.realpath(scratch)))
    return result_fd


def _close_inherited(keep: tuple[int, ...]) -> None:
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


def _kill_everything(pid: int) -> None:
    """SIGKILL the child's process group (it is its leader) and reap the child."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _close_spawn_backdoor() -> None:
    """`subprocess` spawns through `_posixsubprocess.fork_exec`, which raises no audit event."""
    import _posixsubprocess

    def refuse(*_args, **_kwargs):
        raise PermissionError("sandbox: starting processes is not allowed")

    _posixsubprocess.fork_exec = refuse
    if "subprocess" in sys.modules:
        sys.modules["subprocess"]._fork_exec = refuse


def _describe_status(status: int | None, limits: SandboxLimits) -> str:
    if status is None:
        return "Crash: the child vanished without a status"
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
