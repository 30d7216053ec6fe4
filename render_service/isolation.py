"""A request's own view of the jail: what a sandboxed child sets up before it runs the code.

In a jailed worker every request's child enters a user and a mount namespace of its own (all
processes of a jail share one uid, so files and permissions cannot keep requests apart; mounts
can). There it gets:

- an empty tmpfs as its scratch and working directory, at the worker's scratch path: nothing an
  earlier request wrote is there, and nothing it writes outlives it (a module planted for later
  requests, a file left for another to read);
- an empty, read-only /proc: the jail's other processes (the worker, LibreOffice, the zygote)
  are dumpable or not, but a child cannot open what it cannot name;
- no capabilities in its new namespace (it gets all of them by creating it, and keeps none);
- its own count of tasks, so `RLIMIT_NPROC` caps the threads of this request alone.
"""

from __future__ import annotations

import ctypes
import os

_CLONE_NEWNS, _CLONE_NEWUSER = 0x00020000, 0x10000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
_MS_REC, _MS_PRIVATE = 0x4000, 0x40000
_CAPABILITY_VERSION_3 = 0x20080522
_PR_SET_DUMPABLE = 4


class IsolationError(OSError):
    """The kernel refused a step (no user namespaces here?); the child must not run the code."""


def isolate(scratch: str, size_bytes: int) -> None:
    """Enter the namespaces above; `scratch` becomes an empty tmpfs of `size_bytes`."""
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.geteuid(), os.getegid()
    # A process writes its own maps only while dumpable (its /proc files are root's otherwise);
    # the worker's children inherit "not dumpable", and get it back before any code runs.
    libc.prctl(_PR_SET_DUMPABLE, 1)
    _check(libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNS), "unshare a user and mount namespace")
    maps = (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1"))
    for name, text in maps:
        with open(f"/proc/self/{name}", "w") as handle:
            handle.write(text)
    libc.prctl(_PR_SET_DUMPABLE, 0)
    _check(libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None), "make mounts private")
    options = f"size={size_bytes},mode=0700".encode()
    fresh = libc.mount(b"tmpfs", scratch.encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV, options)
    _check(fresh, "mount a scratch tmpfs")
    hidden = _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
    _check(libc.mount(b"tmpfs", b"/proc", b"tmpfs", hidden, b"size=4k,mode=0555"), "hide /proc")
    header = (ctypes.c_uint32 * 2)(_CAPABILITY_VERSION_3, 0)
    _check(libc.capset(header, (ctypes.c_uint32 * 6)()), "drop capabilities")


def _check(returned: int, step: str) -> None:
    if returned != 0:
        errno = ctypes.get_errno()
        raise IsolationError(errno, f"sandbox: could not {step} ({os.strerror(errno)})")
