"""RenderPool: ordered results, hostile code contained, crashed/hung workers replaced, recycling,
back-pressure and clean shutdown, with no process left behind."""

import dataclasses
import os
import threading
import time

import pytest
from render_helpers import HERE, SHORT_LIMITS, child_pids, jailed, zygote_only

from render_service import RenderPool, RenderRequest
from render_service.renderers import RENDERERS

VALID = "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([1, 2, 3])\n"

HOSTILE = {
    # CPU or wall limit, whichever comes first on a busy machine.
    "infinite_loop": ("while True:\n    pass", ("CPULimit", "Timeout")),
    "memory_bomb": ("blocks = []\nwhile True:\n    blocks.append(bytearray(10**7))", "MemoryError"),
    "fork_bomb": ("import os\nwhile True:\n    os.fork()", "PermissionError: sandbox: os.fork"),
    "os_exit": ("import os\nos._exit(0)", "Exit: the code ended the process with status 0"),
    "ctypes_segfault": ("import ctypes\nctypes.string_at(0)", "PermissionError: sandbox: ctypes"),
    "faulthandler_segfault": ("import faulthandler\nfaulthandler._sigsegv()", "Crash: killed by"),
    "write_outside_scratch": (
        "open('/dev/shm/render-escape.txt', 'w').write('x')",
        "PermissionError: sandbox: writing outside",
    ),
    "network": (
        "import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=1)",
        "PermissionError: sandbox: socket.",
    ),
    "parent_environment": (
        "import os\nprint(open(f'/proc/{os.getppid()}/environ').read())",
        "PermissionError: sandbox: reading /proc/",
    ),
    "print_gigabytes": ("while True:\n    print('x' * 100000)", "OutputLimit"),
    "read_stdin": ("import sys\nsys.stdin.read()\nraise SystemExit('eof')", "SystemExit: eof"),
    "write_worker_pipes": (
        "import os\nfor fd in range(3, 64):\n    try:\n        os.write(fd, b'junk')\n"
        "    except OSError:\n        pass",
        "Crash: result could not be read",  # its own result pipe, not the worker's
    ),
    # Model code can write to its own result pipe: a pickle is not even parsed by the worker.
    "forged_result": (
        "import os, pickle\n"
        "class Evil:\n"
        "    def __reduce__(self):\n"
        "        return (open, ('/tmp/render-escape.txt', 'w'))\n"
        "payload = pickle.dumps((True, Evil(), None))\n"
        "for fd in range(3, 64):\n"
        "    try:\n"
        "        os.write(fd, payload)\n"
        "    except OSError:\n"
        "        pass\n"
        "os._exit(0)\n",
        "Crash: result could not be read",
    ),
    "huge_figure": (
        "import matplotlib.pyplot as plt\nfig = plt.figure(figsize=(1000, 1000))\n"
        "fig.add_subplot()",
        "FigureTooLarge: 100000x100000 px",
    ),
}


def assert_nothing_left_behind(pool, others=()):
    """This process's children are the pool's workers (and `others`); a worker has only its
    zygote, which has none."""
    workers = pool.worker_pids()
    assert sorted(child_pids(os.getpid())) == sorted([*workers, *others])
    for pid in workers:
        assert zygote_only(jailed(pid))


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_code_is_contained_and_pool_keeps_serving(pool, name):
    # Children this process had before (other tests' browsers, pools) are not this test's.
    others = set(child_pids(os.getpid())) - set(pool.worker_pids())
    code, expected = HOSTILE[name]
    start = time.monotonic()
    (result,) = pool.render([RenderRequest(name, "chart", code)])
    assert time.monotonic() - start < SHORT_LIMITS.wall_seconds + 30  # the limits ended it
    assert not result.ok and result.error.startswith(expected), result.error
    after = pool.render([RenderRequest("after", "chart", VALID)])[0]
    assert after.ok, after.error
    assert not os.path.exists("/tmp/render-escape.txt")
    assert not os.path.exists("/dev/shm/render-escape.txt")
    assert_nothing_left_behind(pool, others)


def test_environment_is_scrubbed(pool, monkeypatch):
    code = "import os\nraise RuntimeError(repr(dict(os.environ)))"
    (result,) = pool.render([RenderRequest("env", "chart", code)])
    assert "RuntimeError" in result.error and "PATH" in result.error
    for name in os.environ:
        if name not in ("PATH", "LANG", "LC_ALL", "MPLBACKEND", "HOME"):
            assert f"'{name}'" not in result.error


def test_results_come_back_in_request_order(short_config):
    requests = [
        RenderRequest("valid", "chart", VALID),
        RenderRequest("syntax", "chart", "x = (1,\n"),
        RenderRequest("runtime", "chart", "import matplotlib.pyplot as plt\nplt.plot(undefined)"),
        RenderRequest("unregistered", "web", "<html></html>"),
        *[RenderRequest(f"valid{i}", "chart", VALID) for i in range(4)],
    ]
    with RenderPool(short_config, registry={"chart": RENDERERS["chart"]}) as pool:
        results = pool.render(requests)
    assert [r.id for r in results] == [r.id for r in requests]
    assert [r.ok for r in results] == [True, False, False, False, True, True, True, True]
    assert results[1].error.startswith("SyntaxError: '(' was never closed (line 1)")
    assert results[2].error.startswith("NameError: name 'undefined' is not defined (line 2)")
    assert results[3].error.startswith("NoRenderer: domain 'web'")
    assert results[0].image_png.startswith(b"\x89PNG") and results[0].width == 640


