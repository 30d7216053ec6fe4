"""The OS wall around a render worker: bubblewrap namespaces and a filesystem view.

Each pool worker (and so every request's child it forks, LibreOffice and Chromium included)
runs inside `bwrap` with:

- its own user, pid, mount, network, ipc, uts and cgroup namespaces, as uid/gid 65534 with no
  capabilities and `no_new_privs`; the network namespace has no route anywhere, loopback
  included, and the worker's pid namespace dies with it, taking every process along;
- the worker itself as pid 1 (`--as-pid-1`): bubblewrap's own init would stay pid 1, dumpable
  and holding the pool's pipes; the worker's init holds nothing (see worker.py);
- started by root, the jail is entered as the host's user 65534, not root (jail_launch.py), so
  the kernel counts a request's tasks against `RLIMIT_NPROC`;
- a filesystem holding only what rendering needs, read-only: /usr (programs, libraries, fonts),
  the font configuration and caches, the Python runtime, the virtual environment and the
  `render_service` package; plus a fresh tmpfs of `scratch_mb` for the requests' scratch
  folders (at `scratch_root`, /tmp by default), the one writable place. No /root, no project
  tree, no data or target cache, no run directory, no /proc of other processes. The working
  directory is the read-only `/`, and Python runs with `-P`: no writable directory is on
  `sys.path`. Each request's child also gets a scratch of its own (isolation.py).

Everything inside the worker can still rewrite Python objects; this is the layer that holds
when it does. `RenderConfig.sandbox="unsafe"` runs workers without it (with a warning).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings

NOBODY = 65534
LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "jail_launch.py")
# Read-only extras a render needs when they exist: the dynamic loader's cache, font settings
# and caches (without them fontconfig rebuilds its cache on every worker start), and the
# settings Debian's Chromium and LibreOffice launchers read.
_OPTIONAL = (
    "/etc/ld.so.cache",
    "/etc/fonts",
    "/var/cache/fontconfig",
    "/etc/alternatives",
    "/etc/chromium",
    "/etc/chromium.d",
    "/etc/libreoffice",
)


class JailUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create namespaces here."""


def jail_command(command: list[str], scratch_mb: int, scratch: str = "/tmp") -> list[str]:
    """`command` wrapped in bwrap with the view described above; the tmpfs is at `scratch`."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise JailUnavailable(
            "bubblewrap (bwrap) is not installed: run `make setup` (apt-get install "
            "bubblewrap), or set render.sandbox=unsafe to run without the OS sandbox"
        )
    package = os.path.dirname(os.path.abspath(__file__))  # render_service/
    args = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--as-pid-1"]
    args += ["--cap-drop", "ALL"]
    args += ["--uid", str(NOBODY), "--gid", str(NOBODY)]
    args += ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "lib", "lib64", "sbin"):
        target = os.path.join("/", name)
        if os.path.islink(target):
            args += ["--symlink", os.readlink(target), target]
        elif os.path.isdir(target):
            args += ["--ro-bind", target, target]
    for path in _OPTIONAL:
        args += ["--ro-bind-try", path, path]
    for path in dict.fromkeys((sys.base_prefix, sys.prefix, package)):
        args += ["--ro-bind", path, path]
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--size", str(scratch_mb * 1024 * 1024), "--tmpfs", scratch, "--chdir", "/"]
    # bwrap's own root and /dev are unsized tmpfs: read-only, so scratch is the only place to
    # write (device nodes such as /dev/null still accept writes).
    args += ["--remount-ro", "/", "--remount-ro", "/dev"]
    # Home and matplotlib's cache live in the scratch tmpfs: the host's are not in the view.
    args += ["--setenv", "HOME", scratch, "--setenv", "MPLCONFIGDIR", f"{scratch}/matplotlib"]
    if os.geteuid() == 0:
        return [sys.executable, "-I", "-S", LAUNCHER, str(NOBODY), "--", *args, "--", *command]
    return [*args, "--", *command]


def check_jail() -> None:
    """Raise JailUnavailable with the reason if bwrap cannot start a jailed process here."""
    # The jail's user must be able to start the worker's Python and import the package.
    probe = [sys.executable, "-P", "-c", "import render_service.isolation"]
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        done = subprocess.run(
            jail_command(probe, scratch_mb=1),
            capture_output=True,
            timeout=30,
            env={"PYTHONPATH": package_root, "PATH": "/usr/bin:/bin"},
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise JailUnavailable(f"bubblewrap could not start: {err}") from None
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip().splitlines()
        raise JailUnavailable(
            f"bubblewrap cannot start the worker's Python here "
            f"({reason[-1] if reason else 'no reason'}): run on a host or a container that allows"
            f" user namespaces, with the Python and its packages readable by user {NOBODY}, or "
            "set render.sandbox=unsafe to run without the OS sandbox"
        )


def warn_unsafe() -> None:
    warnings.warn(
        "render workers run WITHOUT the OS sandbox (render.sandbox=unsafe): model-written code can "
        "read and write whatever this user can",
        RuntimeWarning,
        stacklevel=3,
    )
