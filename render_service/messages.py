"""What crosses the render service's process boundaries, and the schema each answer is read by.

The pool sends its workers their settings and requests; a worker answers each request with one
result. Whatever a worker or a sandboxed child sends is data written by a process that ran, or
sat beside, model-written code, so it is read like input from a stranger: a map with exactly the
expected fields, each of its type, every string, list and image under a cap, and an image whose
PNG header states the size the result claims, within the pixel budget of its domain
(`RenderConfig.max_image_pixels`), before anything decodes it. A message that breaks the schema
raises `MessageError`, and the pool answers that request with an error.
"""

from __future__ import annotations

import dataclasses
import math
import struct
from typing import Any

from render_service.config import RenderConfig
from render_service.renderers import VERIFIED_DOMAINS
from render_service.sandbox import SandboxLimits
from render_service.types import DEFECT_KINDS, Defect, Element, RenderRequest, RenderResult

# Caps on what one result may hold. Web pages have at most `web_max_dom_nodes` (20,000 by
# default) elements; a defect's message is one sentence; an error is a cleaned traceback plus
# the code's output, itself capped by `SandboxLimits.output_bytes`.
MAX_NAME_CHARS = 512  # ids, roles, metric and timing names
MAX_MESSAGE_CHARS = 4096
MAX_ERROR_CHARS = 256 * 1024
MAX_DEFECTS = 5_000
MAX_ELEMENTS = 100_000
MAX_LINES = 10_000  # source lines of one defect or element
MAX_TIMINGS = 64
MAX_DEPTH = 16  # nesting of a metrics record
MAX_TEXT_BYTES = 64 << 20  # all of a result but its image
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class MessageError(ValueError):
    """A message that does not follow its schema; its text says which field and why."""


def start_message(config: RenderConfig, registry: dict[str, str], warm: tuple[str, ...]) -> dict:
    return {"config": dataclasses.asdict(config), "registry": registry, "warm": list(warm)}


def read_start(message: dict) -> tuple[RenderConfig, dict[str, str], tuple[str, ...]]:
    """The worker's settings (from the pool, which the worker trusts)."""
    fields = dict(message["config"])
    fields["limits"] = SandboxLimits(**fields["limits"])
    fields["web_viewport"] = tuple(fields["web_viewport"])
    return RenderConfig(**fields), dict(message["registry"]), tuple(message["warm"])


def request_message(request: RenderRequest) -> dict:
    return dataclasses.asdict(request)


def read_request(message: dict) -> RenderRequest:
    return RenderRequest(**{**message, "options": dict(message["options"])})


def result_message(result: RenderResult, rss_mb: float, retire: bool = False) -> dict:
    """A worker's answer: the result (`verified` is the pool's to set), its RSS, and whether
    the worker must be replaced now."""
    fields = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
    del fields["verified"]
    return {"result": fields, "rss_mb": rss_mb, "retire": retire}


def read_answer(message: Any, request: RenderRequest, config: RenderConfig):
    """(RenderResult, RSS in MB, retire) from a worker's answer to `request`."""
    answer = _map(message, "answer", required={"result", "rss_mb", "retire"})
    result = read_result(answer["result"], request, config)
    return result, _number(answer["rss_mb"], "rss_mb"), _bool(answer["retire"], "retire")


def read_ready(message: Any) -> float:
    """The worker's RSS in MB from its message that it is warm."""
    ready = _map(message, "ready message", required={"ready", "rss_mb"})
    if ready["ready"] is not True:
        raise MessageError("the worker did not say it is ready")
    return _number(ready["rss_mb"], "rss_mb")


def answer_limit(config: RenderConfig, domain: str) -> int:
    """The most bytes a worker's answer for `domain` may take: its largest PNG and the rest."""
    return 4 * config.max_image_pixels(domain) + (2 << 20) + MAX_TEXT_BYTES


def read_result(fields: Any, request: RenderRequest, config: RenderConfig) -> RenderResult:
    """A RenderResult for `request` from plain fields, or MessageError saying what is wrong."""
    names = {f.name for f in dataclasses.fields(RenderResult)} - {"verified"}
    fields = _map(fields, "result", required={"id", "ok"}, allowed=names)
    if fields["id"] != request.id:
        raise MessageError(f"result.id {str(fields['id'])[:80]!r} answers another request")
    result = RenderResult(
        id=request.id,
        ok=_bool(fields["ok"], "ok"),
        error=_text(fields.get("error"), "error", MAX_ERROR_CHARS, optional=True),
        image_png=_bytes(fields.get("image_png"), "image_png"),
        width=_int(fields.get("width", 0), "width"),
        height=_int(fields.get("height", 0), "height"),
        defects=tuple(
            read_defect(d) for d in _seq(fields.get("defects", ()), "defects", MAX_DEFECTS)
        ),
        elements=tuple(
            read_element(e) for e in _seq(fields.get("elements", ()), "elements", MAX_ELEMENTS)
        ),
        timings={
            _text(k, "timing name", MAX_NAME_CHARS): _number(v, f"timings[{k!r}]")
            for k, v in _map(fields.get("timings", {}), "timings", limit=MAX_TIMINGS).items()
        },
        metrics=_plain(_map(fields.get("metrics", {}), "metrics"), "metrics", 0),
        verified=request.domain in VERIFIED_DOMAINS,
    )
    if result.image_png is not None:
        check_png(
            result.image_png, result.width, result.height, config.max_image_pixels(request.domain)
        )
    elif result.width or result.height:
        raise MessageError("result.width/height given without an image")
    return result


