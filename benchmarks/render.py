"""Render throughput: one table, every row measured in this run on the labeled chart cases.

    PYTHONPATH=$PWD python benchmarks/render.py [--requests 64] [--batch 256]

Rows: bare matplotlib in this process (exec + draw + PNG, no sandbox: the reference); the
chart renderer's plain render (sandboxed fork, no tracing); render + tracing + detectors
(target: at most 25% slower than plain); one pool worker with and without the bubblewrap jail,
for charts and for web pages (target: at most 20% slower in it); the pool at 1..N workers (target: at least 0.8 of linear
scaling over 1 worker); and the pool's wall time for one training step's batch.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import random
import tempfile
import time
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from render_service import RenderConfig, RenderPool, RenderRequest
from render_service.chart.renderer import ChartRenderer
from render_service.labeled import load_cases
from sdpo_jax.loop.rundir import machine

CASES = os.path.join(os.path.dirname(__file__), "..", "tests", "render_service", "cases", "chart")


def workload(count: int) -> list[RenderRequest]:
    """`count` requests cycling through the cases in a fixed shuffled order (a mixed sample)."""
    codes = [case.code for case in load_cases([CASES])]
    random.Random(0).shuffle(codes)
    return [RenderRequest(str(i), "chart", codes[i % len(codes)]) for i in range(count)]


def rate(run, requests) -> tuple[float, float]:
    """(renders per second, seconds) for rendering all requests with `run`."""
    start = time.perf_counter()
    run(requests)
    elapsed = time.perf_counter() - start
    return len(requests) / elapsed, elapsed


def bare_matplotlib(requests):
    """The reference: the same code run directly (in a temporary cwd, as it may save files)."""
    home = os.getcwd()
    with tempfile.TemporaryDirectory() as scratch:
        os.chdir(scratch)
        try:
            for request in requests:
                plt.close("all")
                with matplotlib.rc_context(), warnings.catch_warnings():  # nothing leaks onward
                    warnings.simplefilter("ignore")
                    exec(compile(request.code, "<generated>", "exec"), {"__name__": "__main__"})
                    for number in plt.get_fignums():
                        plt.figure(number).savefig(io.BytesIO(), format="png", dpi=100)
        finally:
            os.chdir(home)
            plt.close("all")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=64, help="requests per throughput row")
    parser.add_argument("--batch", type=int, default=256, help="one training step's renders")
    args = parser.parse_args()
    requests = workload(args.requests)
    config = RenderConfig()
    cores = os.cpu_count() or 1
    rows = []

    # Interleaved request by request, so a neighbour's load on a shared machine hits all three
    # rows alike.
    renderer = ChartRenderer(config)
    plain_requests = [dataclasses.replace(r, options={"trace": False}) for r in requests]
    spent = {"reference": 0.0, "plain": 0.0, "traced": 0.0}
    for request, plain_request in zip(requests, plain_requests):
        spent["reference"] += rate(bare_matplotlib, [request])[1]
        spent["plain"] += rate(lambda rs: [renderer.render(r) for r in rs], [plain_request])[1]
        spent["traced"] += rate(lambda rs: [renderer.render(r) for r in rs], [request])[1]
    renderer.close()
    reference, plain, traced = (len(requests) / spent[k] for k in ("reference", "plain", "traced"))
    rows.append(("bare matplotlib, in process (reference)", reference, ""))
    rows.append(("chart renderer, plain (sandboxed)", plain, f"{plain / reference:.2f}x ref"))
    overhead = spent["traced"] / spent["plain"] - 1
    rows.append(("+ tracing + detectors", traced, f"{overhead:+.0%} time (target <= +25%)"))

    # The OS jail's cost: one worker with and without it, alternating rounds of 8 requests;
    # charts, then web pages (their own worker, with its Chromium, in a jail of its own).
    web = [
        RenderRequest(c.name, "web", c.code) for c in load_cases([CASES.replace("chart", "web")])
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # sandbox="unsafe" warns on start
        pools = {
            mode: RenderPool(
                dataclasses.replace(config, workers=1, sandbox=mode), warm_domains=("chart", "web")
            )
            for mode in ("unsafe", "bwrap")
        }
    for kind, items in (("charts", requests), ("web pages", web * 3)):
        jail = dict.fromkeys(pools, 0.0)
        for pool in pools.values():
            pool.render(items[:1])
        for start in range(0, len(items), 8):
            for mode, pool in pools.items():
                jail[mode] += rate(pool.render, items[start : start + 8])[1]
        rows.append((f"pool, 1 worker, {kind}, no jail (unsafe)", len(items) / jail["unsafe"], ""))
        note = f"{jail['bwrap'] / jail['unsafe'] - 1:+.0%} time (target <= +20%)"
        rows.append((f"pool, 1 worker, {kind}, in the jail", len(items) / jail["bwrap"], note))
    for pool in pools.values():
        pool.close()

    single = None
    for workers in range(1, cores + 1):
        with RenderPool(dataclasses.replace(config, workers=workers)) as pool:
            pool.render(requests[:workers])  # first renders fault in the workers' pages
            per_second, _ = rate(pool.render, requests)
            single = single or per_second
            scaling = per_second / (workers * single)
            note = f"{scaling:.2f} of linear (target >= 0.8)"
            rows.append((f"pool, {workers} worker{'s' * (workers > 1)}", per_second, note))
            if workers == cores:
                _, seconds = rate(pool.render, workload(args.batch))
                batch_note = f"{seconds:.1f} s wall for {args.batch} renders"
                rows.append(
                    (
                        f"pool, {workers} workers, batch of {args.batch}",
                        args.batch / seconds,
                        batch_note,
                    )
                )

    print(machine())
    print(f"{'chart renders (' + str(cores) + ' CPUs)':<44}{'renders/s':>10}  note")
    for name, per_second, note in rows:
        print(f"{name:<44}{per_second:>10.1f}  {note}")


if __name__ == "__main__":
    main()
