"""Typed run configuration: the schema every recipe in configs/ fills in, and its loader.

A recipe is a Python file `configs/<name>.py` whose `get_config()` returns a `Config`. Every
field can be overridden on the command line as `key.sub=value`; values are converted to the
field's declared type and checked against its allowed values or range *before* any work starts,
so a typo costs one line of output, not a half-built run:

    python -m sdpo_jax.config chart_tiny train.steps=4 objective.sd_weight=0.5 --print-config

Defaults live here, once; recipes state only what differs from them.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import pkgutil
import sys
import types
import typing
from collections.abc import Sequence
from typing import Any, Literal

from models.qwen3_vl.config import PRESETS
from render_service.config import RenderConfig
from sdpo_jax.method.choices import Aggregation, Divergence, KLEstimator, Support, VisualScore

Dtype = Literal["float32", "bfloat16"]
Task = Literal["chart", "web", "slide"]


class ConfigError(ValueError):
    """A user-caused configuration problem; its message is one line naming the key."""


def _field(default: Any, *, lo: float | None = None, hi: float | None = None, doc: str = ""):
    """A dataclass field with an inclusive numeric range checked at load time."""
    return dataclasses.field(default=default, metadata={"lo": lo, "hi": hi, "doc": doc})


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    # A folder as transformers writes it (config.json + safetensors). None: the built-in preset
    # with fresh weights, which only the tiny preset allows.
    path: str | None = None
    preset: Literal[PRESETS] = "tiny"  # type: ignore[valid-type]
    dtype: Dtype = "bfloat16"  # compute dtype
    param_dtype: Dtype = "float32"  # master weights
    remat: bool = False


@dataclasses.dataclass(frozen=True)
class MeshConfig:
    """Device mesh ("data", "fsdp", "tensor"); -1 takes the devices the other axes leave."""

    data: int = _field(1, lo=-1)
    fsdp: int = _field(-1, lo=-1)
    tensor: int = _field(1, lo=-1)
    # Logical parameter axis -> the mesh axes it is split over ([]: replicated). Model code
    # names axes; this table decides where they live. Empty: models.sharding.DEFAULT_RULES.
    rules: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclasses.dataclass(frozen=True)
class DataConfig:
    task: Task = "chart"
    # bundled: the generated tiny sets shipped with the repo; chartmimic / design2code: local
    # folders in the published layouts; jsonl: messages + image paths.
    source: Literal["bundled", "chartmimic", "design2code", "jsonl"] = "bundled"
    path: str | None = None
    split: Literal["train", "validation", "heldout"] = "train"
    seed: int = 0
    max_prompt_tokens: int = _field(1024, lo=16)
    # Letterbox every image onto this (width, height) canvas so all prompts share one patch
    # grid (few compiled shapes); (0, 0) keeps each image's own size within the model folder's
    # min/max pixels.
    image_size: tuple[int, int] = (0, 0)

    @property
    def letterbox(self) -> tuple[int, int] | None:
        """`image_size`, or None where images keep their own size."""
        return tuple(self.image_size) if any(self.image_size) else None


@dataclasses.dataclass(frozen=True)
class SamplingConfig:
    num_samples: int = _field(
        8, lo=2, doc="G, completions per prompt; a group needs at least 2 to compare"
    )
    max_new_tokens: int = _field(1024, lo=1)
    temperature: float = _field(1.0, lo=0.0)
    top_k: int = _field(0, lo=0)
    top_p: float = _field(1.0, lo=0.0, hi=1.0)


@dataclasses.dataclass(frozen=True)
class ObjectiveConfig:
    sd_weight: float = _field(1.0, lo=0.0, doc="lambda in L = L_GRPO + lambda * L_SD")
    grpo_weight: float = _field(1.0, lo=0.0, doc="scales L_GRPO; 0: self-distillation only")
    credit_gamma: float = _field(1.0, lo=0.0, doc="gamma in w = 1 + gamma * m")
    credit_renormalize: bool = False
    divergence: Divergence = "reverse_kl"
    jsd_alpha: float = _field(0.5, lo=0.0, hi=1.0)
    support: Support = "topk"
    topk: int = _field(100, lo=1)
    tail_bucket: bool = True
    is_clip: float = _field(2.0, lo=1.0)
    eps_low: float = _field(0.2, lo=0.0, hi=1.0)
    eps_high: float = _field(0.28, lo=0.0)
    normalize_std: bool = True
    # beta > 0 keeps a frozen copy of the starting weights as the reference policy and adds
    # beta * KL(pi_theta || pi_ref), estimated per sampled token by `kl_estimator`.
    beta: float = _field(0.0, lo=0.0, doc="weight of the KL to the starting weights")
    kl_estimator: KLEstimator = "k3"
    aggregation: Aggregation = "token_mean"


@dataclasses.dataclass(frozen=True)
class TeacherConfig:
    """The teacher is the same network shown the feedback. `weights`: the live parameters under
    stop-gradient, or an exponential moving average of them (`ema_rate` per step). The strings
    build the feedback appended to the last user turn; `{lines}`, `{message}`, `{error}` and
    `{solution}` are filled in.

    SDPO's options: `solution` shows a successful sibling rollout of the same group (never the
    row's own) as a demonstration; `skip_clean` gives no distillation loss to a row whose
    feedback has nothing to teach (it ran, no defect, and no sibling solution is shown).
    `max_context_tokens` caps the teacher's context before the completion (0: no cap): the
    feedback's tail is cut while its header and first item fit beside the demonstration, else
    the demonstration goes, then the render image; the completion is never cut. `departures`
    adds how the render departs from the gold program's render: on ChartMimic's measures for
    charts (plot calls, panels, text, colours), on Design2Code's text blocks for web pages and
    HTML slides (blocks lacking or extra, text, placement, colour); a policy learns to revise
    from it only if its warm start was shown it."""

    weights: Literal["live", "ema"] = "live"
    ema_rate: float = _field(0.05, lo=0.0, hi=1.0)
    show_render: bool = True
    max_defects: int = _field(10, lo=0)
    max_error_chars: int = _field(2000, lo=100)
    intro: str = "Feedback on your earlier attempt at this task."
    render_caption: str = "Your code rendered as this image:"
    defects_header: str = "Visible defects (line numbers refer to your code):"
    defect_item: str = "- line {lines}: {message}"
    no_defects: str = "No visible defects were found."
    error: str = "Your code failed to run:\n{error}"
    outro: str = "Taking this feedback into account, write the code again."
    solution: bool = False
    solution_text: str = "A correct solution from another attempt:\n{solution}"
    skip_clean: bool = False
    departures: bool = False
    departures_header: str = "Compared with the target:"
    max_context_tokens: int = _field(0, lo=0, doc="0: no cap")


@dataclasses.dataclass(frozen=True)
class RewardConfig:
    """R = w_exec * executed + w_vis * visual - w_def * defect penalty (sdpo_jax/method/rewards.py).
    `visual` picks the score: each recipe sets the one its task's benchmark uses."""

    w_exec: float = _field(1.0, lo=0.0)
    w_vis: float = _field(1.0, lo=0.0)
    w_def: float = _field(0.5, lo=0.0)
    visual: VisualScore = "ssim"


