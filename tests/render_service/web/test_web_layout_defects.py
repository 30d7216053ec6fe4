"""Overprinted lines, staggered card rows, and tracing overlap, overflow and clipping to the
declarations that cause them, on real Chromium."""

import pytest

from render_service.types import RenderRequest

pytestmark = pytest.mark.chromium


def render(renderer, html, domain="web"):
    result = renderer.render(RenderRequest(id="t", domain=domain, code=html))
    assert result.ok, result.error
    return result


def defects(result):
    return sorted((d.kind, d.source_lines) for d in result.defects)


TIGHT = """<html><head><style>
body { font-family: sans-serif; margin: 20px; }
p { width: 200px; font-size: 16px; margin: 0; }
.tight { line-height: %s; }
</style></head><body>
<p class="tight">These wrapped lines are set much too close together to be read.</p>
</body></html>"""


@pytest.mark.parametrize("line_height,found", [("0.5", True), ("0.7", True), ("1", False)])
def test_wrapped_lines_overprint_below_line_height_one(web_renderer, line_height, found):
    """Traced to the line-height declaration and the paragraph, not to its width."""
    result = render(web_renderer, TIGHT % line_height)
    assert defects(result) == ([("text_overlap", (4, 6))] if found else [])


@pytest.mark.parametrize(
    "font,line_height,found",
    [("Noto Sans", "1", False), ("Noto Sans", "0.6", True), ("Carlito", "0.75", True)],
)
def test_overprinting_does_not_depend_on_the_font_s_ascent_and_descent(
    web_renderer, font, line_height, found
):
    """Noto Sans's line rectangles are 1.36 font sizes tall, Carlito's about 1.05: at
    line-height 1 Noto's share a third of a line though nothing touches, at 0.75 Carlito's
    share little though descenders run into capitals."""
    html = TIGHT.replace("font-size: 16px;", f"font-size: 22px; font-family: '{font}';")
    assert defects(render(web_renderer, html % line_height)) == (
        [("text_overlap", (4, 6))] if found else []
    )


def test_overprinted_lines_trace_an_inherited_line_height(slide_renderer):
    html = """<html><head><style>
body { margin: 0; width: 1280px; height: 720px; font-family: sans-serif; }
.list { position: absolute; left: 80px; top: 100px; width: 220px; line-height: 0.4; }
li { font-size: 28px; }
</style></head><body>
<ul class="list"><li>First point of the slide</li><li>Second point of it</li></ul>
</body></html>"""
    result = render(slide_renderer, html, "slide_html")
    assert {d.kind for d in result.defects} == {"text_overlap"}
    assert all(3 in d.source_lines and 4 not in d.source_lines for d in result.defects)


ROW = """<html><head><style>
body { font-family: sans-serif; margin: 20px; }
.row { display: %s; gap: 16px; align-items: %s; }
.card { width: 200px; padding: 16px; background: #eef2ff; }
</style></head><body>
<div class="row">
<div class="card">Short</div>
<div class="card">A much longer card text that wraps over several lines in its narrow box.</div>
<div class="card">Some middle length text.</div>
</div>
</body></html>"""


@pytest.mark.parametrize(
    "display,align,found",
    [
        ("flex", "center", True),
        ("flex", "flex-end", True),
        ("inline-grid; grid-template-columns: repeat(3, 232px)", "center", True),
        ("flex", "flex-start", False),
        ("flex", "stretch", False),
    ],
)
def test_cards_of_different_heights_centered_in_a_row_are_staggered(
    web_renderer, display, align, found
):
    result = render(web_renderer, ROW % (display, align))
    assert defects(result) == ([("misalignment", (3, 6, 7, 8, 9))] if found else [])


def test_a_centered_row_of_unboxed_items_is_a_design_not_a_defect(web_renderer):
    """A header centering a tall brand name and a small link: nothing boxed, nothing staggered."""
    html = """<html><head><style>
header { display: flex; align-items: center; gap: 24px; font-family: sans-serif; }
.brand { font-size: 40px; }
</style></head><body>
<header><span class="brand">Brandly</span><a href="#">About</a><a href="#">Blog</a></header>
</body></html>"""
    assert render(web_renderer, html).defects == ()


def test_centered_chips_of_different_sizes_are_a_design_not_a_defect(web_renderer):
    html = """<html><head><style>
body { margin: 24px; font-family: sans-serif; }
.tags { display: flex; gap: 8px; align-items: center; }
.tag { background: #e0e7ff; padding: 2px 8px; font-size: 12px; }
.big { font-size: 16px; padding: 4px 10px; }
</style></head><body>
<div class="tags"><span class="tag">new</span><span class="tag big">popular</span></div>
</body></html>"""
    assert render(web_renderer, html).defects == ()


def test_an_overlap_is_traced_to_the_negative_margin_not_to_every_margin(web_renderer):
    html = """<html><head><style>
body { font-family: sans-serif; margin: 20px; }
h1 { font-size: 40px; margin: 0 0 -50px; }
p { font-size: 18px; margin: 16px 0; }
</style></head><body>
<h1>A heading</h1>
<p>The paragraph under it, pulled up.</p>
</body></html>"""
    assert defects(render(web_renderer, html)) == [("text_overlap", (3, 6, 7))]


def test_a_wide_box_is_traced_to_its_width(web_renderer):
    html = """<html><head><style>
body { font-family: sans-serif; margin: 20px; }
.intro { margin-left: 10px; font-size: 20px; }
.wide { width: 1700px; }
</style></head><body>
<div class="intro wide">A box wider than the page.</div>
</body></html>"""
    assert defects(render(web_renderer, html)) == [("overflow", (4, 6))]


