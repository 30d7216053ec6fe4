"""The host's reader of worker answers (wire.py, messages.py), fuzzed: whatever the bytes, it
answers with a result or a WireError/MessageError, and a pool whose worker sends such bytes
answers that request with an error and keeps serving."""

import contextlib
import os
import random
import struct

import pytest
from render_helpers import HERE, SHORT_LIMITS

from render_service import RenderConfig, RenderPool, RenderRequest, RenderResult, messages, wire
from render_service.types import Defect

CONFIG = RenderConfig()
REQUEST = RenderRequest("r", "chart", "")
VALID = "import matplotlib.pyplot as plt\nplt.plot([1, 2])\n"


def png(width: int, height: int) -> bytes:
    return (
        b"\x89PNG\r\n\x1a\n" + struct.pack("!I", 13) + b"IHDR" + struct.pack("!II", width, height)
    )


def answer(**fields):
    result = {"id": "r", "ok": True, **fields}
    return {"result": result, "rss_mb": 10.0, "retire": False}


def read(message):
    return messages.read_answer(wire.unpack(wire.pack(message)), REQUEST, CONFIG)


def test_a_well_formed_answer_is_read():
    defect = Defect("text_overlap", 0.5, (1, 2, 3, 4), "x overlaps y", (3,))
    result, rss, retire = read(
        answer(image_png=png(640, 480), width=640, height=480, defects=[defect])
    )
    assert result.ok and result.defects == (defect,) and (rss, retire) == (10.0, False)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"image_png": png(13_000, 13_000), "width": 13_000, "height": 13_000}, "outside 1.."),
        ({"image_png": png(13_000, 13_000), "width": 640, "height": 480}, "the result says"),
        ({"image_png": b"GIF89a" + bytes(40), "width": 1, "height": 1}, "not a PNG"),
        ({"image_png": png(640, 480) + bytes(4 << 20), "width": 640, "height": 480}, "bytes for"),
        ({"id": "another"}, "answers another request"),
        ({"ok": "yes"}, "ok is not true or false"),
        ({"error": "x" * (messages.MAX_ERROR_CHARS + 1)}, "error has"),
        ({"defects": [{"kind": "pwned", "severity": 1, "bbox": None, "message": ""}]}, "kind"),
        (
            {
                "defects": [
                    {"kind": "overflow", "severity": float("nan"), "bbox": None, "message": ""}
                ]
            },
            "finite",
        ),
        ({"elements": [{"id": "e", "role": "r", "bbox": (1, 2)}]}, "4 numbers"),
        (
            {"elements": [{"id": "e", "role": "r", "bbox": None}]} | {"timings": {"t": "slow"}},
            "timings",
        ),
        ({"metrics": {"m": {"n": [1j]}}}, "not plain"),
        ({"surprise": 1}, "unknown"),
        ({"defects": [None] * (messages.MAX_DEFECTS + 1)}, "over"),
    ],
)
def test_an_answer_that_breaks_the_schema_is_refused(fields, reason):
    with pytest.raises((messages.MessageError, TypeError), match=reason):
        read(answer(**fields))


def test_random_and_truncated_bytes_are_refused_never_run():
    rng = random.Random(0)
    good = wire.pack(answer(image_png=png(640, 480), width=640, height=480))
    samples = [good[:cut] for cut in range(0, len(good), 7)]
    samples += [bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 300))) for _ in range(300)]
    samples += [
        bytes(b ^ (1 << rng.randrange(8)) if rng.random() < 0.05 else b for b in good)
        for _ in range(300)
    ]
    for data in samples:
        with contextlib.suppress(wire.WireError, messages.MessageError):  # anything else fails
            messages.read_answer(wire.unpack(data), REQUEST, CONFIG)


def test_an_oversized_message_is_refused_before_it_is_read():
    read_end, write_end = os.pipe()
    os.write(write_end, struct.pack("!Q", 600 << 20) + b"\x80")
    with pytest.raises(wire.WireError, match="over the"):
        wire.receive(read_end, max_bytes=1 << 20)
    os.close(read_end)
    os.close(write_end)


def test_a_pool_refuses_a_forged_answer_and_keeps_serving(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    registry = {
        "chart": "render_service.chart.renderer:ChartRenderer",
        "web": "misbehaving:ForgingRenderer",
    }
    config = RenderConfig(workers=1, limits=SHORT_LIMITS, worker_grace_seconds=30, sandbox="unsafe")
    with pytest.warns(RuntimeWarning, match="WITHOUT the OS sandbox"):
        pool = RenderPool(config, registry=registry)
    with pool:
        forged, after, chart = pool.render(
            [
                RenderRequest("f", "web", ""),
                RenderRequest("f2", "web", ""),
                RenderRequest("c", "chart", VALID),
            ]
        )
    assert forged.error.startswith("WorkerError: the answer was refused: image_png is 13000x13000")
    assert after.error == forged.error  # a fresh worker, refused again: one request each
    assert chart.ok, chart.error
    assert isinstance(forged, RenderResult) and forged.image_png is None


def test_whether_a_result_was_measured_outside_the_program_is_the_pools_word():
    chart, _, _ = read(answer())
    page = messages.read_result({"id": "p", "ok": True}, RenderRequest("p", "web", ""), CONFIG)
    assert (chart.verified, page.verified) == (False, True)
    with pytest.raises(messages.MessageError, match="unknown"):
        read(answer(verified=True))  # a worker cannot claim it
