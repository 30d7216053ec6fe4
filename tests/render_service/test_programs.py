"""The clean programs injected cases start from: every style of every domain renders without
a defect (a defect already there would be scored against the injected one), and the same
seed and index always give the same program."""

import dataclasses

import pytest

from render_service import RenderPool, RenderRequest
from render_service.programs import DOMAINS, STYLES, clean_program
from render_service.renderers import BROWSER_DOMAINS

MARKS = {"slide_pptx": pytest.mark.libreoffice} | {d: pytest.mark.chromium for d in BROWSER_DOMAINS}


@pytest.mark.parametrize(
    "domain", [pytest.param(d, marks=MARKS[d]) if d in MARKS else d for d in DOMAINS]
)
def test_every_style_renders_clean(domain, short_config):
    count = 2 * len(STYLES[domain])  # each style twice, with different content
    programs = [clean_program(domain, 3, index) for index in range(count)]
    assert len(set(programs)) == count
    limits = dataclasses.replace(short_config.limits, cpu_seconds=10, wall_seconds=20)
    config = dataclasses.replace(short_config, limits=limits)
    with RenderPool(config, warm_domains={domain}) as pool:
        results = pool.render([RenderRequest(str(i), domain, p) for i, p in enumerate(programs)])
    for index, result in enumerate(results):
        style = STYLES[domain][index % len(STYLES[domain])].__name__
        assert result.ok, (style, result.error)
        assert result.defects == (), (style, [d.message for d in result.defects])


def test_programs_are_reproducible():
    for domain in DOMAINS:
        assert clean_program(domain, 0, 5) == clean_program(domain, 0, 5)
        assert clean_program(domain, 0, 5) != clean_program(domain, 1, 5)