@dataclasses.dataclass(frozen=True)
class OptimConfig:
    lr: float = _field(1e-6, lo=0.0)
    warmup_steps: int = _field(10, lo=0)
    min_lr_ratio: float = _field(0.1, lo=0.0, hi=1.0)
    weight_decay: float = _field(0.01, lo=0.0)
    b1: float = _field(0.9, lo=0.0, hi=1.0)
    b2: float = _field(0.999, lo=0.0, hi=1.0)
    grad_clip: float = _field(1.0, lo=0.0, doc="global-norm clip; 0 disables")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    steps: int = _field(200, lo=1)
    batch_prompts: int = _field(32, lo=1)
    microbatches: int = _field(1, lo=1)
    offpolicy_lag: int = _field(0, lo=0, hi=1)
    seed: int = 0
    log_every: int = _field(1, lo=1)
    image_every: int = _field(10, lo=1)
    checkpoint_every: int = _field(50, lo=1)
    keep_checkpoints: int = _field(3, lo=1)


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    out_dir: str | None = None  # None: <run_dir>/eval
    limit: int = _field(0, lo=0, doc="score only the first N items; 0: all")
    temperature: float = _field(0.0, lo=0.0)
    # The trainer's before -> after check: this many items of `quick_split`, sampled as in
    # training with a fixed key at the first and the last step; 0 skips it. Tune settings on
    # the validation split; report on the held-out one.
    quick_items: int = _field(0, lo=0)
    quick_split: Literal["validation", "heldout"] = "heldout"
    quick_every: int = _field(0, lo=0, doc="also run the quick check every N steps; 0: never")
    # Off when another run from the same weights with the same train.seed already scored them
    # (the learning benchmark's arms): the check before the first step would be the same.
    quick_before: bool = True