def read_defect(fields: Any) -> Defect:
    names = {f.name for f in dataclasses.fields(Defect)}
    fields = _map(fields, "defect", required=names - {"source_lines"}, allowed=names)
    kind = fields["kind"]
    if kind not in DEFECT_KINDS:
        raise MessageError(f"defect.kind {str(kind)[:40]!r} is not one of {DEFECT_KINDS}")
    return Defect(
        kind=kind,
        severity=_number(fields["severity"], "defect.severity"),
        bbox=_bbox(fields["bbox"], "defect.bbox"),
        message=_text(fields["message"], "defect.message", MAX_MESSAGE_CHARS),
        source_lines=_lines(fields.get("source_lines", ()), "defect.source_lines"),
    )


def read_element(fields: Any) -> Element:
    names = {f.name for f in dataclasses.fields(Element)}
    fields = _map(fields, "element", required=names - {"source_lines"}, allowed=names)
    return Element(
        id=_text(fields["id"], "element.id", MAX_NAME_CHARS),
        role=_text(fields["role"], "element.role", MAX_NAME_CHARS),
        bbox=_bbox(fields["bbox"], "element.bbox"),
        source_lines=_lines(fields.get("source_lines", ()), "element.source_lines"),
    )


def bound_image_decoding(config: RenderConfig, domains) -> None:
    """Set PIL's `MAX_IMAGE_PIXELS` for this process to the largest canvas of `domains` (never
    above a bound set before): PIL then refuses any image over twice that before decoding it."""
    from PIL import Image

    largest = max((config.max_image_pixels(d) for d in domains), default=0)
    if largest and (Image.MAX_IMAGE_PIXELS is None or largest < Image.MAX_IMAGE_PIXELS):
        Image.MAX_IMAGE_PIXELS = largest


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, without decoding anything."""
    if len(data) < 24 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise MessageError("image_png is not a PNG (no signature and IHDR chunk)")
    return struct.unpack("!II", data[16:24])


def check_png(data: bytes, width: int, height: int, budget: int) -> None:
    """The PNG's header states `width` x `height`, within `budget` pixels; its bytes are no more
    than uncompressed RGBA of that size would take."""
    size = png_size(data)
    if size != (width, height):
        raise MessageError(f"image_png is {size[0]}x{size[1]} px, the result says {width}x{height}")
    if width < 1 or height < 1 or width * height > budget:
        raise MessageError(f"image_png is {width}x{height} px, outside 1..{budget:,} pixels")
    if len(data) > 4 * (width + 1) * height + (1 << 20):
        raise MessageError(f"image_png has {len(data):,} bytes for {width}x{height} px")


def _map(value, name, required=frozenset(), allowed=None, limit=None) -> dict:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise MessageError(f"{name} is not a map with string keys")
    missing = set(required) - set(value)
    extra = set(value) - set(allowed) if allowed is not None else set()
    if missing or extra:
        raise MessageError(f"{name}: missing {sorted(missing)}, unknown {sorted(extra)[:5]}")
    if limit is not None and len(value) > limit:
        raise MessageError(f"{name} has {len(value):,} entries, over {limit:,}")
    return value


def _seq(value, name, limit) -> tuple:
    if not isinstance(value, list | tuple):
        raise MessageError(f"{name} is not a list")
    if len(value) > limit:
        raise MessageError(f"{name} has {len(value):,} entries, over {limit:,}")
    return tuple(value)


def _bool(value, name) -> bool:
    if not isinstance(value, bool):
        raise MessageError(f"{name} is not true or false")
    return value


def _int(value, name) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 31:
        raise MessageError(f"{name} is not a count in 0..2^31")
    return value


def _number(value, name) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise MessageError(f"{name} is not a finite number")
    return float(value)


def _text(value, name, limit, optional=False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise MessageError(f"{name} is not a string")
    if len(value) > limit:
        raise MessageError(f"{name} has {len(value):,} characters, over {limit:,}")
    return value


def _bytes(value, name) -> bytes | None:
    if value is not None and not isinstance(value, bytes):
        raise MessageError(f"{name} is not bytes")
    return value


def _bbox(value, name) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    box = _seq(value, name, 4)
    if len(box) != 4:
        raise MessageError(f"{name} does not have 4 numbers")
    return tuple(_number(v, name) for v in box)


def _lines(value, name) -> tuple[int, ...]:
    return tuple(_int(v, name) for v in _seq(value, name, MAX_LINES))


def _plain(value, name, depth):
    """Metrics records: plain values, at most MAX_DEPTH deep."""
    if depth > MAX_DEPTH:
        raise MessageError(f"{name} is nested over {MAX_DEPTH} deep")
    if isinstance(value, dict):
        _map(value, name)
        return {k: _plain(v, f"{name}.{k}"[:200], depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return tuple(_plain(v, name, depth + 1) for v in value)
    if value is None or isinstance(value, str | bytes | bool | int):
        return value
    if isinstance(value, float):
        return value  # NaN is a fine metric value (an empty record's score)
    raise MessageError(f"{name} holds a {type(value).__name__}")
