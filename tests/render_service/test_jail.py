"""The OS wall (render_service/jail.py): each escape gets a test that runs plain Python inside
the jail, with no audit hook to help, and asserts the mark is absent on the host."""

import dataclasses
import os
import socket
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

from render_service.config import RenderConfig
from render_service.jail import NOBODY, JailUnavailable, check_jail, jail_command
from render_service.types import RenderRequest

PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.path.expanduser("~/.cache")  # the data and target caches live here
VALID = "import matplotlib.pyplot as plt\nplt.plot([1, 2])\n"


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
    listener = _listen()
    done = jailed_python(
        f"""
        import socket
        try:
            socket.create_connection(("127.0.0.1", {_port(listener)}), timeout=2)
            print("connected")
        except OSError as err:
            print(type(err).__name__)
        """
    )
    accepted = _accept(listener)
    listener.close()
    assert done.returncode == 0, done.stderr
    assert "connected" not in done.stdout and accepted is None


def test_python_pptx_code_cannot_reach_a_loopback_listener(short_config):
    """The same code reaches the listener when run plainly; from the pool it reaches nothing."""
    from render_service.pool import RenderPool

    listener = _listen()
    connect = f"import socket\nsocket.create_connection(('127.0.0.1', {_port(listener)}), 2)\n"
    plain = subprocess.run([sys.executable, "-c", connect], capture_output=True, timeout=60)
    assert plain.returncode == 0 and _accept(listener) is not None  # the control got through
    code = GUARD_OFF + "from pptx import Presentation\n" + connect
    config = dataclasses.replace(short_config, workers=1, worker_grace_seconds=60)
    with RenderPool(config, warm_domains=()) as pool:
        (result,) = pool.render([RenderRequest("n", "slide_pptx", code)])
    accepted = _accept(listener)
    listener.close()
    assert not result.ok and "PermissionError" in result.error, result.error
    assert accepted is None


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
    with pytest.raises(
        JailUnavailable, match=r"bubblewrap .* is not installed.*render.sandbox=unsafe"
    ):
        check_jail()
    with pytest.raises(JailUnavailable):
        RenderPool(RenderConfig(workers=1))


def test_the_run_config_sets_the_pools_one_render_config():
    from sdpo_jax.config import ConfigError, load_config

    render = load_config("chart_tiny").render
    assert isinstance(render, RenderConfig) and render.sandbox == "bwrap"
    overrides = ["render.sandbox=unsafe", "render.limits.wall_seconds=3", "render.trace=false"]
    render = load_config("chart_tiny", overrides).render
    assert (render.sandbox, render.limits.wall_seconds, render.trace) == ("unsafe", 3.0, False)
    with pytest.raises(ConfigError, match=r"render\.sandbox"):
        load_config("chart_tiny", ["render.sandbox=none"])
    with pytest.raises(ConfigError, match=r"render\.limits\.memory_mb='0': .* must be > 0"):
        load_config("chart_tiny", ["render.limits.memory_mb=0"])


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
    """A page fires every way out it has, then paints a red square: the square in its render
    shows the page loaded and its script ran, so the silence is the jail's. Pages that navigate
    away (a meta refresh, `location`) go in a second request."""
    import io

    from PIL import Image

    from render_service.pool import RenderPool

    listener = _listen()
    port = _port(listener)
    page = f"""<html><body style="margin:0"><div id=m style="width:40px;height:40px"></div><script>
    new WebSocket("ws://127.0.0.1:{port}/ws");
    navigator.sendBeacon("http://127.0.0.1:{port}/beacon", "x");
    fetch("http://127.0.0.1:{port}/fetch").catch(() => null);
    const turn = "turn:127.0.0.1:{port}?transport=tcp";
    const rtc = new RTCPeerConnection({{iceServers: [{{urls: turn, username: "u", credential: "c"}}]}});
    rtc.createDataChannel("d");
    rtc.createOffer().then((offer) => rtc.setLocalDescription(offer));
    document.getElementById("m").style.background = "rgb(255, 0, 0)";
    </script></body></html>"""
    away = f"""<html><head><meta http-equiv="refresh" content="0; url=http://127.0.0.1:{port}/m">
    </head><body><p>hi</p><script>
    setTimeout(() => {{ location = "http://127.0.0.1:{port}/location"; }}, 50);
    </script></body></html>"""
    requests = [
        RenderRequest(n, "web", p, options={"javascript": True})
        for n, p in (("p", page), ("a", away))
    ]
    config = dataclasses.replace(short_config, workers=1, worker_grace_seconds=60)
    with RenderPool(config, warm_domains=("web",)) as pool:
        fired, navigated = pool.render(requests)
        assert _accept(listener) is None  # nothing connected while the pages ran, or after
    listener.close()
    assert fired.ok and navigated.ok, (fired.error, navigated.error)
    assert Image.open(io.BytesIO(fired.image_png)).convert("RGB").getpixel((20, 20)) == (255, 0, 0)


# What model code does first once it owns its process: rebind what the audit hook consults.
GUARD_OFF = """
import render_service.sandbox as guard
guard._REFUSED_EVENTS, guard._PATH_EVENTS = frozenset(), {}
guard._foreign_proc = lambda name: False
"""

ATTEMPTS = """
import ctypes, os, socket, subprocess, sys
report = {}
def attempt(name, action):
    try:
        report[name] = str(action())[:60]
    except Exception as err:
        report[name] = type(err).__name__
"""


