"""Start bubblewrap as an unprivileged host user when the pool runs as root.

    python -I -S jail_launch.py UID -- bwrap ARGS...

Started by root, bubblewrap maps the jail's user to root outside it, and the kernel never
applies `RLIMIT_NPROC` to root's processes, so nothing would cap a request's tasks; a process
that left the jail's user namespace would also be root. So a root pool starts bubblewrap as the
host's user `UID` (65534, nobody). That user cannot reach what lies below a directory closed to
others (a Python installed under /root): in a mount namespace private to this launcher, each
such directory is covered by a tmpfs holding only the paths the jail binds, each bind-mounted
back where it was. The host's mounts are untouched. Standard library only: this runs with `-I
-S`, before any of the project can be imported.
"""

import ctypes
import os
import stat
import sys

_CLONE_NEWNS = 0x00020000
_MS_BIND, _MS_REC, _MS_PRIVATE = 0x1000, 0x4000, 0x40000
_BINDS = ("--ro-bind", "--ro-bind-try", "--bind", "--bind-try")


def main(argv: list[str]) -> None:
    uid, separator, *command = argv[1:]
    assert separator == "--", "usage: jail_launch.py UID -- bwrap ARGS..."
    sources = [command[i + 1] for i, arg in enumerate(command[:-1]) if arg in _BINDS]
    expose([path for path in sources if os.path.exists(path)])
    os.setgroups([])
    os.setresgid(int(uid), int(uid), int(uid))
    os.setresuid(int(uid), int(uid), int(uid))
    os.execv(command[0], command)


def expose(paths: list[str]) -> None:
    """Make each path reachable by any user, in this process's own mount namespace."""
    closed = {path: first_closed_ancestor(path) for path in paths}
    closed = {path: ancestor for path, ancestor in closed.items() if ancestor is not None}
    if not closed:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    check(libc.unshare(_CLONE_NEWNS), "unshare a mount namespace")
    check(libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None), "make mounts private")
    held = {path: os.open(path, os.O_PATH) for path in closed}  # before they are covered
    for ancestor in sorted(set(closed.values())):
        check(libc.mount(b"tmpfs", ancestor.encode(), b"tmpfs", 0, b"mode=0755"), "cover")
    for path, fd in held.items():
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            os.makedirs(path, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            open(path, "a").close()
        source = f"/proc/self/fd/{fd}".encode()
        check(libc.mount(source, path.encode(), None, _MS_BIND | _MS_REC, None), "bind")


def first_closed_ancestor(path: str) -> str | None:
    """The first directory above `path` that users other than its owner cannot enter."""
    parts = os.path.abspath(path).split(os.sep)[1:-1]
    for depth in range(1, len(parts) + 1):
        ancestor = os.sep + os.path.join(*parts[:depth])
        if not os.stat(ancestor).st_mode & stat.S_IXOTH:
            return ancestor
    return None


def check(returned: int, step: str) -> None:
    if returned != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"jail_launch: could not {step}: {os.strerror(errno)}")


if __name__ == "__main__":
    main(sys.argv)
