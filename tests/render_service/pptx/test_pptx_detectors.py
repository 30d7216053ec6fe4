"""Detectors on small decks rendered by real LibreOffice: colors as drawn (paragraph-level,
brightness, gradients, what lies under the drawn text), tables, charts, groups, placeholders,
pictures, and tracing to the statement that set the offending position, size, font size or
color rather than every statement touching the shape."""

import pytest

from render_service.types import RenderRequest

pytestmark = pytest.mark.libreoffice

HEAD = """from pptx import Presentation
from pptx.util import Inches, Pt
from pptx.dml.color import RGBColor
from pptx.enum.dml import MSO_THEME_COLOR
prs = Presentation()
slide = prs.slides.add_slide(prs.slide_layouts[6])
"""  # the first body line is line 7

# name -> (body after HEAD, {kind: the exact lines its defect must name}); {} is a clean slide
DECKS = {
    "paragraph_grey": (
        """box = slide.shapes.add_textbox(Inches(1), Inches(2), Inches(6), Inches(1))
box.text_frame.text = "Shipping costs fell in the north"
box.text_frame.paragraphs[0].font.size = Pt(20)
box.text_frame.paragraphs[0].font.color.rgb = RGBColor(0xD4, 0xD4, 0xD4)
""",
        {"low_contrast": {10}},
    ),
    "theme_color_brightened": (
        """box = slide.shapes.add_textbox(Inches(1), Inches(2), Inches(6), Inches(1))
box.text_frame.text = "Margins held steady this quarter"
run = box.text_frame.paragraphs[0].runs[0]
run.font.color.theme_color = MSO_THEME_COLOR.TEXT_1
run.font.color.brightness = 0.8
""",
        {"low_contrast": {11}},
    ),
    "pale_text_on_card": (
        """card = slide.shapes.add_shape(1, Inches(1), Inches(2), Inches(4), Inches(1.5))
card.fill.solid()
card.fill.fore_color.rgb = RGBColor(0xF4, 0xEE, 0xE0)
card.text = "Pale words"
run = card.text_frame.paragraphs[0].runs[0]
run.font.size = Pt(20)
run.font.color.rgb = RGBColor(0xFF, 0xFF, 0xFF)
""",
        {"low_contrast": {9, 13}},
    ),
    "moved_down": (
        """box = slide.shapes.add_textbox(Inches(1), Inches(2), Inches(5), Inches(1))
box.text_frame.word_wrap = True
box.text_frame.text = "Quarterly numbers are in"
box.text_frame.paragraphs[0].runs[0].font.size = Pt(24)
box.top = Inches(7.1)
""",
        {"off_canvas": {11}},
    ),
    "widened": (
        """box = slide.shapes.add_shape(1, Inches(6), Inches(2), Inches(3), Inches(1))
box.text = "Wide"
box.width = Inches(6)
""",
        {"off_canvas": {9}},
    ),
    "big_font": (
        """card = slide.shapes.add_shape(1, Inches(1), Inches(2), Inches(3), Inches(1))
card.text = "Revenue grew in every region"
run = card.text_frame.paragraphs[0].runs[0]
run.font.color.rgb = RGBColor(0xFF, 0xFF, 0xFF)
run.font.size = Pt(40)
""",
        {"text_overflow": {7, 11}},
    ),
    "table_off_slide": (
        """frame = slide.shapes.add_table(3, 3, Inches(6), Inches(2), Inches(6), Inches(1.5))
frame.table.cell(0, 0).text = "Region"
""",
        {"off_canvas": {7}},
    ),
    "label_over_table": (
        """frame = slide.shapes.add_table(3, 3, Inches(1), Inches(2), Inches(6), Inches(1.5))
frame.table.cell(1, 1).text = "North sales"
label = slide.shapes.add_textbox(Inches(4), Inches(2.2), Inches(5), Inches(0.6))
label.text_frame.word_wrap = True
label.text_frame.text = "A label laid over the table"
""",
        {"text_overlap": {7, 9}},
    ),
    "navy_title_on_navy_banner": (
        """banner = slide.shapes.add_shape(1, 0, 0, prs.slide_width, Inches(1.4))
banner.fill.solid()
banner.fill.fore_color.rgb = RGBColor(0x1F, 0x3B, 0x5C)
title = slide.shapes.add_textbox(Inches(0.5), Inches(0.3), Inches(9), Inches(1.6))
title.text_frame.text = "Navy words on navy"
title.text_frame.paragraphs[0].runs[0].font.size = Pt(28)
title.text_frame.paragraphs[0].runs[0].font.color.rgb = RGBColor(0x10, 0x20, 0x40)
""",
        {"low_contrast": {9, 13}},
    ),
    "dark_text_on_a_dark_slide_background": (
        """slide.background.fill.solid()
slide.background.fill.fore_color.rgb = RGBColor(0x1A, 0x1A, 0x1A)
box = slide.shapes.add_textbox(Inches(1), Inches(1), Inches(8), Inches(1))
box.text_frame.text = "Default dark text"
""",
        {"low_contrast": {8}},
    ),
    "white_title_in_box_taller_than_banner": (
        """banner = slide.shapes.add_shape(1, 0, 0, prs.slide_width, Inches(1.2))
banner.fill.solid()
banner.fill.fore_color.rgb = RGBColor(0x1F, 0x3B, 0x5C)
title = slide.shapes.add_textbox(Inches(0.5), Inches(0.3), Inches(9), Inches(1.5))
title.text_frame.text = "Quarterly review"
title.text_frame.paragraphs[0].runs[0].font.size = Pt(28)
title.text_frame.paragraphs[0].runs[0].font.color.rgb = RGBColor(0xFF, 0xFF, 0xFF)
""",
        {},
    ),
    "white_label_in_box_wider_than_card": (
        """card = slide.shapes.add_shape(1, Inches(3), Inches(2), Inches(4), Inches(2))
card.fill.solid()
card.fill.fore_color.rgb = RGBColor(0x2E, 0x2E, 0x48)
label = slide.shapes.add_textbox(Inches(2), Inches(2.5), Inches(6), Inches(1))
label.text_frame.text = "Centred label"
label.text_frame.paragraphs[0].font.color.rgb = RGBColor(0xFF, 0xFF, 0xFF)
""",
        {},
    ),
    "white_on_pale_gradient": (
        """card = slide.shapes.add_shape(1, Inches(1), Inches(2), Inches(5), Inches(2))
card.fill.gradient()
card.fill.gradient_stops[0].color.rgb = RGBColor(0xF8, 0xF4, 0xE8)
card.fill.gradient_stops[1].color.rgb = RGBColor(0xFF, 0xFF, 0xFF)
card.text = "White on a pale gradient"
card.text_frame.paragraphs[0].runs[0].font.color.rgb = RGBColor(0xFF, 0xFF, 0xFF)
""",
        {"low_contrast": {10, 12}},
    ),
    "white_on_dark_gradient_background": (
        """fill = slide.background.fill
fill.gradient()
fill.gradient_stops[0].color.rgb = RGBColor(0x10, 0x18, 0x30)
fill.gradient_stops[1].color.rgb = RGBColor(0x20, 0x30, 0x50)
note = slide.shapes.add_textbox(Inches(1), Inches(3), Inches(8), Inches(1))
note.text_frame.text = "White words on a dark gradient"
note.text_frame.paragraphs[0].runs[0].font.color.rgb = RGBColor(0xFF, 0xFF, 0xFF)
""",
        {},
    ),
    "grouped_box_past_the_edge": (
        """group = slide.shapes.add_group_shape()
box = group.shapes.add_textbox(Inches(8), Inches(3), Inches(4), Inches(1))
box.text_frame.text = "Grouped text past the edge"
""",
        {"off_canvas": {8}},
    ),
    "accent_darkened": (
        """card = slide.shapes.add_shape(1, Inches(1), Inches(2), Inches(5), Inches(1.5))
card.fill.solid()
card.fill.fore_color.theme_color = MSO_THEME_COLOR.ACCENT_1
card.fill.fore_color.brightness = -0.5
card.text = "White on a darkened accent"
""",
        {},
    ),
}
# Whole programs on other layouts: name -> (code, {kind: exact lines})
LAYOUT_DECKS = {
    # the body placeholder only inherits normAutofit: LibreOffice lets the text run out
    "crowded_body_placeholder": (
        """from pptx import Presentation
from pptx.util import Pt
prs = Presentation()
slide = prs.slides.add_slide(prs.slide_layouts[1])
slide.shapes.title.text = "Many points"
body = slide.placeholders[1].text_frame
body.text = "First point of many in this list"
for n in range(11):
    para = body.add_paragraph()
    para.text = "Another fairly long point number " + str(n)
    para.font.size = Pt(32)
prs.save("deck.pptx")
""",
        {"text_overflow": {4, 11}},
    ),
    "chart_past_the_edge": (
        """from pptx import Presentation
from pptx.util import Inches
from pptx.chart.data import CategoryChartData
from pptx.enum.chart import XL_CHART_TYPE
prs = Presentation()
slide = prs.slides.add_slide(prs.slide_layouts[6])
data = CategoryChartData()
data.categories = ["North", "South", "East"]
data.add_series("Sales", (12, 30, 21))
chart = slide.shapes.add_chart(XL_CHART_TYPE.COLUMN_CLUSTERED, 0, 0, Inches(6), Inches(4), data)
chart.left = Inches(6)
prs.save("deck.pptx")
""",
        {"off_canvas": {11}},
    ),
    # a picture's colors are not known: text on it is not judged
    "white_caption_on_a_photo": (
        """from pptx import Presentation
from pptx.util import Inches
from pptx.dml.color import RGBColor
from PIL import Image
Image.new("RGB", (400, 300), (20, 20, 40)).save("dark.png")
prs = Presentation()
slide = prs.slides.add_slide(prs.slide_layouts[6])
photo = slide.shapes.add_picture("dark.png", Inches(1), Inches(1), Inches(8), Inches(5))
label = slide.shapes.add_textbox(Inches(2), Inches(3), Inches(6), Inches(1))
label.text_frame.text = "White caption on a dark photo"
label.text_frame.paragraphs[0].runs[0].font.color.rgb = RGBColor(0xFF, 0xFF, 0xFF)
prs.save("deck.pptx")
""",
        {},
    ),
    # made in a helper: the call that passed the offending value is named too
    "helper_calls": (
        """from pptx import Presentation
from pptx.util import Inches
from pptx.dml.color import RGBColor
prs = Presentation()
slide = prs.slides.add_slide(prs.slide_layouts[6])


def add_note(left, top, text, color):
    note = slide.shapes.add_textbox(Inches(left), Inches(top), Inches(4), Inches(0.6))
    note.text_frame.text = text
    note.text_frame.paragraphs[0].runs[0].font.color.rgb = color


add_note(1, 1, "Dark words", RGBColor(0x22, 0x22, 0x22))
add_note(1, 3, "Pale words", RGBColor(0xDD, 0xDD, 0xDD))
add_note(8, 5, "Words past the edge", RGBColor(0x22, 0x22, 0x22))
prs.save("deck.pptx")
""",
        {"low_contrast": {11, 15}, "off_canvas": {16}},
    ),
    # vertical text: its lines run along the box's height
    "vertical_title_layout": (
        """from pptx import Presentation
prs = Presentation()
slide = prs.slides.add_slide(prs.slide_layouts[10])
for shape in slide.placeholders:
    shape.text_frame.text = "Placeholder " + str(shape.placeholder_format.idx)
prs.save("deck.pptx")
""",
        {},
    ),
}
PLACEHOLDERS = """from pptx import Presentation
from pptx.dml.color import RGBColor
prs = Presentation()
slide = prs.slides.add_slide(prs.slide_layouts[1])
slide.shapes.title.text = "Plan"
body = slide.placeholders[1].text_frame
body.text = "Hire two engineers"
body.paragraphs[0].font.color.rgb = RGBColor(0x30, 0x30, 0x30)
para = body.add_paragraph()
para.text = "Ship the beta"
para.level = 1
para.font.color.rgb = RGBColor(0x30, 0x30, 0x30)
prs.save("deck.pptx")
"""


@pytest.fixture(scope="module")
def rendered(pptx_renderer):
    codes = {name: HEAD + body + 'prs.save("deck.pptx")\n' for name, (body, _) in DECKS.items()}
    codes.update({name: code for name, (code, _) in LAYOUT_DECKS.items()})
    codes["placeholder_paragraph_colors"] = PLACEHOLDERS
    return {
        name: pptx_renderer.render(RenderRequest(id=name, domain="slide_pptx", code=code))
        for name, code in codes.items()
    }


EXPECTED = {name: expected for name, (_, expected) in {**DECKS, **LAYOUT_DECKS}.items()}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_defects_and_the_exact_lines_they_name(rendered, name):
    result = rendered[name]
    assert result.ok, result.error
    found = {}
    for defect in result.defects:
        found.setdefault(defect.kind, set()).update(defect.source_lines)
    assert found == EXPECTED[name]


def test_dark_paragraph_colors_at_two_levels_of_a_placeholder_are_clean(rendered):
    result = rendered["placeholder_paragraph_colors"]
    assert result.ok and result.defects == ()
