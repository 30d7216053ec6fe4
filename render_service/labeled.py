"""Detector quality on labeled cases: precision and recall per defect kind, and tracing.

    python -m render_service.labeled [CASE_DIR ...] [--workers N]
    python -m render_service.labeled --injected 300 [--seed 0] [--domains chart web slide_html]

A case is a JSON file `{"domain", "name", "code", "defects": [{"kind", "lines"}]}`; a clean
case has no defects. `--injected N` scores N cases per domain made by `injected_cases` instead:
clean programs in varied styles (`render_service.programs`), each with one known defect
injected at a known statement (`render_service.injections`, the module the warm start uses),
or left clean. They are not written with the detectors in view, so they test them the way the
hand-written sets cannot; kinds an injection may visibly cause besides its own (`also`) are
counted neither as found nor as false alarms. Any domain with a registered renderer works, so
other domains add their own case folders. Counting is per (case, kind): a kind is detected in a
case if any defect of that kind is reported. A labeled defect is traced when some reported
defect of its kind names one of its responsible lines.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import os
import random
import sys
from collections import Counter

from render_service.config import RenderConfig
from render_service.pool import RenderPool
from render_service.types import DEFECT_KINDS, RenderRequest, RenderResult

DEFAULT_DIRS = ("tests/render_service/cases/chart",)


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    domain: str
    code: str
    defects: tuple[tuple[str, tuple[int, ...]], ...]
    also: tuple[str, ...] = ()  # kinds the defect may visibly cause too: not counted either way

    @property
    def kinds(self) -> set[str]:
        return {kind for kind, _ in self.defects}


@dataclasses.dataclass
class Scores:
    true_positive: Counter = dataclasses.field(default_factory=Counter)
    false_positive: Counter = dataclasses.field(default_factory=Counter)
    false_negative: Counter = dataclasses.field(default_factory=Counter)
    labeled: Counter = dataclasses.field(default_factory=Counter)  # labeled defects, by kind
    traced: Counter = dataclasses.field(default_factory=Counter)  # of those, traced
    failed: list[str] = dataclasses.field(default_factory=list)

    def precision(self, kind: str | None = None) -> float:
        tp, fp = self._count(self.true_positive, kind), self._count(self.false_positive, kind)
        return tp / (tp + fp) if tp + fp else 1.0

    def recall(self, kind: str | None = None) -> float:
        tp, fn = self._count(self.true_positive, kind), self._count(self.false_negative, kind)
        return tp / (tp + fn) if tp + fn else 1.0

    def traced_share(self, kind: str | None = None) -> float:
        labeled = self._count(self.labeled, kind)
        return self._count(self.traced, kind) / labeled if labeled else 1.0

    @staticmethod
    def _count(counter: Counter, kind: str | None) -> int:
        return sum(counter.values()) if kind is None else counter[kind]


def load_cases(directories) -> list[Case]:
    cases = []
    for directory in directories:
        paths = sorted(glob.glob(os.path.join(directory, "*.json")))
        if not paths:
            raise FileNotFoundError(f"no *.json cases in {directory!r}: pass a case folder")
        for path in paths:
            with open(path) as file:
                raw = json.load(file)
            defects = tuple((d["kind"], tuple(d["lines"])) for d in raw["defects"])
            unknown = {kind for kind, _ in defects} - set(DEFECT_KINDS)
            if unknown:
                raise ValueError(f"{path}: unknown defect kinds {sorted(unknown)}")
            cases.append(Case(raw.get("name", path), raw["domain"], raw["code"], defects))
    return cases


CLEAN_SHARE = 0.25  # of injected cases left as generated: the detectors' false positives
_ATTEMPTS = 50  # programs tried per case for one that an injection applies to


def injected_cases(domain: str, count: int, seed: int = 0) -> list[Case]:
    """`count` cases of `domain`, the same for the same seed: a quarter are clean programs
    (`render_service.programs`) as written, the rest take the domain's injections in turn,
    each applied to the first program (attempts 0, 1, ... of program i: the next style each
    time) that has the statement it changes, so every kind gets its share."""
    from render_service import injections, programs

    rng = random.Random(f"injected:{domain}:{seed}")
    kinds = injections.for_domain(domain, errors=False)
    cases = []
    for index in range(count):
        if rng.random() < CLEAN_SHARE:
            code = programs.clean_program(domain, seed, index)
            cases.append(Case(f"{domain}-{seed}-{index}-clean", domain, code, ()))
            continue
        injection = kinds[index % len(kinds)]
        for attempt in range(_ATTEMPTS):
            program = programs.clean_program(domain, seed, index, attempt)
            injected = injection.apply(program, rng)
            if injected is not None:
                name = f"{domain}-{seed}-{index}-{injection.name}"
                defects = ((injected.kind, injected.lines),)
                cases.append(Case(name, domain, injected.code, defects, injected.also))
                break
        else:
            raise ValueError(f"injection {injection.name} applies to no {domain} program")
    return cases


def score(cases: list[Case], results: list[RenderResult]) -> Scores:
    scores = Scores()
    for case, result in zip(cases, results):
        if not result.ok:
            scores.failed.append(f"{case.name}: {result.error.splitlines()[0]}")
        elif "inspect_error" in result.metrics:  # rendered, but the detectors did not run
            scores.failed.append(f"{case.name}: {result.metrics['inspect_error']}")
        found = {defect.kind for defect in result.defects} - (set(case.also) - case.kinds)
        for kind in found & case.kinds:
            scores.true_positive[kind] += 1
        for kind in found - case.kinds:
            scores.false_positive[kind] += 1
        for kind in case.kinds - found:
            scores.false_negative[kind] += 1
        for kind, lines in case.defects:
            scores.labeled[kind] += 1
            blamed = {line for d in result.defects if d.kind == kind for line in d.source_lines}
            scores.traced[kind] += bool(blamed & set(lines))
    return scores


def evaluate(cases: list[Case], config: RenderConfig | None = None) -> tuple[Scores, list]:
    requests = [RenderRequest(case.name, case.domain, case.code) for case in cases]
    with RenderPool(config or RenderConfig(), warm_domains={c.domain for c in cases}) as pool:
        results = pool.render(requests)
    return score(cases, results), results


def table(scores: Scores) -> str:
    kinds = sorted(
        set(scores.true_positive) | set(scores.false_positive) | set(scores.false_negative)
    )
    rows = [f"{'kind':<18}{'TP':>4}{'FP':>4}{'FN':>4}{'precision':>11}{'recall':>8}{'traced':>8}"]
    for kind in [*kinds, None]:
        tp, fp, fn = (
            scores._count(c, kind)
            for c in (scores.true_positive, scores.false_positive, scores.false_negative)
        )
        rows.append(
            f"{kind or 'all':<18}{tp:>4}{fp:>4}{fn:>4}"
            f"{scores.precision(kind):>11.2f}{scores.recall(kind):>8.2f}"
            f"{scores.traced_share(kind):>8.2f}"
        )
    rows.append(
        f"traced to a responsible line: {scores._count(scores.traced, None)}/"
        f"{scores._count(scores.labeled, None)} = {scores.traced_share():.2f}"
    )
    rows.extend(f"render failed: {line}" for line in scores.failed)
    return "\n".join(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="*", default=list(DEFAULT_DIRS))
    parser.add_argument("--workers", type=int, default=0, help="0: one per CPU")
    parser.add_argument("-v", "--verbose", action="store_true", help="list each case's defects")
    parser.add_argument("--injected", type=int, default=0, help="N injected cases per domain")
    parser.add_argument("--seed", type=int, default=0, help="of the injected cases")
    parser.add_argument("--domains", nargs="+", default=None, help="default: every domain")
    args = parser.parse_args(argv)
    if args.injected and args.domains is None:
        from render_service.programs import DOMAINS

        args.domains = list(DOMAINS)
    if args.injected:
        sets = {d: injected_cases(d, args.injected, args.seed) for d in args.domains}
    else:
        sets = {", ".join(args.dirs): load_cases(args.dirs)}
    for title, cases in sets.items():
        scores, results = evaluate(cases, RenderConfig(workers=args.workers))
        if args.verbose:
            for case, result in zip(cases, results):
                expected = ", ".join(f"{k}@{list(ls)}" for k, ls in case.defects) or "clean"
                print(f"{case.name}: expected {expected}")
                for defect in result.defects:
                    print(f"    {defect.kind}@{list(defect.source_lines)}: {defect.message}")
        print(f"{title}: {len(cases)} cases")
        print(table(scores))
    return 0


if __name__ == "__main__":
    sys.exit(main())
