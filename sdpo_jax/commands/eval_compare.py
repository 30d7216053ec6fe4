"""Two evaluation reports side by side (what `make eval-compare A=... B=...` runs):

    python -m sdpo_jax eval-compare runs/base/eval runs/chart_tiny/eval

A and B are report.json files or the folders holding them. Every benchmark metric either
report has is one row: A's value, B's value and B − A (n/a where a side lacks it or did not
compute it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def load_report(path: str | Path) -> dict:
    """The report at `path` (a report.json or its folder); exits with one line when unreadable."""
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    try:
        report = json.loads(path.read_text())
        if isinstance(report["benchmarks"], dict):
            return report
        problem = "its benchmarks are not a table"
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as err:
        problem = type(err).__name__
    sys.exit(
        f"error: {path} is not an evaluation report ({problem}); pass a report.json "
        "or the folder `python -m sdpo_jax evaluate` wrote"
    )


def rows(a: dict, b: dict) -> list[tuple[str, str, float | None, float | None]]:
    """(benchmark, metric, A, B) for every numeric metric of either side, defect rates too."""

    def flat(report: dict) -> dict[tuple[str, str], float | None]:
        values = {}
        for name, aggregate in report["benchmarks"].items():
            for key, value in aggregate.items():
                if key == "defect_rates":
                    values |= {(name, f"defects: {k}"): v for k, v in value.items()}
                elif value is None or isinstance(value, int | float):
                    values[(name, key)] = value
        return values

    left, right = flat(a), flat(b)
    keys = list(dict.fromkeys([*left, *right]))
    return [
        (name, metric, left.get((name, metric)), right.get((name, metric))) for name, metric in keys
    ]


def table(a: dict, b: dict) -> str:
    """The comparison as aligned text, headed by what each side scored."""
    header = [f"A: {a.get('model')} on {a.get('data')}", f"B: {b.get('model')} on {b.get('data')}"]
    body = [("benchmark", "metric", "A", "B", "B - A")]
    for name, metric, left, right in rows(a, b):
        delta = None if left is None or right is None else right - left
        body.append((name, metric, _shown(left), _shown(right), _shown(delta, signed=True)))
    widths = [max(len(row[i]) for row in body) for i in range(5)]
    lines = [
        "  ".join(
            cell.ljust(w) if i < 2 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths))
        )
        for row in body
    ]
    return "\n".join([*header, "", *lines])


def _shown(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return f"{value:+d}" if signed else str(value)
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sdpo_jax eval-compare", description=__doc__.splitlines()[0]
    )
    parser.add_argument("a", help="report.json (or its folder) of the first evaluation")
    parser.add_argument("b", help="report.json (or its folder) of the second evaluation")
    args = parser.parse_args(argv)
    print(table(load_report(args.a), load_report(args.b)))


if __name__ == "__main__":
    main()
