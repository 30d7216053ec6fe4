"""Red-team round 2: each attack that got through the default pool (`sandbox="bwrap"`), written
as the attacker wrote it. Every test here failed before the host stopped trusting what comes out
of the jail; each asserts the attack is refused and the pool keeps serving."""

import io
import struct
import textwrap
import uuid
import zlib

import numpy as np
import pytest
from PIL import Image

from render_service import RenderConfig, RenderPool, RenderRequest, SandboxLimits

VALID = "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([1, 2, 3])\n"
LIMITS = SandboxLimits(cpu_seconds=5, wall_seconds=10, memory_mb=1536, output_bytes=4096)
GUARD_OFF = """
import render_service.sandbox as guard
guard._REFUSED_EVENTS, guard._PATH_EVENTS = frozenset(), {}
guard._foreign_proc = lambda name: False
"""
# A chart with two defects any reader sees: a legend over dense lines, a note past the edge.
DEFECTIVE = textwrap.dedent(
    """
    import numpy as np
    import matplotlib.pyplot as plt
    x = np.linspace(0, 10, 400)
    fig, ax = plt.subplots()
    for k in range(8):
        ax.plot(x, np.sin(x + k), label=f"series {k}")
    ax.legend(loc="center", fontsize=14, framealpha=1)
    fig.text(1.02, 0.5, "a note placed outside the figure")
    """
)
DEFECTS = {"legend_occlusion", "off_canvas"}


@pytest.fixture(scope="module")
def pool():
    with RenderPool(RenderConfig(workers=1, limits=LIMITS, worker_grace_seconds=5)) as pool:
        yield pool


def render(pool, code, domain="chart", **options):
    (result,) = pool.render([RenderRequest(uuid.uuid4().hex, domain, code, options=options)])
    return result


def still_serving(pool, workers=None):
    after = render(pool, VALID)
    assert after.ok, after.error
    if workers is not None:
        assert pool.worker_pids() == workers  # not even the worker was lost


def exit_value(result) -> str:
    """What the code passed to SystemExit (the error is "SystemExit: <value> (line N)")."""
    assert result.error and result.error.startswith("SystemExit: "), result.error
    return result.error.removeprefix("SystemExit: ").splitlines()[0].rsplit(" (line", 1)[0]


def test_a_pickle_written_to_the_jails_init_never_runs_in_the_host(pool, tmp_path):
    """Class 1: chart code, audit hook on, opens `1/fd/1` relative to an fd of /proc (the
    jail's init holding the worker's stdout) and writes one length-prefixed pickle."""
    mark = tmp_path / "owned"
    code = VALID + textwrap.dedent(
        f"""
        import os, pickle, struct
        class Run:
            def __reduce__(self):
                return (exec, ("open({str(mark)!r}, 'w').write('owned')",))
        data = pickle.dumps(Run())
        proc = os.open("/proc", os.O_RDONLY)
        for pid in range(1, 8):
            try:
                fd = os.open(f"{{pid}}/fd/1", os.O_WRONLY, dir_fd=proc)
                os.write(fd, struct.pack("!Q", len(data)) + data)
            except OSError:
                pass
        """
    )
    render(pool, code)
    assert not mark.exists(), "the jail's bytes ran as code in the host"
    still_serving(pool)


def test_a_request_cannot_find_the_previous_requests_result(pool):
    """Class 2: the child walks frames and the garbage collector for the worker loop's last
    RenderResult (in training, a gold render)."""
    secret = f"gold-{uuid.uuid4().hex}"
    (gold,) = pool.render([RenderRequest(secret, "chart", VALID)])
    assert gold.ok, gold.error
    code = textwrap.dedent(
        """
        import gc, sys
        found = set()
        def look(value):
            if type(value).__name__ in ("RenderResult", "RenderRequest"):
                found.add(value.id)
        for value in gc.get_objects():
            look(value)
        frame = sys._getframe()
        while frame is not None:
            for value in list(frame.f_locals.values()):
                look(value)
            frame = frame.f_back
        raise SystemExit(repr(sorted(found)))
        """
    )
    result = render(pool, code)
    assert secret not in result.error, result.error
    assert exit_value(result) == "[]"  # not even its own request: it holds only the code
    still_serving(pool)


def test_a_module_or_file_planted_by_one_request_is_gone_for_the_next(pool):
    """Class 3: a request plants `scipy.py` and a file beside its scratch (through dir_fd, the
    audit hook on); later requests must neither import the one nor read the other."""
    secret = uuid.uuid4().hex
    plant = VALID + textwrap.dedent(
        f"""
        import os, sys
        for folder in {{"/tmp", os.path.dirname(os.getcwd()), *sys.path}}:
            try:
                at = os.open(folder, os.O_RDONLY)
                for name, text in (("scipy.py", "raise SystemExit('planted module ran')"),
                                   ("leak.txt", "{secret}")):
                    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, dir_fd=at)
                    os.write(fd, text.encode())
            except OSError:
                pass
        """
    )
    assert render(pool, plant).ok
    victim = VALID + textwrap.dedent(
        """
        import os, sys
        try:
            import scipy
        except ImportError:
            pass
        seen = []
        for folder in {"/tmp", os.path.dirname(os.getcwd()), *sys.path}:
            try:
                seen.append(open(os.path.join(folder, "leak.txt")).read())
            except OSError:
                pass
        raise SystemExit(repr(seen))
        """
    )
    result = render(pool, victim)
    assert "planted" not in result.error and secret not in result.error, result.error
    assert exit_value(result) == "[]"
    still_serving(pool)


