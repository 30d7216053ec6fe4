"""The OS wall (render_service/jail.py): each escape gets a test that runs plain Python inside
the jail, with no audit hook to help, and asserts the mark is absent on the host."""

import dataclasses
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import pytest

from render_service.config import RenderConfig
from render_service.jail import NOBODY, JailUnavailable, check_jail, jail_command
from render_service.types import RenderRequest

PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.path.expanduser("~/.cache")  # the data and target caches live here


def jailed_python(code: str, scratch_mb: int = 16, timeout: float = 60):
    command = jail_command([sys.executable, "-c", textwrap.dedent(code)], scratch_mb)
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def test_identity_is_an_unprivileged_user_without_capabilities():
    done = jailed_python(
        """
        import os
        status = dict(line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines())
        print(os.getuid(), os.getgid(), status["CapEff"].strip(), status["NoNewPrivs"].strip())
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(NOBODY), str(NOBODY), "0000000000000000", "1"]


def test_host_files_are_out_of_view(tmp_path):
    secret = uuid.uuid4().hex
    planted = [tmp_path / "secret.txt", os.path.join(PROJECT, f".jail-secret-{secret}")]
    for path in planted:
        with open(path, "w") as handle:
            handle.write(secret)
    try:
        done = jailed_python(
            f"""
            import os
            for path in {[str(p) for p in planted]!r} + [{CACHE!r}, "{PROJECT}/README.md"]:
                try:
                    print(open(path).read() if os.path.isfile(path) else os.listdir(path))
                except OSError as err:
                    print(type(err).__name__)
            """
        )
    finally:
        os.remove(planted[1])
    assert done.returncode == 0, done.stderr
    assert secret not in done.stdout + done.stderr
    assert done.stdout.split() == ["FileNotFoundError"] * 4


def test_nothing_is_written_outside_scratch(tmp_path):
    mark = uuid.uuid4().hex
    targets = [f"/tmp/jail-{mark}", f"/dev/shm/jail-{mark}", os.path.join(PROJECT, f"jail-{mark}")]
    done = jailed_python(
        f"""
        import os
        for path in {targets!r}:
            try:
                fd = os.open(os.path.basename(path), os.O_WRONLY | os.O_CREAT,
                             dir_fd=os.open(os.path.dirname(path), os.O_RDONLY))
                os.write(fd, b"x")
            except OSError as err:
                print(type(err).__name__)
        """
    )
    assert done.returncode == 0, done.stderr
    assert not any(os.path.exists(path) for path in targets)


def test_no_connection_reaches_a_loopback_listener():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(5)
    accepted = []
    thread = threading.Thread(target=lambda: accepted.append(_accept(listener)))
    thread.start()
    port = listener.getsockname()[1]
    done = jailed_python(
        f"""
        import socket
        try:
            socket.create_connection(("127.0.0.1", {port}), timeout=2)
            print("connected")
        except OSError as err:
            print(type(err).__name__)
        """
    )
    thread.join()
    listener.close()
    assert done.returncode == 0, done.stderr
    assert "connected" not in done.stdout and accepted == [None]


def _accept(listener):
    try:
        return listener.accept()
    except TimeoutError:
        return None


def test_no_process_outlives_the_jail():
    mark = uuid.uuid4().hex
    code = f"""
        import os, subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "{mark}"],
                         start_new_session=True)
        print("started", flush=True)
        time.sleep(60)
        """
    command = jail_command([sys.executable, "-c", textwrap.dedent(code)], 16)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "started"
    assert _marked(mark)  # the daemon runs, in its own session
    process.kill()
    process.wait()
    deadline = time.monotonic() + 5
    while _marked(mark) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _marked(mark)


def _marked(mark: str) -> bool:
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                if mark.encode() in cmdline.read():
                    return True
        except OSError:
            continue
    return False


def test_only_its_own_processes_are_visible():
    done = jailed_python(
        "import os; print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))"
    )
    assert done.returncode == 0, done.stderr
    assert os.getpid() not in eval(done.stdout) and max(eval(done.stdout)) < 100


def test_scratch_has_a_size_cap():
    done = jailed_python(
        """
        import os
        try:
            with open("/tmp/big", "wb") as handle:
                for _ in range(64):
                    handle.write(b"x" * (1 << 20))
            print("wrote 64 MB")
        except OSError as err:
            print(type(err).__name__, err.errno)
        """,
        scratch_mb=8,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["OSError", "28"]  # ENOSPC


def test_the_pool_renders_inside_the_jail_and_hides_the_targets(short_config):
    from render_service.pool import RenderPool

    target = os.path.join(PROJECT, "sdpo_jax", "data")
    code = textwrap.dedent(
        f"""
        import os
        import matplotlib.pyplot as plt
        plt.plot([1, 2])
        plt.title(f"uid {{os.getuid()}}")
        assert not os.path.exists({target!r}), "the bundled targets are visible"
        """
    )
    with RenderPool(short_config) as pool:
        (result,) = pool.render([RenderRequest("t", "chart", code)])
    assert result.ok, result.error


def test_a_host_without_namespaces_is_refused_in_one_line(monkeypatch):
    from render_service.pool import RenderPool

    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(JailUnavailable, match=r"bubblewrap .* is not installed.*'unsafe'"):
        check_jail()
    with pytest.raises(JailUnavailable):
        RenderPool(RenderConfig(workers=1))


def test_the_run_config_chooses_the_isolation():
    from sdpo_jax.config import ConfigError, load_config
    from sdpo_jax.runtime import pool_config

    assert pool_config(load_config("chart_tiny")).isolation == "bwrap"
    assert pool_config(load_config("chart_tiny", ["render.sandbox=unsafe"])).isolation == "unsafe"
    with pytest.raises(ConfigError, match=r"render\.sandbox"):
        load_config("chart_tiny", ["render.sandbox=none"])


def test_seccomp_refuses_processes_sockets_and_namespaces_but_not_threads():
    code = """
        import ctypes, errno, os, socket, subprocess, threading
        from render_service.syscalls import deny_dangerous_syscalls
        deny_dangerous_syscalls()
        libc = ctypes.CDLL(None, use_errno=True)
        def refused(call):
            try:
                call()
            except PermissionError:
                return "refused"
            return "ALLOWED"
        threads = []
        worker = threading.Thread(target=lambda: threads.append("thread"))
        worker.start(); worker.join()
        def denied(returned):  # a libc call: -1 and errno EPERM
            return "refused" if returned == -1 and ctypes.get_errno() == errno.EPERM else "ALLOWED"
        print(*threads, refused(os.fork), refused(lambda: subprocess.run(["/bin/true"])),
              refused(socket.socket), denied(libc.unshare(0x40000000)),  # CLONE_NEWNET
              denied(libc.ptrace(0, 0, 0, 0)))  # PTRACE_TRACEME
        """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["thread"] + ["refused"] * 5


def test_sandboxed_children_run_under_the_filter():
    from render_service.sandbox import SandboxLimits, run_sandboxed

    def status(scratch):
        with open("/proc/self/status") as handle:
            return handle.read()

    outcome = run_sandboxed(status, limits=SandboxLimits())
    assert outcome.ok, outcome.error
    assert "Seccomp:\t2" in outcome.value  # 2: a filter is loaded


@pytest.mark.chromium
def test_pages_cannot_reach_a_loopback_listener(short_config):
    from render_service.pool import RenderPool

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(4)
    port = listener.getsockname()[1]
    page = f"""<html><head><meta http-equiv="refresh" content="0; url=http://127.0.0.1:{port}/m">
    </head><body><p>hi</p><script>
    new WebSocket("ws://127.0.0.1:{port}/ws");
    navigator.sendBeacon("http://127.0.0.1:{port}/beacon", "x");
    fetch("http://127.0.0.1:{port}/fetch").catch(() => null);
    </script></body></html>"""
    request = RenderRequest("p", "web", page, options={"javascript": True})
    with RenderPool(dataclasses.replace(short_config, workers=1), warm_domains=("web",)) as pool:
        pool.render([request])
        assert _accept(listener) is None  # nothing connected while the page ran, or after
    listener.close()
