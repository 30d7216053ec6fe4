"""Score a model on a benchmark (what `make eval` runs): generate, render, score, report.

    python -m sdpo_jax evaluate chart_tiny                          # fresh tiny weights, held-out split
    python -m sdpo_jax evaluate chart_tiny --ckpt runs/chart_tiny   # a run's newest checkpoint
    python -m sdpo_jax evaluate chart --model /models/Qwen3-VL-8B-Instruct --data /data/ChartMimic
    python -m sdpo_jax evaluate web_tiny eval.limit=8 eval.out_dir=/tmp/eval

One program per record (greedy unless `eval.temperature` > 0) is rendered beside the record's
gold program through the metrics registry's renderers and scored with `score_items`
(ChartMimic scores for charts, Design2Code for pages, slide scores for slides). A program that
fails, crashes or hangs scores 0 for its item; the run always completes. The reports go to
`eval.out_dir` (default `<run_dir>/eval`): report.json (everything), report.md (a table per
benchmark) and report.png (scores per metric, and target | generated for the first items).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import jax
import numpy as np
from tqdm import tqdm

from render_service import RenderPool, RenderRequest, metrics
from sdpo_jax import hosts
from sdpo_jax.commands import one_line_errors
from sdpo_jax.commands.export import restore_run
from sdpo_jax.config import Config, ConfigError, load_config
from sdpo_jax.data.pipeline import LoadPrompt, SkipCounter
from sdpo_jax.data.records import BadSource, PromptRecord, read_chartmimic, read_design2code
from sdpo_jax.errors import RunError
from sdpo_jax.loop import rundir
from sdpo_jax.loop.pictures import decode_png
from sdpo_jax.loop.policy import collate, sample
from sdpo_jax.loop.rollouts import decode
from sdpo_jax.loop.sampling import SampleOutput
from sdpo_jax.runtime import (
    join_processes,
    keep_compiled,
    load_model,
    load_records,
    make_mesh,
    sharding_rules,
)

BENCHMARKS = {
    "chart": "ChartMimic",
    "web": "Design2Code",
    "slide_html": "Slides (HTML)",
    "slide_pptx": "Slides (pptx)",
}
EXAMPLES = 4  # rows of target | generated in report.png


@dataclasses.dataclass
class Candidate:
    """One record's generated program."""

    record: PromptRecord
    code: str


def data_overrides(path: str) -> list[str]:
    """Config overrides for `--data PATH`: a JSONL file, or a ChartMimic / Design2Code folder
    (told apart by the gold files beside the images)."""
    if Path(path).is_file():
        return ["data.source=jsonl", f"data.path={path}"]
    for source, reader, kind in (
        ("chartmimic", read_chartmimic, "chart"),
        ("design2code", read_design2code, "web"),
    ):
        try:
            reader(path)
        except BadSource:
            continue
        return [f"data.source={source}", f"data.path={path}", f"data.task={kind}"]
    raise RunError(
        f"--data {path}: not a JSONL file, nor a folder in the ChartMimic layout (<name>.png "
        "beside <name>.py) or the Design2Code layout (<name>.png beside <name>.html)"
    )


def generate_programs(
    config: Config, model, encoder, records: Sequence[PromptRecord]
) -> tuple[list[Candidate], list[str]]:
    """(one completion per record, in order, batched `train.batch_prompts` at a time; the
    records whose prompt did not load, with the reason: data problems, not scored). With
    several processes each samples its block of every batch and all of them get every
    completion."""
    skipped = SkipCounter()
    load = LoadPrompt(
        encoder,
        max_tokens=config.data.max_prompt_tokens,
        image_size=config.data.letterbox,
        skipped=skipped,
        records=len(records) + 1,  # never stop: the records that load are still scored
    )
    candidates: list[Candidate] = []
    size = config.train.batch_prompts
    share = hosts.share(size)
    key = jax.random.key(config.train.seed)
    batches = range(0, len(records), size)
    for start in tqdm(batches, desc="generate", unit="batch", disable=not hosts.is_main()):
        prompts = [p for p in map(load.map, records[start : start + size]) if p is not None]
        if not prompts:
            continue
        # Each process samples its block of the batch (a block past its end: a filler).
        own = prompts[jax.process_index() * share :][:share]
        out = sample(
            model,
            collate(encoder, [p.encoded for p in own or prompts[-1:]], size=share),
            encoder.tokenizer,
            config.sampling,
            rng=jax.random.fold_in(key, start),
            num_samples=1,
            temperature=config.eval.temperature,
        )
        every = SampleOutput(*(hosts.gather(np.asarray(x)[: len(own)]) for x in out))
        rollouts = decode(prompts, every, encoder.tokenizer, step=0)
        candidates += [Candidate(p.record, r.code) for p, r in zip(prompts, rollouts.requests)]
    return candidates, skipped.reasons


