"""run_sandboxed: values and errors come back; every escape attempt is refused or contained."""

import dataclasses
import os
import time

import pytest
from render_helpers import SHORT_LIMITS, child_pids

from render_service.generated import current_generated_line, exec_generated
from render_service.sandbox import SandboxLimits, run_sandboxed


def run_code(scratch, source):
    namespace = {}
    exec_generated(source, namespace)
    return namespace.get("result")


def sandboxed(source, limits=SHORT_LIMITS):
    before = set(child_pids(os.getpid()))  # e.g. browsers of other tests in this process
    start = time.monotonic()
    outcome = run_sandboxed(run_code, source, limits=limits)
    # Ended by the limits (the slowest code here sleeps 60 s), however loaded the machine.
    assert time.monotonic() - start < limits.wall_seconds + 30
    assert set(child_pids(os.getpid())) <= before
    return outcome


def test_value_stdout_and_scratch_cwd(tmp_path):
    source = "import os\nprint('hello')\nopen('out.txt', 'w').write('x')\nresult = os.getcwd()"
    outcome = run_sandboxed(run_code, source, limits=SHORT_LIMITS, scratch_root=str(tmp_path))
    assert outcome.ok, outcome.error
    assert outcome.stdout == "hello\n"
    assert os.path.dirname(outcome.value) == str(tmp_path)
    assert not os.path.exists(outcome.value)  # the scratch directory is removed afterwards


def test_runtime_error_is_cleaned_to_generated_lines():
    outcome = sandboxed("def f():\n    return 1 / 0\n\nresult = f()")
    assert not outcome.ok
    first, *rest = outcome.error.splitlines()
    assert first == "ZeroDivisionError: division by zero (line 2)"
    assert rest == [
        "Traceback (generated code):",
        "  line 4: result = f()",
        "  line 2: return 1 / 0",
    ]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("a = where()\nb = where()\n\nc = where()", (1, 2, 4)),  # one frame: read off it
        ("def f():\n    return where()\na = where()\nb = f()\nc = where()", (3, 2, 5)),
        ("a = [where() for _ in 'x'][0]\nb = where()\nc = [where() for _ in 'x'][0]", (1, 2, 3)),
    ],
)
def test_the_innermost_generated_line_is_seen_from_library_code(source, expected):
    def where():  # stands for a library call some frames below the generated code
        return (lambda: current_generated_line())()

    namespace = {"where": where}
    exec_generated(source, namespace)
    assert (namespace["a"], namespace["b"], namespace["c"]) == expected
    assert where() is None  # after the run nothing generated is on the stack


def test_syntax_error_names_the_line():
    outcome = sandboxed("x = 1\ny = (2,\n")
    assert outcome.error.splitlines()[0] == "SyntaxError: '(' was never closed (line 2)"


def test_limits_are_validated():
    with pytest.raises(ValueError, match="cpu_seconds"):
        SandboxLimits(cpu_seconds=0)


def test_infinite_loop_hits_cpu_limit():
    limits = SandboxLimits(cpu_seconds=1, wall_seconds=6)  # wall slack for a busy machine
    outcome = sandboxed("while True:\n    pass", limits)
    assert outcome.error.startswith("CPULimit")


def test_sleeping_code_hits_wall_limit():
    outcome = sandboxed("import time\ntime.sleep(60)")
    assert outcome.error.startswith("Timeout")


def test_memory_bomb_fails():
    limits = dataclasses.replace(SHORT_LIMITS, wall_seconds=30)  # a loaded machine is slow to fill
    outcome = sandboxed("blocks = []\nwhile True:\n    blocks.append(bytearray(10**7))", limits)
    assert outcome.error.splitlines()[0] == "MemoryError (line 3)"


def test_fork_bomb_is_refused():
    outcome = sandboxed("import os\nwhile True:\n    os.fork()")
    assert "os.fork is not allowed" in outcome.error.splitlines()[0]


@pytest.mark.parametrize(
    "source",
    [
        "import subprocess\nsubprocess.run(['true'])",
        "import os\nos.system('true')",
        "import _posixsubprocess\n_posixsubprocess.fork_exec()",
        "import multiprocessing\nmultiprocessing.Process(target=print).start()",
    ],
)
def test_child_processes_are_refused(source):
    outcome = sandboxed(source)
    assert outcome.error.startswith("PermissionError: sandbox:"), outcome.error


def test_os_exit_is_reported():
    outcome = sandboxed("import os\nos._exit(3)")
    assert outcome.error == "Exit: the code ended the process with status 3"


def test_segfault_through_ctypes_is_refused():
    outcome = sandboxed("import ctypes\nctypes.string_at(0)")
    assert "ctypes.string_at is not allowed" in outcome.error


def test_real_segfault_is_reported_as_crash():
    outcome = sandboxed("import faulthandler\nfaulthandler._sigsegv()")
    assert outcome.error == "Crash: killed by signal SIGSEGV"


@pytest.mark.parametrize("path", ["/tmp/escaped.txt", "../escaped.txt"])
def test_writes_outside_scratch_are_refused(path):
    outcome = sandboxed(f"open({path!r}, 'w').write('x')")
    assert "writing outside the scratch directory" in outcome.error
    assert not os.path.exists("/tmp/escaped.txt")


def test_deleting_outside_scratch_is_refused(tmp_path):
    victim = tmp_path / "keep.txt"
    victim.write_text("x")
    outcome = sandboxed(f"import os\nos.remove({str(victim)!r})")
    assert "os.remove outside the scratch directory" in outcome.error
    assert victim.exists()


def test_network_connection_is_refused():
    outcome = sandboxed("import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=1)")
    assert outcome.error.startswith("PermissionError: sandbox: socket.")


def test_environment_secrets_are_not_visible(monkeypatch):
    monkeypatch.setenv("RENDER_TEST_SECRET", "s3cret")
    outcome = sandboxed("import os\nresult = dict(os.environ)")
    assert outcome.ok and "RENDER_TEST_SECRET" not in outcome.value
    for path in ("/proc/self/environ", "/proc/{os.getppid()}/environ", "/proc/1/cmdline"):
        outcome = sandboxed(f"import os\nresult = open(f{path!r}).read()")
        assert "is not allowed" in outcome.error, path


def test_printing_gigabytes_is_cut_off():
    outcome = sandboxed("while True:\n    print('x' * 100000)")
    assert outcome.error.startswith("OutputLimit")
    assert len(outcome.stdout) < 2 * SHORT_LIMITS.output_bytes


def test_unpicklable_value_is_an_error():
    outcome = sandboxed("result = (lambda: 1)")
    assert outcome.error.startswith("ResultError")


def test_children_keep_regular_files_but_no_pipe_of_the_parent(tmp_path):
    """Pipes (the worker's to the pool, a browser's) are closed; regular files stay open: the
    warm worker's matplotlib reads glyphs from font files it opened before the fork."""

    def still_open(scratch, fds):
        alive = []
        for fd in fds:
            try:
                os.fstat(fd)
                alive.append(fd)
            except OSError:
                pass
        return alive

    with open(tmp_path / "font.ttf", "wb") as font:
        read_end, write_end = os.pipe()
        try:
            fds = [font.fileno(), read_end, write_end]
            outcome = run_sandboxed(still_open, fds, limits=SHORT_LIMITS)
        finally:
            os.close(read_end)
            os.close(write_end)
        assert outcome.ok, outcome.error
        assert outcome.value == (font.fileno(),)
