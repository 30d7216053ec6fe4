"""ChartMimic-style scoring throughput: one recorded render per program against re-running
each program once per metric, as the published procedure does.

    PYTHONPATH=$PWD python benchmarks/eval.py [--items 8] [--workers 2]

Three ways to score the same (candidate, gold) pairs of bundled chart tasks, in one run:
- one render: score_items through a warm RenderPool built with metrics.registry(); each
  program runs once in its sandbox and records texts, layout, types and colours together;
- per-metric re-run, warm pool: the same pool, but each program rendered once per metric
  (4 runs), which isolates what recording everything at once saves;
- per-metric re-run, fresh interpreter (ChartMimic's procedure): for each metric, each program
  is run by a new `python` process that imports matplotlib, installs that run's hooks, runs
  the code and draws (ChartMimic writes a patched copy of the file and calls `python3` on it).
All three use the same hooks and the same scoring functions, so their scores must agree; the
table ends with the largest score difference and the ratio of items per second.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import time

from render_service import RenderConfig, RenderPool, RenderRequest
from render_service.metrics import chartmimic_scores, registry, score_items
from render_service.metrics.chartmimic import CHARTMIMIC_METRICS
from render_service.programs.synthetic import items
from sdpo_jax.loop.rundir import machine

# The record field each of ChartMimic's four evaluators reads from its own run.
FIELDS = {"text": "texts", "layout": "layout", "type": "types", "color": "colors"}
FRESH_RUN = """
import json, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from render_service.metrics.chart_record import ChartRecorder
recorder = ChartRecorder()
recorder.install()
plt.show = lambda *a, **k: None
exec(compile(sys.stdin.read(), "<generated>", "exec"), {"__name__": "__main__"})
for number in plt.get_fignums():
    plt.figure(number).canvas.draw()
print(json.dumps(recorder.record()[sys.argv[1]]))
"""


def pairs_of(count: int) -> list[tuple[RenderRequest, RenderRequest]]:
    gold = items("chart", count, seed=0)
    # Candidates: the same tasks with every other one replaced by a different chart, so scores
    # spread over [0, 1] instead of all being 1.
    other = items("chart", count, seed=1)
    return [
        (
            RenderRequest(f"cand-{i}", "chart", (g if i % 2 == 0 else o).code),
            RenderRequest(f"gold-{i}", "chart", g.code),
        )
        for i, (g, o) in enumerate(zip(gold, other))
    ]


def one_render(pairs, pool) -> tuple[float, list[dict]]:
    start = time.perf_counter()
    report = score_items(pairs, pool)
    return time.perf_counter() - start, [item.scores for item in report["items"]]


def rerun_in_pool(pairs, pool) -> tuple[float, list[dict]]:
    start = time.perf_counter()
    programs = [request for pair in pairs for request in pair]
    records = [dict() for _ in programs]
    for metric, field in FIELDS.items():
        requests = [
            RenderRequest(f"{r.id}-{metric}", "chart", r.code, options={"record": True})
            for r in programs
        ]
        for record, result in zip(records, pool.render(requests)):
            if result.ok:
                record[field] = result.metrics["chartmimic"][field]
    return time.perf_counter() - start, _scores(records)


def rerun_fresh(pairs, workers: int) -> tuple[float, list[dict]]:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root, "MPLBACKEND": "Agg"}

    def run(code: str, field: str):
        done = subprocess.run(
            [sys.executable, "-c", FRESH_RUN, field],
            input=code,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        return json.loads(done.stdout.splitlines()[-1]) if done.returncode == 0 else None

    start = time.perf_counter()
    programs = [request for pair in pairs for request in pair]
    jobs = [(index, field) for field in FIELDS.values() for index in range(len(programs))]
    records = [dict() for _ in programs]
    with concurrent.futures.ThreadPoolExecutor(workers) as executor:
        futures = {executor.submit(run, programs[i].code, field): (i, field) for i, field in jobs}
        for future, (index, field) in futures.items():
            value = future.result()
            if value is not None:
                records[index][field] = value
    return time.perf_counter() - start, _scores(records)


def _scores(records: list[dict]) -> list[dict]:
    scores = []
    for candidate, gold in zip(records[0::2], records[1::2]):
        if len(candidate) == len(FIELDS):
            candidate["layout"] = [tuple(spec) for spec in candidate["layout"]]
            candidate["colors"] = [tuple(pair) for pair in candidate["colors"]]
            gold["layout"] = [tuple(spec) for spec in gold["layout"]]
            gold["colors"] = [tuple(pair) for pair in gold["colors"]]
        scores.append(chartmimic_scores(candidate if len(candidate) == 4 else None, gold))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    pairs = pairs_of(args.items)
    with RenderPool(RenderConfig(workers=args.workers), registry=registry()) as pool:
        one_render(pairs[:1], pool)  # first use of each worker's code paths
        rows = [
            ("one render per program (pool)", 1, *one_render(pairs, pool)),
            ("per-metric re-run (warm pool)", 4, *rerun_in_pool(pairs, pool)),
        ]
    rows.append(("per-metric re-run (fresh python)", 4, *rerun_fresh(pairs, args.workers)))
    reference = rows[0][3]
    differences = [
        max(abs(a[m] - b[m]) for a, b in zip(reference, scores) for m in CHARTMIMIC_METRICS)
        for *_, scores in rows
    ]
    published = args.items / rows[-1][2]
    print(f"\n{machine()}: {args.items} chart pairs, {args.workers} workers")
    print(
        f"{'procedure':<34} {'runs/program':>12} {'seconds':>8} {'items/s':>8} "
        f"{'× published':>11} {'max |Δscore|':>12}"
    )
    for (name, runs, seconds, _), difference in zip(rows, differences):
        rate = args.items / seconds
        print(
            f"{name:<34} {runs:>12} {seconds:>8.2f} {rate:>8.2f} {rate / published:>11.1f} "
            f"{difference:>12.2g}"
        )


if __name__ == "__main__":
    main()