@dataclasses.dataclass(frozen=True)
class WarmstartConfig:
    """Supervised fine-tuning that makes the tiny policy (`python -m sdpo_jax warmstart`).

    Each example either writes the program from the prompt (gold, or with probability
    `defect_share` a gold program with one injected defect), or, with probability
    `revise_share`, revises: its prompt is the teacher context the trainer builds for an
    attempt (clean, defective or failing), its answer the gold program. With
    `teacher.departures`, a share `content_share` of the revisions start from a gold program
    changed in one scored property (`sdpo_jax.warmstart.content_edits`), which only the
    departures name. A share `read_share` of the batches read: fresh content, named only by
    the departures, with the loss on the changed tokens (`sdpo_jax.warmstart.reading`).
    `init` continues from a warm-started folder instead of fresh weights."""

    out: str | None = None  # None: runs/<name>-warmstart
    preset: Literal["tiny", "mini"] = "mini"  # the fresh model it starts from
    init: str | None = None  # a model folder to continue from; None: fresh `preset` weights
    steps: int = _field(1600, lo=1)
    batch: int = _field(16, lo=1, doc="sequences per step")
    lr: float = _field(1e-3, lo=0.0)
    warmup_steps: int = _field(100, lo=0)
    defect_share: float = _field(0.4, lo=0.0, hi=1.0)
    revise_share: float = _field(0.4, lo=0.0, hi=1.0)
    solution_share: float = _field(0.2, lo=0.0, hi=1.0, doc="of revisions, shown a solution")
    content_share: float = _field(
        0.3, lo=0.0, hi=1.0, doc="of revisions, a content edit (with teacher.departures)"
    )
    read_share: float = _field(
        0.0, lo=0.0, hi=1.0, doc="of batches, reading fresh content from the departures (charts)"
    )
    read_per_prompt: int = _field(2, lo=1, doc="fresh versions of each train program to read")
    seed: int = 0
    train_items: int = _field(0, lo=0, doc="the first N train items only; 0: all")
    eval_items: int = _field(32, lo=0, doc="validation items the closing lead is measured on")


@dataclasses.dataclass(frozen=True)
class Config:
    name: str = "unnamed"
    run_dir: str | None = None  # None: runs/<name>
    model: ModelConfig = ModelConfig()
    mesh: MeshConfig = MeshConfig()
    data: DataConfig = DataConfig()
    sampling: SamplingConfig = SamplingConfig()
    render: RenderConfig = dataclasses.field(default_factory=RenderConfig)
    objective: ObjectiveConfig = ObjectiveConfig()
    teacher: TeacherConfig = TeacherConfig()
    reward: RewardConfig = RewardConfig()
    optim: OptimConfig = OptimConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    warmstart: WarmstartConfig = WarmstartConfig()


# --------------------------------------------------------------------------- loading


def available() -> list[str]:
    """Names of the recipes shipped in configs/."""
    import configs

    return sorted(
        m.name for m in pkgutil.iter_modules(configs.__path__) if not m.name.startswith("_")
    )


def load_config(name: str, overrides: Sequence[str] = (), *, weights: bool = True) -> Config:
    """The recipe `name` with `key.sub=value` overrides applied, validated. `weights=False`
    (the memory plan) accepts any `model.preset` without a model folder: only shapes are used."""
    names = available()
    if name not in names:
        raise ConfigError(f"unknown config {name!r}; available: {', '.join(names)}")
    config = importlib.import_module(f"configs.{name}").get_config()
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not of the form key.sub=value")
        config = _set(config, key.strip(), value.strip())
    validate(config, weights=weights)
    return config