class RecordingPool:
    """The pool as `score_items` uses it (`render`), keeping every result for the example grid
    and showing progress as renders finish."""

    def __init__(self, pool: RenderPool):
        self.pool, self.results = pool, []

    def render(self, requests: Sequence[RenderRequest]):
        futures = [self.pool.submit(r) for r in requests]
        self.results = [f.result() for f in tqdm(futures, desc="render+score", unit="program")]
        return self.results


def score(
    pool: RenderPool, candidates: Sequence[Candidate], clip_model_dir: str | None = None
) -> tuple[dict, list]:
    """(score_items' report with the records' ids, the candidates' render results)."""
    pairs = [
        (
            RenderRequest(f"candidate:{c.record.id}", c.record.domain, c.code),
            RenderRequest(f"gold:{c.record.id}", c.record.domain, c.record.gold),
        )
        for c in candidates
    ]
    recorder = RecordingPool(pool)
    report = metrics.score_items(pairs, recorder, clip_model_dir=clip_model_dir)
    report["items"] = [
        dataclasses.replace(item, id=c.record.id)
        for item, c in zip(report["items"], candidates, strict=True)
    ]
    return report, recorder.results[0::2]


def evaluate(
    config: Config,
    *,
    ckpt: str | None = None,
    clip_model_dir: str | None = None,
) -> Path:
    """Runs the evaluation `config` describes on the fresh, checkpointed (`ckpt`) or HF folder
    (`config.model.path`) model; returns the folder holding the three reports (written by
    process 0 of a run launched as several; the others only sample)."""
    mesh, rules = make_mesh(config.mesh), sharding_rules(config.mesh)
    if ckpt is not None:
        if not Path(ckpt).exists():
            raise RunError(f"--ckpt {ckpt}: no such run directory or checkpoint folder")
        restored = restore_run(ckpt, mesh=mesh, rules=rules)
        model, encoder = restored.model, restored.encoder
        model_label = f"{restored.run_dir} step {restored.step} ({restored.config.name})"
        default_out = restored.run_dir / "eval" / f"step{restored.step}"
    else:
        model, encoder = load_model(config.model, seed=config.train.seed, mesh=mesh, rules=rules)
        model_label = (
            f"HF folder {config.model.path}"
            if config.model.path
            else f"fresh {config.model.preset} weights (seed {config.train.seed})"
        )
        default_out = rundir.resolve(config) / "eval"
    out = Path(config.eval.out_dir or default_out)
    domain = "slide_html" if config.data.task == "slide" else config.data.task
    with RenderPool(config.render, registry=metrics.registry(), warm_domains=(domain,)) as pool:
        records, problems = load_records(config, pool.render)
        records = [r for r in records if r.gold is not None]
        if config.eval.limit:
            records = records[: config.eval.limit]
        if not records:
            raise RunError(f"{describe_data(config)} has no records with a gold program to score")
        candidates, skipped = generate_programs(config, model, encoder, records)
        if not candidates:
            raise RunError(f"none of the {len(records)} records loads; first: {skipped[0]}")
        problems += skipped
        if not hosts.is_main():  # process 0 renders, scores and writes the reports
            return out
        report, results = score(pool, candidates, clip_model_dir)
    summary = {
        "config": config.name,
        "model": model_label,
        "data": describe_data(config),
        "temperature": config.eval.temperature,
        "max_new_tokens": config.sampling.max_new_tokens,
        "limit": config.eval.limit,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "data_problems": problems,
        "benchmarks": {
            BENCHMARKS.get(domain, domain): aggregate
            for domain, aggregate in report["aggregate"].items()
        },
        "items": [
            dataclasses.asdict(item) | {"code": c.code}
            for item, c in zip(report["items"], candidates, strict=True)
        ],
    }
    write_reports(out, summary, candidates, results)
    return out


