"""Clean python-pptx programs and their injections: reproducible, one statement per line,
every injection applies to every style and changes only the lines it labels; rendered with
real LibreOffice, clean programs show no defect and injected ones show theirs at those lines."""

import ast
import difflib
import random

import pytest

from render_service import RenderConfig, RenderPool, RenderRequest
from render_service.injections import for_domain
from render_service.programs import clean_program, pptx

INJECTIONS = for_domain("slide_pptx", errors=False)


@pytest.mark.parametrize("style", pptx.STYLES, ids=lambda s: s.__name__)
def test_a_style_is_seeded_and_writes_one_statement_per_line(style):
    programs = [style(random.Random(seed)) for seed in range(6)]
    assert programs[0] == style(random.Random(0))
    assert len(set(programs)) == len(programs)
    for program in programs:
        tree = ast.parse(program)
        statements = [n for n in ast.walk(tree) if isinstance(n, ast.stmt)]
        assert all(n.lineno == n.end_lineno for n in statements)
        assert len({n.lineno for n in statements}) == len(statements)
        assert program.rstrip().endswith('prs.save("deck.pptx")')


def _injected(injection, style_index: int):
    """The first of a style's programs the injection applies to: (program, injected)."""
    count = len(pptx.STYLES)
    for k in range(30):
        program = clean_program("slide_pptx", 5, style_index + k * count)
        injected = injection.apply(program, random.Random(k))
        if injected is not None:
            return program, injected
    raise AssertionError(f"{injection.name} applies to no program of style {style_index}")


@pytest.mark.parametrize("injection", INJECTIONS, ids=lambda i: i.name)
def test_an_injection_applies_to_every_style_and_changes_only_its_lines(injection):
    for style_index in range(len(pptx.STYLES)):
        program, injected = _injected(injection, style_index)
        before, after = program.split("\n"), injected.code.split("\n")
        matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
        changed = {
            line + 1
            for tag, _, _, start, end in matcher.get_opcodes()
            if tag != "equal"
            for line in range(start, end)
        }
        assert changed == set(injected.lines), (injection.name, style_index)
        assert len(after) == len(before)


@pytest.mark.libreoffice
def test_clean_programs_render_clean_and_injections_show_their_defect():
    """One clean program per style and each injection on a different style, batched through
    one pool: no defect on the clean ones; on the injected ones a defect of the injection's
    kind that names one of its lines."""
    clean = [clean_program("slide_pptx", 7, i) for i in range(len(pptx.STYLES))]
    injected = [_injected(inj, n % len(pptx.STYLES))[1] for n, inj in enumerate(INJECTIONS)]
    requests = [RenderRequest(f"clean{i}", "slide_pptx", code) for i, code in enumerate(clean)]
    requests += [RenderRequest(i.name, "slide_pptx", i.code) for i in injected]
    with RenderPool(RenderConfig(workers=1), warm_domains=("slide_pptx",)) as pool:
        results = pool.render(requests)
    assert all(result.ok for result in results), [r.error for r in results if not r.ok]
    for result in results[: len(clean)]:
        assert result.defects == (), (result.id, result.defects)
    for case, result in zip(injected, results[len(clean) :], strict=True):
        assert any(
            d.kind == case.kind and set(d.source_lines) & set(case.lines) for d in result.defects
        ), (case.name, case.lines, result.defects)