def test_a_fixed_height_cut_is_traced_to_the_box_and_a_cut_button_is_one_defect(web_renderer):
    """The box's height and overflow cut the text; the texts' font sizes and the button's
    placement are not to blame, and the cut button is clipped text, not an overflow too."""
    html = """<html><head><style>
body { font-family: sans-serif; margin: 20px; }
.hero { height: 30px; overflow: hidden; }
h1 { font-size: 24px; margin: 0 0 12px; }
p { font-size: 18px; }
button { padding: 12px 28px; background: #1f77b4; color: #ffffff; border: none; }
</style></head><body>
<section class="hero"><h1>Heading</h1><p>Text under the heading.</p><button>Go</button></section>
</body></html>"""
    (defect,) = render(web_renderer, html).defects
    assert defect.kind == "clipped_text"
    assert set(defect.source_lines) & {3, 4, 5, 6} == {3}


def test_a_word_over_a_heading_is_found_where_another_line_only_touches_it(web_renderer):
    """The paragraph's first line grazes the heading's top for its whole length; its short
    second line sits on the heading's first word. The overlap judged is the second one."""
    html = """<html><head><style>
body { font-family: sans-serif; margin: 0; }
.box { position: relative; width: 800px; margin: 40px; }
h1 { font-size: 40px; margin: 0; line-height: 46px; }
p { position: absolute; top: -14px; width: 600px; margin: 0; font-size: 16px; line-height: 18px; }
</style></head><body>
<div class="box"><h1>A heading</h1><p>A first line that runs along the whole width of the box, on and on, word after word, until it reaches the far end. Yes</p></div>
</body></html>"""
    assert defects(render(web_renderer, html)) == [("text_overlap", (5, 7))]


def test_a_box_in_another_column_under_a_wide_title_is_not_misaligned(slide_renderer):
    """A title spanning both columns links them into one column of lefts; the box of the
    second column is far off that line by design, not a near miss."""
    html = """<html><head><style>
body { margin: 0; width: 1280px; height: 720px; position: relative; font-family: sans-serif; }
h1 { position: absolute; left: 80px; top: 60px; margin: 0; font-size: 46px; }
ul { position: absolute; left: 80px; top: 190px; width: 620px; margin: 0; font-size: 26px; }
.stat { position: absolute; left: 800px; top: 190px; width: 320px; padding: 32px; background: #1e6b3a; color: #ffffff; }
</style></head><body>
<h1>Where ocean temperatures matter most of all</h1>
<ul><li>One point</li><li>Another point</li></ul>
<div class="stat">49% of teams</div>
</body></html>"""
    assert render(slide_renderer, html, "slide_html").defects == ()


GENERATED = """<html><head><style>
body { font: 20px sans-serif; margin: 20px; }
h2 { position: relative; margin: 0; }
.n::after {
  content: 'Overlapping words';
  position: absolute; left: 0; top: 4px;
}
.c { width: 150px; overflow: hidden; white-space: nowrap; }
.c::before {
  content: 'Quarterly results for every region';
}
.f::after { content: 'Faint words'; color: #f4f4f4; }
.m::marker { content: 'Note: '; }
</style></head><body>
<h2 class="n">Quarterly results</h2>
<p class="c"></p>
<p class="f"></p>
<ul><li class="m">an item with a marker of its own</li><li>a plain bullet</li></ul>
</body></html>"""


def test_text_made_by_css_content_is_measured_and_traced_to_its_rule(web_renderer):
    """::before/::after text is no DOM text node; it overlaps, is cut and is faint all the
    same, and each defect names the `content` declaration that made it (with the host's tag
    and the declarations that decide the defect). A ::marker with author content is text too,
    and a browser's own bullet is not measured."""
    result = render(web_renderer, GENERATED)
    assert defects(result) == [
        ("clipped_text", (2, 8, 10, 16)),  # the box, white-space and font size, content, <p>
        ("low_contrast", (12, 17)),  # color and content of .f::after, <p>
        ("text_overlap", (5, 6, 15)),  # content, the offsets of ::after, <h2>
    ]
    generated = sorted(e.role for e in result.elements if "::" in e.role)
    assert generated == ["h2::after", "li::marker", "p::after", "p::before"]


REPAINTED = """<html><head><style>
body { font: 20px sans-serif; margin: 20px; }
.filtered { color: #222;
  filter: brightness(7); }
.box { position: relative; }
.veil { position: absolute; inset: 0;
  background: rgba(255, 255, 255, 0.94); }
</style></head><body>
<p class="filtered">Quarterly results</p>
<div class="box"><p>Regional results</p><div class="veil"></div></div>
</body></html>"""


def test_text_painted_fainter_than_its_css_is_judged_by_its_pixels(web_renderer):
    """A filter and a veil painted over dark text: the screenshot shows near-white text. Each
    defect names what repainted it (the filter, the veil's background) besides the text."""
    assert defects(render(web_renderer, REPAINTED)) == [
        ("low_contrast", (3, 4, 9)),  # color, filter, <p>
        ("low_contrast", (7, 10)),  # the veil's background, <p> and the veil's <div>
    ]


@pytest.mark.parametrize("size", [7, 9, 11, 14])
def test_antialiased_thin_text_is_not_low_contrast(web_renderer, size):
    """#767676 on white is 4.54:1. Thin small glyphs never cover a whole pixel, so the
    screenshot shows them fainter (at 11px ExtraLight, about 3:1): that is antialiasing, not
    another colour, and CSS decides."""
    html = (
        f"<p style=\"font: 200 {size}px 'DejaVu Sans'; color: #767676\">"
        "Quarterly results, illustrated</p>"
    )
    assert render(web_renderer, html).defects == ()