def write_reports(out: Path, summary: dict, candidates: Sequence[Candidate], results) -> None:
    """report.json, report.md and report.png in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "report.md").write_text(markdown(summary))
    figure(summary, candidates, results).savefig(out / "report.png", dpi=100)


def markdown(summary: dict) -> str:
    """A header naming the model and the data, then a table per benchmark and one row per item."""
    lines = [
        f"# Evaluation: {summary['config']}",
        "",
        f"- model: {summary['model']}",
        f"- data: {summary['data']}",
        f"- decoding: temperature {summary['temperature']}, "
        f"up to {summary['max_new_tokens']} new tokens",
        f"- created: {summary['created']}",
    ]
    for name, aggregate in summary["benchmarks"].items():
        lines += ["", f"## {name}", "", "| metric | value |", "|---|---|"]
        lines += [
            f"| {key} | {_number(value)} |"
            for key, value in aggregate.items()
            if key != "defect_rates"
        ]
        lines += [
            f"| defects: {kind} | {_number(rate)} |"
            for kind, rate in aggregate["defect_rates"].items()
        ]
    lines += ["", "## Items", "", "| id | executed | scores | error |", "|---|---|---|---|"]
    for item in summary["items"]:
        scores = ", ".join(f"{k} {_number(v)}" for k, v in item["scores"].items())
        error = (item["error"] or "").strip().splitlines()
        shown = error[-1].replace("|", "\\|")[:120] if error else ""
        lines.append(f"| {item['id']} | {item['executed']} | {scores} | {shown} |")
    if summary["data_problems"]:
        lines += ["", "## Data records not scored", ""]
        lines += [f"- {problem}" for problem in summary["data_problems"]]
    return "\n".join(lines) + "\n"


def _number(value) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def figure(summary: dict, candidates: Sequence[Candidate], results):
    """Bars of each benchmark's mean scores on top; below, target | generated for the first
    `EXAMPLES` items (grey where nothing rendered)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = list(zip(candidates, results, summary["items"]))[:EXAMPLES]
    benchmarks = summary["benchmarks"]
    fig = plt.figure(figsize=(10, 3 * len(benchmarks) + 2.6 * len(shown)), layout="constrained")
    grid = fig.add_gridspec(len(benchmarks) + len(shown), 2)
    for row, (name, aggregate) in enumerate(benchmarks.items()):
        values = {k: v for k, v in aggregate.items() if isinstance(v, float) and k != "items"}
        axes = fig.add_subplot(grid[row, :])
        bars = axes.barh(list(values), list(values.values()), color="tab:blue")
        axes.bar_label(bars, fmt="%.3f", padding=3)
        axes.set_xlim(0, 1)
        axes.invert_yaxis()
        axes.set_title(f"{name}: {aggregate['items']} items — {summary['model']}", fontsize=9)
    for row, (candidate, result, item) in enumerate(shown, start=len(benchmarks)):
        pictures = (
            (candidate.record.target, f"target: {item['id']}"),
            (result.image_png, "generated" + ("" if item["executed"] else " (failed)")),
        )
        for column, (source, title) in enumerate(pictures):
            axes = fig.add_subplot(grid[row, column])
            axes.imshow(_picture(source))
            axes.set_title(title, fontsize=9)
            axes.axis("off")
    return fig


def _picture(source: bytes | str | None) -> np.ndarray:
    """The image of PNG bytes or of a file; grey where there is none or it does not decode."""
    try:
        png = Path(source).read_bytes() if isinstance(source, str) else source
        return np.asarray(decode_png(png))
    except OSError:
        return np.asarray(decode_png(None))


def describe_data(config: Config) -> str:
    data = config.data
    if data.source == "bundled":
        return f"bundled {data.task} set (seed {data.seed}), {data.split} split"
    return f"{data.source} {data.path}"


def parse(argv: Sequence[str]) -> tuple[Config, argparse.Namespace]:
    parser = argparse.ArgumentParser(
        prog="python -m sdpo_jax evaluate", description=__doc__.splitlines()[0]
    )
    parser.add_argument("config", help="recipe name, e.g. chart_tiny")
    parser.add_argument("overrides", nargs="*", help="key.sub=value")
    parser.add_argument("--ckpt", help="a run directory or one of its checkpoints/<step>")
    parser.add_argument("--model", help="a Hugging Face model folder (e.g. the zero-shot base)")
    parser.add_argument("--data", help="a JSONL file, or a ChartMimic / Design2Code folder")
    parser.add_argument("--clip", help="a local HF CLIP folder: adds the CLIP score of pages")
    args = parser.parse_intermixed_args(argv)
    if args.ckpt and args.model:
        sys.exit("error: give --ckpt or --model, not both")
    if args.clip and not (Path(args.clip) / "config.json").is_file():
        sys.exit(f"error: --clip {args.clip} is not a model folder (no config.json there)")
    overrides = ["data.split=heldout"]
    if args.model:
        overrides.append(f"model.path={args.model}")
    try:
        if args.data:
            overrides += data_overrides(args.data)
        return load_config(args.config, overrides + list(args.overrides)), args
    except ConfigError as err:
        sys.exit(f"config error: {err}")
    except RunError as err:
        sys.exit(f"error: {err}")


def main(argv: Sequence[str] | None = None) -> Path:
    config, args = parse(sys.argv[1:] if argv is None else argv)
    with one_line_errors():
        join_processes()
        keep_compiled()
        out = evaluate(config, ckpt=args.ckpt, clip_model_dir=args.clip)
    if not hosts.is_main():
        return out
    print(f"reports in {out}: report.json, report.md, report.png")
    for name, aggregate in json.loads((out / "report.json").read_text())["benchmarks"].items():
        shown = {k: v for k, v in aggregate.items() if isinstance(v, float)}
        print(f"{name}: " + ", ".join(f"{k}={v:.3f}" for k, v in shown.items()))
    return out


if __name__ == "__main__":
    main()