def test_with_the_guard_switched_off_the_jail_still_holds(short_config, tmp_path, monkeypatch):
    """Chart code switches the guard off, then tries each escape; every mark is looked for on
    the host, and the worker it ran beside is still whole."""
    from render_service.pool import RenderPool

    secret, mark = uuid.uuid4().hex, uuid.uuid4().hex
    monkeypatch.setenv("RENDER_TEST_SECRET", secret)
    target = tmp_path / "target.png"
    target.write_text(secret)
    outside = [f"/tmp/jail-{mark}", f"/dev/shm/jail-{mark}", os.path.join(PROJECT, f"jail-{mark}")]
    listener = _listen()
    code = (
        GUARD_OFF
        + ATTEMPTS
        + textwrap.dedent(
            f"""
            def write(path):
                folder = os.open(os.path.dirname(path), os.O_RDONLY)
                fd = os.open(os.path.basename(path), os.O_WRONLY | os.O_CREAT, dir_fd=folder)
                return os.write(fd, b"x")
            for path in {outside!r}:
                attempt(path, lambda: write(path))
            attempt("connect", lambda: socket.create_connection(("127.0.0.1", {_port(listener)}), 2))
            del sys.modules["_posixsubprocess"]
            import _posixsubprocess
            subprocess._fork_exec = _posixsubprocess.fork_exec
            command = [sys.executable, "-c", "import time; time.sleep(30)", "{mark}"]
            attempt("spawn", lambda: subprocess.Popen(command, start_new_session=True))
            attempt("fork", os.fork)
            attempt("target", lambda: open({str(target)!r}).read())
            attempt("environ", lambda: open(f"/proc/{{os.getppid()}}/environ").read())
            attempt("worker memory", lambda: open(f"/proc/{{os.getppid()}}/mem", "rb").read(1))
            libc = ctypes.CDLL(None, use_errno=True)
            mine = ctypes.create_string_buffer(64)
            iov = (ctypes.c_void_p * 2)(ctypes.addressof(mine), 64)
            ctypes.memset(mine, 1, 64)  # its own memory is its own to write
            read = libc.process_vm_readv(os.getppid(), iov, 1, iov, 1, 0)
            report["process_vm_readv"] = (read, ctypes.get_errno())
            raise SystemExit(repr(report))
            """
        )
    )
    config = dataclasses.replace(short_config, workers=1)
    with RenderPool(config) as pool:
        worker = pool.worker_pids()
        (result,) = pool.render([RenderRequest("escape", "chart", code)])
        (after,) = pool.render([RenderRequest("after", "chart", VALID)])
        assert after.ok and pool.worker_pids() == worker  # the worker was not harmed
    accepted = _accept(listener)
    listener.close()
    report = _exit_value(result)
    # /tmp is the jail's scratch tmpfs; everything else in view is read-only (EROFS).
    assert [report[path] for path in outside[1:]] == ["OSError", "OSError"], report
    assert not any(os.path.exists(path) for path in outside)
    assert report["connect"] == "PermissionError" and accepted is None
    assert report["spawn"] == report["fork"] == "PermissionError" and not _marked(mark)
    assert report["target"] == "FileNotFoundError" and secret not in result.error
    # The child's own /proc is empty: no process of the jail has a name there.
    assert report["environ"] == report["worker memory"] == "FileNotFoundError"
    assert report["process_vm_readv"] == (-1, 1)  # EPERM


def _exit_value(result):
    """What the code passed to SystemExit: the error is "SystemExit: <repr> (line N)"."""
    return eval(result.error.removeprefix("SystemExit: ").splitlines()[0].rsplit(" (line", 1)[0])


def _listen():
    """A loopback listener on the host; a connection made while the request ran is queued."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(1)
    return listener


def _port(listener) -> int:
    return listener.getsockname()[1]


@pytest.mark.chromium
def test_chart_code_never_shares_a_process_with_the_browser(short_config):
    """Chart code in a slot that has served web pages writes junk into every descriptor of
    every process it can see; the browser is not among them, and the next pages render."""
    from render_service.pool import RenderPool

    page = RenderRequest("page", "web", "<html><body><h1>Title</h1><p>text</p></body></html>")
    code = (
        GUARD_OFF
        + ATTEMPTS
        + textwrap.dedent(
            """
            seen = {}
            for pid in [p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]:
                seen[pid] = open(f"/proc/{pid}/comm").read().strip()
                attempt(pid, lambda: os.listdir(f"/proc/{pid}/fd"))
                for fd in range(64):
                    try:
                        os.write(os.open(f"/proc/{pid}/fd/{fd}", os.O_WRONLY), b"junk" * 64)
                    except OSError:
                        pass
            raise SystemExit(repr(sorted(seen.values())))
            """
        )
    )
    # A loaded machine may take seconds over a first page: the grace is not what is tested.
    config = dataclasses.replace(short_config, workers=1, worker_grace_seconds=60)
    with RenderPool(config, warm_domains=("chart", "web")) as pool:
        assert pool.render([page])[0].ok
        workers = pool.worker_pids()
        (hostile,) = pool.render([RenderRequest("hostile", "chart", code)])
        pages = pool.render([page, page])
        assert pool.worker_pids() == workers and len(workers) == 2
    seen = _exit_value(hostile)
    assert not any(name.startswith(("chrom", "node", "playwright")) for name in seen), seen
    assert all(result.ok and result.image_png for result in pages)
