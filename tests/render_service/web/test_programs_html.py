"""The clean HTML programs (render_service.programs.html) and the HTML injections on them: the
styles are seeded and varied, render clean on real Chromium, and every injection applies to
every style and shows exactly its defect, at its line."""

import random

import pytest

from render_service.injections import for_domain
from render_service.programs import html
from render_service.types import RenderRequest

STYLES = {"web": html.WEB_STYLES, "slide_html": html.SLIDE_STYLES}
CASES = [(domain, style) for domain, styles in STYLES.items() for style in styles]
IDS = [f"{domain}:{style.__name__}" for domain, style in CASES]


def render(renderer, code, domain):
    return renderer.render(RenderRequest(id="t", domain=domain, code=code))


@pytest.fixture(scope="module")
def renderers(web_renderer, slide_renderer):
    return {"web": web_renderer, "slide_html": slide_renderer}


@pytest.mark.parametrize("domain,style", CASES, ids=IDS)
def test_styles_are_seeded_and_vary(domain, style):
    assert style(random.Random(3)) == style(random.Random(3))
    assert len({style(random.Random(seed)) for seed in range(5)}) == 5


@pytest.mark.parametrize("domain,style", CASES, ids=IDS)
def test_every_injection_applies_to_every_style(domain, style):
    """The labeled sets draw each injection's program from one style (their indices step by a
    multiple of the style count), so an injection that misses a style cannot make its case."""
    for injection in for_domain(domain, errors=False):
        assert injection.apply(style(random.Random(0)), random.Random(0)), injection.name


@pytest.mark.chromium
@pytest.mark.parametrize("domain,style", CASES, ids=IDS)
def test_clean_styles_render_without_defects(renderers, domain, style):
    for seed in range(3):
        result = render(renderers[domain], style(random.Random(seed)), domain)
        assert result.ok, result.error
        assert result.defects == (), (seed, result.defects)


@pytest.mark.chromium
@pytest.mark.parametrize("domain,style", CASES, ids=IDS)
def test_each_injection_shows_its_kind_at_its_line_and_nothing_else(renderers, domain, style):
    for injection in for_domain(domain, errors=False):
        injected = injection.apply(style(random.Random(1)), random.Random(1))
        result = render(renderers[domain], injected.code, domain)
        assert result.ok, result.error
        kinds = {d.kind for d in result.defects} - set(injected.also)
        assert kinds == {injected.kind}, (injection.name, result.defects)
        blamed = {ln for d in result.defects if d.kind == injected.kind for ln in d.source_lines}
        assert blamed & set(injected.lines), (injection.name, result.defects)
