"""Precision, recall and line accuracy of the detectors on labeled cases.

A case file (tests/render_service/cases/<domain>/*.json) holds `domain`, `code`, `description`
and `expected`: defects as {"kind", "lines"}. Predicted and expected defects are paired by kind,
one to one; a pair counts towards line accuracy when the prediction names every expected line
and at least half of its lines are expected ones (naming everything is not tracing).

    PYTHONPATH=$PWD python tests/render_service/web/labeled_score.py [domain ...]
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import sys

from render_service.config import RenderConfig
from render_service.renderers import RendererSet
from render_service.types import RenderRequest

CASES = pathlib.Path(__file__).resolve().parents[1] / "cases"


@dataclasses.dataclass
class Score:
    predicted: int = 0
    expected: int = 0
    matched: int = 0
    lines_right: int = 0
    failures: list[str] = dataclasses.field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.matched / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        return self.matched / self.expected if self.expected else 1.0

    @property
    def line_accuracy(self) -> float:
        return self.lines_right / self.matched if self.matched else 1.0


def load_cases(domain: str) -> list[tuple[str, dict]]:
    return [(p.stem, json.loads(p.read_text())) for p in sorted((CASES / domain).glob("*.json"))]


def score_case(score: Score, name: str, case: dict, defects) -> None:
    predicted = [(d.kind, set(d.source_lines)) for d in defects]
    score.predicted += len(predicted)
    score.expected += len(case["expected"])
    unmatched = list(predicted)
    for want in case["expected"]:
        lines = set(want["lines"])
        same_kind = [p for p in unmatched if p[0] == want["kind"]]
        if not same_kind:
            score.failures.append(f"{name}: missed {want['kind']} at {sorted(lines)}")
            continue
        best = max(same_kind, key=lambda p: len(p[1] & lines))
        unmatched.remove(best)
        score.matched += 1
        if lines <= best[1] and 2 * len(best[1] & lines) >= len(best[1]):
            score.lines_right += 1
        else:
            score.failures.append(
                f"{name}: {want['kind']} lines {sorted(best[1])}, expected {sorted(lines)}"
            )
    score.failures += [f"{name}: unexpected {kind} at {sorted(lines)}" for kind, lines in unmatched]


def evaluate(domain: str, renderers: RendererSet) -> Score:
    score = Score()
    for name, case in load_cases(domain):
        result = renderers.render(RenderRequest(id=name, domain=case["domain"], code=case["code"]))
        if not result.ok:
            score.expected += len(case["expected"])
            score.failures.append(f"{name}: render failed: {result.error}")
            continue
        score_case(score, name, case, result.defects)
    return score


def main(domains: list[str]) -> None:
    renderers = RendererSet(RenderConfig())
    print(f"{'domain':<12} {'cases':>5} {'precision':>9} {'recall':>6} {'lines':>6}")
    try:
        for domain in domains:
            score = evaluate(domain, renderers)
            print(
                f"{domain:<12} {len(load_cases(domain)):>5} {score.precision:>9.3f} "
                f"{score.recall:>6.3f} {score.line_accuracy:>6.3f}"
            )
            for failure in score.failures:
                print("   ", failure)
    finally:
        renderers.close()


if __name__ == "__main__":
    main(sys.argv[1:] or ["web", "slide_html", "slide_pptx"])
