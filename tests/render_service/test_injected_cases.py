"""Labeled cases made by injection: reproducible from a seed, every kind represented, the
labeled lines are the ones the injection changed, and a seeded subset renders and is scored."""

import dataclasses
import difflib
from collections import Counter

import pytest

from render_service import injections
from render_service.labeled import Case, evaluate, injected_cases, score
from render_service.programs import DOMAINS, clean_program
from render_service.types import Defect, RenderResult


@pytest.mark.parametrize("domain", DOMAINS)
def test_cases_are_reproducible_and_cover_every_kind(domain):
    cases = injected_cases(domain, 60, seed=1)
    assert cases == injected_cases(domain, 60, seed=1)
    assert cases != injected_cases(domain, 60, seed=2)
    names = Counter(case.name.rsplit("-", 1)[-1] for case in cases)
    expected = {i.name for i in injections.for_domain(domain, errors=False)} | {"clean"}
    assert set(names) == expected, names
    assert 0.1 < names["clean"] / len(cases) < 0.4


@pytest.mark.parametrize("domain", DOMAINS)
def test_the_labeled_lines_are_the_changed_ones(domain):
    """Each injected case differs from one of the generated programs it may come from exactly
    at its labeled lines (inserted lines count as changed)."""
    for case in injected_cases(domain, 60, seed=1):
        index = int(case.name.split("-")[2])
        programs = [clean_program(domain, 1, index, attempt) for attempt in range(50)]
        if not case.defects:
            assert case.code == programs[0]
            continue
        ((kind, lines),) = case.defects
        assert kind in {i.kind for i in injections.for_domain(domain, errors=False)}
        assert any(_changed_lines(program, case.code) == set(lines) for program in programs), (
            case.name
        )


def _changed_lines(before: str, after: str) -> set[int]:
    """1-based lines of `after` that are not in `before` (replaced or inserted)."""
    matcher = difflib.SequenceMatcher(a=before.split("\n"), b=after.split("\n"), autojunk=False)
    return {
        line + 1
        for tag, _, _, start, end in matcher.get_opcodes()
        if tag != "equal"
        for line in range(start, end)
    }


# (precision, recall, traced) every domain must keep on CI's subset: issue 16's targets. First
# measured (300 per domain, before any detector change): chart 0.62 / 0.68 / 0.56, web 0.66 /
# 0.69 / 0.68; now 1.00 / 0.99 / 0.99 and better (docs/render_service.md).
TARGET = (0.95, 0.9, 0.9)


@pytest.mark.chromium
@pytest.mark.libreoffice
@pytest.mark.parametrize("domain", DOMAINS)
def test_a_seeded_subset_renders_and_meets_the_targets(short_config, domain):
    """CI's slice of the injected sets (the full sets: `python -m render_service.labeled
    --injected 300`): 24 cases per domain, every one renders, every score meets its target."""
    limits = dataclasses.replace(short_config.limits, cpu_seconds=10, wall_seconds=20)
    config = dataclasses.replace(short_config, limits=limits)
    scores, _ = evaluate(injected_cases(domain, 24, seed=0), config)
    assert scores.failed == [], scores.failed
    measured = (scores.precision(), scores.recall(), scores.traced_share())
    assert all(m >= t for m, t in zip(measured, TARGET)), measured


def test_kinds_an_injection_also_causes_count_neither_way():
    """An injection's side effect is not a false alarm in its case, and still one in a clean
    case."""
    case = Case("c", "chart", "", (("text_overlap", (3,)),), also=("clipped_text",))
    clean = Case("d", "chart", "", ())
    found = tuple(Defect(kind, 1.0, None, "", (3,)) for kind in ("text_overlap", "clipped_text"))
    results = [RenderResult("c", True, defects=found), RenderResult("d", True, defects=found[1:])]
    scores = score([case, clean], results)
    assert (scores.true_positive, scores.false_positive) == (
        {"text_overlap": 1},
        {"clipped_text": 1},
    )
    assert scores.traced_share() == 1.0