def test_a_request_that_cannot_be_sent_gets_an_error_result(pool):
    bad = RenderRequest("bad", "chart", VALID, options={"callback": lambda: None})
    results = pool.render([bad, RenderRequest("good", "chart", VALID)])
    assert results[0].error.startswith("PoolError: ") and results[1].ok


def test_crashing_and_hanging_renderers_are_replaced(short_config, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    registry = {
        "chart": "render_service.chart.renderer:ChartRenderer",
        "web": "misbehaving:CrashingRenderer",
        "slide_html": "misbehaving:HangingRenderer",
    }
    # The misbehaving renderers live in the tests folder, outside the jail's view.
    config = dataclasses.replace(short_config, workers=1, worker_grace_seconds=1, sandbox="unsafe")
    others = child_pids(os.getpid())  # a module-scoped pool's workers
    with pytest.warns(RuntimeWarning, match="WITHOUT the OS sandbox"):
        pool = RenderPool(config, registry=registry)
    with pool:
        before = pool.worker_pids()
        crashed, valid = pool.render(
            [RenderRequest("c", "web", ""), RenderRequest("v", "chart", VALID)]
        )
        assert crashed.error == "WorkerError: the render worker crashed" and valid.ok
        start = time.monotonic()
        hung, valid = pool.render(
            [RenderRequest("h", "slide_html", ""), RenderRequest("v", "chart", VALID)]
        )
        assert time.monotonic() - start < 60  # found hung, not left to sleep its hour
        assert hung.error == "WorkerError: the render worker hung" and valid.ok
        # Only the browser-family worker went: the chart worker served throughout.
        assert pool.worker_pids() == before
        assert_nothing_left_behind(pool, others)
    assert child_pids(os.getpid()) == others


def test_workers_are_recycled_after_k_requests(short_config):
    config = dataclasses.replace(short_config, workers=1, recycle_after_requests=2)
    with RenderPool(config) as pool:
        pids = []
        for i in range(4):
            assert pool.render([RenderRequest(str(i), "chart", VALID)])[0].ok
            time.sleep(0.05)
            pids.append(tuple(pool.worker_pids()))
        assert pids[0] != pids[2], pids  # a new worker after every second request


def test_workers_are_recycled_above_the_rss_ceiling(short_config):
    config = dataclasses.replace(short_config, workers=1, recycle_above_rss_mb=1)
    with RenderPool(config) as pool:
        first = pool.worker_pids()
        assert pool.render([RenderRequest("a", "chart", VALID)])[0].ok
        time.sleep(0.05)
        assert pool.worker_pids() != first  # every worker is above 1 MB: replaced after one


def test_full_queue_blocks_submit(short_config):
    config = dataclasses.replace(short_config, workers=1, queue_size=1)
    slow = RenderRequest("slow", "chart", "import time\ntime.sleep(1)\n" + VALID)
    with RenderPool(config) as pool:
        first = pool.submit(slow)
        deadline = time.monotonic() + 60
        while not first.running() and time.monotonic() < deadline:  # the worker has taken it
            time.sleep(0.01)
        assert first.running()
        pool.submit(slow)  # fills the queue
        third = threading.Thread(target=pool.submit, args=(slow,))
        third.start()
        third.join(0.4)
        assert third.is_alive() and not first.done()  # blocked while the worker is busy
        third.join(10)
        assert not third.is_alive()


def test_close_ends_every_worker(short_config):
    others = child_pids(os.getpid())
    pool = RenderPool(dataclasses.replace(short_config, workers=2))
    assert pool.render([RenderRequest("a", "chart", VALID)])[0].ok
    pool.close()
    pool.close()
    assert child_pids(os.getpid()) == others
    with pytest.raises(RuntimeError, match="closed"):
        pool.submit(RenderRequest("late", "chart", VALID))


def test_pool_client_imports_no_jax_or_matplotlib():
    import subprocess
    import sys

    code = (
        "import render_service, sys\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'jax', 'matplotlib', 'numpy'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_error_paths_inside_the_jail_cost_one_request_each(short_config):
    """In the jail (real renderers only: the tests folder is not in its view): a renderer that
    raises, a worker that dies before it is ready, a worker killed while it renders."""
    import signal

    registry = {
        "chart": RENDERERS["chart"],
        "slide_pptx": "render_service.types:RenderResult",  # built as Class(config): it raises
        "web": "render_service.no_such_module:Renderer",  # the browser worker dies warming up
    }
    config = dataclasses.replace(short_config, workers=1, worker_grace_seconds=30)
    with RenderPool(config, registry=registry, warm_domains=("chart", "web")) as pool:
        raised, failed, fine = pool.render(
            [
                RenderRequest("r", "slide_pptx", ""),
                RenderRequest("w", "web", ""),
                RenderRequest("v", "chart", VALID),
            ]
        )
        assert raised.error.startswith("RendererError: TypeError") and fine.ok
        assert failed.error == "WorkerError: the render worker crashed"
        (worker,) = pool.worker_pids()
        slow = pool.submit(RenderRequest("s", "chart", "import time\ntime.sleep(1)\n" + VALID))
        deadline = time.monotonic() + 60
        while not slow.running() and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(jailed(worker), signal.SIGKILL)
        assert slow.result().error == "WorkerError: the render worker crashed"
        assert pool.render([RenderRequest("after", "chart", VALID)])[0].ok
