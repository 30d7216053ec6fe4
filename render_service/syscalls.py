"""The seccomp filter every sandboxed child loads before it runs model-written code.

libseccomp (through `pyseccomp`) builds a kernel filter that stays for the life of the process
and everything it could start, so it holds even when the code rewrites every Python object in
reach. Refused with EPERM:

- process creation other than threads: fork, vfork, clone without CLONE_THREAD (clone3 answers
  ENOSYS, so the C library falls back to clone, where the flags can be checked), execve;
- ptrace, reading or writing other processes' memory, taking their descriptors;
- namespaces and mounts: unshare, setns, mount, umount2, pivot_root, chroot;
- the kernel's keyring, bpf, perf events, userfaultfd, module loading, kexec, reboot, swap;
- sockets of every family: the worker talks to its child through pipes, not sockets;
- io_uring, whose requests the kernel carries out without passing the filter again;
- signals to any process but this one (kill, tgkill and sigqueue name only its own pid; tkill
  and pidfds are refused): the jail's init, the worker, the zygote and LibreOffice run as the
  same user, and a request's kill must cost that request only.
"""

from __future__ import annotations

import errno
import os

import pyseccomp as seccomp  # here, in the warm worker: finding libseccomp runs ldconfig

CLONE_THREAD = 0x00010000
DENIED = (
    "fork", "vfork", "execve", "execveat",
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd",
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot",
    "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
    "reboot", "swapon", "swapoff",
    "socket", "socketpair",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "tkill", "pidfd_open", "pidfd_send_signal", "process_madvise",
)  # fmt: skip
# Signals whose first argument is the target process: allowed for this process only.
SIGNALS = ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo")


def deny_dangerous_syscalls() -> None:
    """Load the filter into this process (irreversible; the sandboxed child calls it)."""
    refuse = seccomp.ERRNO(errno.EPERM)
    rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    for name in DENIED:
        rules.add_rule(refuse, name)
    rules.add_rule(refuse, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, CLONE_THREAD, 0))
    rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    own = os.getpid()
    for name in SIGNALS:
        rules.add_rule(refuse, name, seccomp.Arg(0, seccomp.NE, own))
    rules.load()