def test_a_result_of_any_size_is_refused(pool):
    """Class 4: the child's own result carries a 200 MB image."""
    code = (
        "import render_service.chart.renderer as renderer\n"
        "renderer.encode_png = lambda rgb: b'\\x89PNG\\r\\n\\x1a\\n' + bytes(200 << 20)\n" + VALID
    )
    result = render(pool, code)
    assert result.image_png is None or len(result.image_png) < (16 << 20)
    still_serving(pool)


def bomb_png(width: int, height: int) -> bytes:
    """A 1-bit PNG of width x height zeros: a few KB that decode to width*height pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack("!I", len(data)) + body + struct.pack("!I", zlib.crc32(body))

    rows = zlib.compress(bytes(height * (1 + (width + 7) // 8)), 9)
    header = struct.pack("!IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def test_a_decompression_bomb_is_never_a_clean_render(pool):
    """Class 5: a 15 KB PNG that decodes to 13,000 x 13,000 pixels, as a clean result."""
    code = (
        f"bomb = {bomb_png(13_000, 13_000)!r}\n"
        "import render_service.chart.renderer as renderer\n"
        "renderer.encode_png = lambda rgb: bomb\n" + VALID
    )
    result = render(pool, code)
    if result.image_png is not None:
        width, height = struct.unpack("!II", result.image_png[16:24])
        assert (width, height) == (result.width, result.height)
        assert width * height <= RenderConfig().chart_max_pixels
    still_serving(pool)


FORGERIES = {
    # The detectors, rebound in the child's own process: a forged result through the real channel.
    "detectors switched off": "import render_service.chart.renderer as r\n"
    "r.detect = lambda scene: []\n",
    # Its own result message, written straight to every descriptor it holds, then exit.
    "own result message": textwrap.dedent(
        """
        import io, os, pickle
        png = io.BytesIO()
        fig.canvas.print_png(png)
        clean = {"image_png": png.getvalue(), "width": 640, "height": 480, "defects": (),
                 "elements": (), "timings": {}}
        payload = pickle.dumps((True, clean, None))
        for fd in range(3, 64):
            try:
                os.write(fd, payload)
            except OSError:
                pass
        os._exit(0)
        """
    ),
}


def test_the_defective_chart_shows_its_defects(pool):
    result = render(pool, DEFECTIVE)
    assert result.ok and {d.kind for d in result.defects} >= DEFECTS, result.defects


# Still open: chart defects are measured in the child that ran the code (docs/render_service.md,
# threat model), and the trainer logs the share of such results (render/unverified_share).
IN_PROCESS = pytest.mark.xfail(strict=True, reason="chart results are not verified yet")


@pytest.mark.parametrize(
    "name", [pytest.param("detectors switched off", marks=IN_PROCESS), "own result message"]
)
def test_a_defective_chart_cannot_forge_a_clean_result(pool, name):
    """Class 6: the defective chart above reports itself clean."""
    result = render(pool, DEFECTIVE + FORGERIES[name])
    kinds = {d.kind for d in result.defects}
    assert not result.ok or kinds >= DEFECTS, (result.error, kinds)
    still_serving(pool)


def test_io_uring_is_refused(pool):
    code = GUARD_OFF + textwrap.dedent(
        """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        params = ctypes.create_string_buffer(120)
        answers = [libc.syscall(425, 8, params), ctypes.get_errno()]  # io_uring_setup
        raise SystemExit(repr(answers))
        """
    )
    returned, errno = eval(exit_value(render(pool, code)))
    assert returned == -1 and errno in (1, 38), (returned, errno)  # EPERM or ENOSYS
    still_serving(pool)


def test_killing_the_jails_first_processes_costs_nothing(pool):
    workers = pool.worker_pids()
    code = GUARD_OFF + textwrap.dedent(
        """
        import os, signal
        answers = []
        for pid in (1, 2, 3):
            for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
                try:
                    os.kill(pid, sig)
                    answers.append("sent")
                except OSError as err:
                    answers.append(type(err).__name__)
        raise SystemExit(repr(answers))
        """
    )
    answers = eval(exit_value(render(pool, code)))
    assert set(answers) == {"PermissionError"}, answers
    still_serving(pool, workers)


def test_a_request_cannot_start_thousands_of_tasks(pool):
    code = textwrap.dedent(
        """
        import threading
        threading.stack_size(65536)
        hold, started = threading.Event(), 0
        try:
            for _ in range(3000):
                threading.Thread(target=hold.wait, daemon=True).start()
                started += 1
        except RuntimeError:
            pass
        hold.set()
        raise SystemExit(str(started))
        """
    )
    started = int(exit_value(render(pool, code)))
    assert 0 < started < getattr(LIMITS, "tasks", 64), started
    still_serving(pool)


PAGE = "<html><body style='background:#fff;font:20px sans-serif'>{}</body></html>"
NEAR_WHITE = '<p style="color:#f4f4f4">Quarterly results</p>'
OVER = (
    "<style>.n{{position:relative;margin:0}}.o{{position:absolute;left:0;top:0;margin:0}}</style>"
    "<div class='n'><h2 style='margin:0'>Quarterly results</h2>{}</div>"
)
CUT = "<style>.n{{width:150px;overflow:hidden;white-space:nowrap}}{}</style><p class='n'>{}</p>"
# What is painted differs from what `color` says, or the text is no DOM text node at all.
HIDING = {
    "text-fill-color": (
        '<p style="color:#222;-webkit-text-fill-color:#f4f4f4">Quarterly results</p>',
        NEAR_WHITE,
        "low_contrast",
    ),
    "ancestor opacity": (
        '<div style="opacity:0.08"><p style="color:#222">Quarterly results</p></div>',
        NEAR_WHITE,
        "low_contrast",
    ),
    "filter": (
        '<p style="color:#222;filter:brightness(7)">Quarterly results</p>',
        '<p style="color:#eee">Quarterly results</p>',
        "low_contrast",
    ),
    "mix-blend-mode": (
        '<p style="color:#0b0b0b;mix-blend-mode:difference">Quarterly results</p>',
        NEAR_WHITE,
        "low_contrast",
    ),
    "veil over the text": (
        "<div style='position:relative'><p style='color:#222;margin:0'>Quarterly results</p>"
        "<div style='position:absolute;inset:0;background:rgba(255,255,255,0.94)'></div></div>",
        "<p style='color:#f2f2f2;margin:0'>Quarterly results</p>",
        "low_contrast",
    ),
    "background-clip text": (
        "<p style='color:transparent;background:#f4f4f4;background-clip:text'>"
        "Quarterly results</p>",
        NEAR_WHITE,
        "low_contrast",
    ),
    "oklch colour": (
        '<p style="color:oklch(0.97 0 0)">Quarterly results</p>',
        NEAR_WHITE,
        "low_contrast",
    ),
    "pointer-events none, faint": (
        '<p style="color:#f4f4f4;pointer-events:none">Quarterly results</p>',
        NEAR_WHITE,
        "low_contrast",
    ),
    "pointer-events none, overlapping": (
        OVER.format("<h2 class='o' style='pointer-events:none'>Overlapping words</h2>"),
        OVER.format("<h2 class='o'>Overlapping words</h2>"),
        "text_overlap",
    ),
    "::after over a heading": (
        "<style>.n{position:relative;margin:0}.n::after{content:'Overlapping words';"
        "position:absolute;left:0;top:0}</style><h2 class='n'>Quarterly results</h2>",
        OVER.format("<h2 class='o'>Overlapping words</h2>"),
        "text_overlap",
    ),
    "::before in near-white": (
        "<style>.n::before{content:'Quarterly results';color:#f4f4f4}</style><p class='n'></p>",
        NEAR_WHITE,
        "low_contrast",
    ),
    "::after cut off": (
        CUT.format(".n::after{content:'Quarterly results for every region'}", ""),
        CUT.format("", "Quarterly results for every region"),
        "clipped_text",
    ),
}


@pytest.mark.chromium
@pytest.mark.parametrize(
    ("hidden", "control", "kind"),
    HIDING.values(),
    ids=HIDING,
)
def test_web_pages_cannot_hide_their_defects(web_pool, hidden, control, kind):
    """Class 7: each page paints what its flagged control paints."""
    flagged, hiding = web_pool.render(
        [
            RenderRequest("c", "web", PAGE.format(control)),
            RenderRequest("h", "web", PAGE.format(hidden)),
        ]
    )
    assert kind in {d.kind for d in flagged.defects}, flagged.defects
    assert kind in {d.kind for d in hiding.defects}, hiding.defects
    # The premise: the two screenshots differ by antialiasing at most.
    hidden_pixels, control_pixels = (pixels(r.image_png) for r in (hiding, flagged))
    assert np.abs(hidden_pixels - control_pixels).max() <= 16


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)


@pytest.fixture(scope="module")
def web_pool():
    # A loaded machine may take seconds over a first page: the grace is not what is tested.
    config = RenderConfig(workers=1, limits=LIMITS, worker_grace_seconds=60)
    with RenderPool(config, warm_domains=("web",)) as pool:
        yield pool