def _set(node: Any, dotted: str, raw: str, prefix: str = "") -> Any:
    head, _, rest = dotted.partition(".")
    fields = {f.name: f for f in dataclasses.fields(node)}
    key = prefix + head
    if head not in fields:
        raise ConfigError(f"unknown key {key!r}; allowed: {', '.join(prefix + f for f in fields)}")
    field = fields[head]
    hint = typing.get_type_hints(type(node))[head]
    if dataclasses.is_dataclass(hint):
        if not rest:
            raise ConfigError(f"{key!r} is a section; set one of its keys, e.g. {key}.<key>=value")
        value = _set(getattr(node, head), rest, raw, key + ".")
    else:
        if rest:
            raise ConfigError(f"unknown key {prefix + dotted!r}: {key!r} has no sub-keys")
        try:
            value = _convert(raw, hint, key)
        except ConfigError as err:
            raise ConfigError(f"{err}{_describe_range(field, '; allowed values: ')}") from None
        _check_range(value, field, key)
    try:
        return dataclasses.replace(node, **{head: value})
    except ValueError as err:  # a section's own check (e.g. the render service's)
        raise ConfigError(f"{key}={raw!r}: {err}") from None


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _convert(raw: Any, hint: Any, key: str) -> Any:
    """`raw` (command-line text, or JSON-decoded data inside containers) as type `hint`."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        if type(None) in args and (raw is None or str(raw).lower() in ("none", "null")):
            return None
        (inner,) = [a for a in args if a is not type(None)]  # the schema uses only X | None
        return _convert(raw, inner, key)
    if origin is Literal:
        if raw not in args:
            raise ConfigError(
                f"{key}={raw!r} is not allowed; allowed values: {', '.join(map(str, args))}"
            )
        return raw
    if origin is tuple:
        items = json.loads(raw) if isinstance(raw, str) else raw
        if not isinstance(items, list | tuple):
            raise ConfigError(f"{key}={raw!r} is not a JSON list")
        inner = args[:1] * len(items) if args[-1:] == (Ellipsis,) else args
        if len(inner) != len(items):
            raise ConfigError(f"{key}={raw!r} needs {len(inner)} items, got {len(items)}")
        return tuple(_convert(v, t, key) for v, t in zip(items, inner))
    if hint is bool:
        text = str(raw).lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ConfigError(f"{key}={raw!r} is not a boolean; allowed values: true, false")
    if hint in (int, float):
        try:
            number = hint(str(raw))
        except ValueError:
            raise ConfigError(
                f"{key}={raw!r} is not {'an integer' if hint is int else 'a number'}"
            ) from None
        return number
    if hint is str:
        # A JSON string literal carries what one command-line word cannot (newlines).
        text = str(raw)
        return json.loads(text) if len(text) > 1 and text[0] == text[-1] == '"' else text
    raise ConfigError(f"{key}: fields of type {hint} cannot be set from the command line")


def _describe_range(field: dataclasses.Field, lead: str = "") -> str:
    lo, hi = field.metadata.get("lo"), field.metadata.get("hi")
    bounds = [b for b in (lo is not None and f">= {lo}", hi is not None and f"<= {hi}") if b]
    return lead + " and ".join(bounds) if bounds else ""


def _check_range(value: Any, field: dataclasses.Field, key: str) -> None:
    lo, hi = field.metadata.get("lo"), field.metadata.get("hi")
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if numeric and ((lo is not None and value < lo) or (hi is not None and value > hi)):
        doc = field.metadata.get("doc")
        raise ConfigError(
            f"{key}={value} is out of range; allowed values: {_describe_range(field)}"
            + (f" ({doc})" if doc else "")
        )


def validate(config: Config, *, weights: bool = True) -> None:
    """Checks that need the whole config (and the file system), after overrides."""
    for section in dataclasses.fields(config):
        node = getattr(config, section.name)
        if dataclasses.is_dataclass(node):
            for f in dataclasses.fields(node):
                _check_range(getattr(node, f.name), f, f"{section.name}.{f.name}")
    model = config.model
    if weights and model.path is None and model.preset not in FRESH_PRESETS:
        raise ConfigError(
            f"config {config.name!r} needs weights: add model.path=/path/to/Qwen3-VL folder "
            "(config.json + safetensors), e.g. make train CONFIG=chart "
            'ARGS="model.path=/models/Qwen3-VL-8B-Instruct"; the *_tiny configs run without weights'
        )
    for key, path in (("model.path", model.path), ("warmstart.init", config.warmstart.init)):
        if path is not None and not os.path.isfile(os.path.join(path, "config.json")):
            raise ConfigError(
                f"{key}={path!r} is not a model folder (no config.json there); "
                "point it at a folder as transformers writes it"
            )
    if config.train.batch_prompts % config.train.microbatches:
        raise ConfigError(
            f"train.microbatches={config.train.microbatches} must divide "
            f"train.batch_prompts={config.train.batch_prompts}"
        )
    if config.data.source != "bundled" and config.data.path is None:
        raise ConfigError(f"data.source={config.data.source!r} needs data.path=/path/to/folder")
    visual, task = config.reward.visual, config.data.task
    if task not in VISUAL_TASKS[visual]:
        raise ConfigError(
            f"reward.visual={visual!r} does not score {task} programs; for data.task={task!r} "
            f"use one of: {', '.join(v for v, tasks in VISUAL_TASKS.items() if task in tasks)}"
        )
    if config.warmstart.read_share and visual != "chartmimic":
        raise ConfigError(
            "warmstart.read_share reads the departures of charts, which reward.visual="
            f"{visual!r} does not make; use it with a chart recipe or leave it at 0"
        )
    if config.teacher.departures and visual not in DEPARTED_SCORES:
        raise ConfigError(
            "teacher.departures compares the ChartMimic records or Design2Code blocks of a "
            f"render and of the gold program, which reward.visual={visual!r} does not make; use "
            "it with reward.visual=chartmimic, design2code or slide, or leave it off"
        )
    cap, prompt = config.teacher.max_context_tokens, config.data.max_prompt_tokens
    if cap and cap < prompt + CONTEXT_MARGIN:
        raise ConfigError(
            f"teacher.max_context_tokens={cap} leaves no room for feedback after prompts of up "
            f"to data.max_prompt_tokens={prompt}; set it to at least {prompt + CONTEXT_MARGIN} "
            "(or 0 for no cap)"
        )


# Presets that may start from fresh weights (the tiny family); the others need model.path.
FRESH_PRESETS = ("tiny", "mini")
# The tasks each visual score can judge.
# The visual scores whose records a render's departures from the gold render are read from.
DEPARTED_SCORES = ("chartmimic", "design2code", "slide")
VISUAL_TASKS = {
    "ssim": ("chart", "web", "slide"),
    "chartmimic": ("chart",),
    "design2code": ("web", "slide"),
    "slide": ("slide",),
}
# Tokens a capped teacher context keeps beyond the prompt: the feedback's frame (intro, outro).
CONTEXT_MARGIN = 64


def to_dict(config: Config) -> dict[str, Any]:
    return dataclasses.asdict(config)


def format_config(config: Config) -> str:
    """The resolved config as `key.sub = value` lines, the same syntax overrides use."""
    lines = []

    def walk(node: Any, prefix: str) -> None:
        for f in dataclasses.fields(node):
            value = getattr(node, f.name)
            if dataclasses.is_dataclass(value):
                walk(value, f"{prefix}{f.name}.")
            else:
                quoted = isinstance(value, tuple) or (
                    isinstance(value, str) and not value.isprintable()
                )
                shown = json.dumps(value) if quoted else value
                lines.append(f"{prefix}{f.name}={shown}")

    walk(config, "")
    return "\n".join(lines)


def parse_args(argv: Sequence[str]) -> tuple[Config, bool]:
    """`CONFIG [key=value ...] [--print-config]` -> (config, print_only). Exits with one line
    on a bad config, the shared front door of every command-line entry point."""
    args = [a for a in argv if a != "--print-config"]
    print_only = len(args) != len(argv)
    if not args or "=" in args[0] or args[0].startswith("-"):
        sys.exit(
            f"usage: CONFIG [key.sub=value ...] [--print-config]; CONFIG is one of: {', '.join(available())}"
        )
    try:
        return load_config(args[0], args[1:]), print_only
    except ConfigError as err:
        sys.exit(f"config error: {err}")


def main(argv: Sequence[str] | None = None) -> None:
    config, _ = parse_args(sys.argv[1:] if argv is None else argv)
    print(format_config(config))


if __name__ == "__main__":
    main()
