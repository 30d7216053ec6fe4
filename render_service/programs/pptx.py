"""Clean python-pptx programs: placeholder slides, text-box columns, filled cards, tables.

Every program writes one statement per line with literal `Inches(...)`, `Pt(...)` and
`RGBColor(...)` arguments, so the injections (`render_service.injections`) can find the
statement that sets a shape's position, size, font size or color. Boxes that do not grow with
their text are sized from a generous estimate of the text's wrapped height; text colors keep
a contrast of at least 7:1 with what lies under them.
"""

from __future__ import annotations

import random

TOPICS = (
    "Quarterly review", "Hiring plan", "Cloud migration", "Customer research", "Pricing update",
    "Launch checklist", "Support backlog", "Energy savings", "Regional sales", "Product roadmap",
    "Security audit", "Team offsite", "Supplier review", "Budget outlook", "Design system",
)  # fmt: skip
NOUNS = (
    "revenue", "churn", "latency", "onboarding", "support tickets", "margins", "retention",
    "shipping times", "conversion", "server costs", "survey scores", "lead time", "inventory",
)  # fmt: skip
VERBS = ("rose", "fell", "held steady", "improved", "doubled", "slowed", "recovered")
WHEN = ("in March", "this quarter", "since launch", "year on year", "in the north", "last month")
HEADS = ("Goal", "Status", "Risk", "Next step", "Owner", "Budget", "Result", "Plan")
REGIONS = ("North", "South", "East", "West", "Central", "Online", "Retail", "Partners")

DARK_TEXT = ((0x1F, 0x2A, 0x44), (0x33, 0x33, 0x33), (0x12, 0x3A, 0x5C), (0x2B, 0x2B, 0x40),
             (0x14, 0x3D, 0x2E), (0x44, 0x22, 0x11), (0x00, 0x00, 0x00))  # fmt: skip
LIGHT_TEXT = ((0xFF, 0xFF, 0xFF), (0xF5, 0xF5, 0xF0), (0xFA, 0xF3, 0xE0))
DARK_FILLS = ((0x1F, 0x3B, 0x5C), (0x2E, 0x2E, 0x48), (0x0F, 0x4C, 0x3A), (0x5A, 0x1E, 0x2E),
              (0x22, 0x22, 0x22), (0x3A, 0x2A, 0x5E))  # fmt: skip
LIGHT_FILLS = ((0xE8, 0xF0, 0xFA), (0xF4, 0xEE, 0xE0), (0xE6, 0xF4, 0xEA), (0xF2, 0xF2, 0xF2),
               (0xFF, 0xF4, 0xD6))  # fmt: skip

SLIDE_4_3 = (10.0, 7.5)
SLIDE_16_9 = (13.333, 7.5)


def _rgb(color: tuple[int, int, int]) -> str:
    return "RGBColor(" + ", ".join(f"0x{c:02X}" for c in color) + ")"


def _inches(value: float) -> str:
    return f"Inches({round(value, 2):g})"


def _sentence(rng: random.Random) -> str:
    return f"{rng.choice(NOUNS).capitalize()} {rng.choice(VERBS)} {rng.choice(WHEN)}"


def _text_height(text: str, size: float, width_in: float) -> float:
    """Inches a wrapped paragraph needs at `size` points in a box `width_in` wide: a
    deliberately generous estimate (wide average glyphs, 1.3 line spacing)."""
    per_line = max(1, int((width_in - 0.25) * 72 / (size * 0.56)))
    lines, line = 1, 0
    for word in text.split():
        extra = len(word) + (1 if line else 0)
        if line and line + extra > per_line:
            lines, line = lines + 1, len(word)
        else:
            line += extra
    return lines * size * 1.3 / 72


def _header(*imports: str, wide: bool = False) -> list[str]:
    lines = ["from pptx import Presentation", "from pptx.util import Inches, Pt"]
    lines += ["from pptx.dml.color import RGBColor", *imports, "prs = Presentation()"]
    if wide:
        lines += [f"prs.slide_width = {_inches(SLIDE_16_9[0])}", "prs.slide_height = Inches(7.5)"]
    return lines


def placeholder_bullets(rng: random.Random) -> str:
    """Title and Content layout: bulleted body paragraphs (sizes and colors set per paragraph
    or per run) in a narrowed body placeholder beside a filled callout, a source line below
    (all four sides are set: a placeholder given only a width gets a zero height);
    or the Title Slide layout with a subtitle, a badge shape and a footer text box."""
    lines = _header("from pptx.enum.shapes import MSO_SHAPE")
    dark = rng.choice(DARK_TEXT)
    fill = rng.choice(DARK_FILLS + LIGHT_FILLS)
    ink = rng.choice(LIGHT_TEXT if fill in DARK_FILLS else DARK_TEXT)
    if rng.random() < 0.3:
        badge_w = rng.choice((2.4, 2.6, 2.8))
        lines += [
            "slide = prs.slides.add_slide(prs.slide_layouts[0])",
            f"slide.shapes.title.text = {rng.choice(TOPICS)!r}",
            "subtitle = slide.placeholders[1]",
            f"subtitle.text = {_sentence(rng)!r}",
            "sub_run = subtitle.text_frame.paragraphs[0].runs[0]",
            f"sub_run.font.size = Pt({rng.choice((20, 24))})",
            f"sub_run.font.color.rgb = {_rgb(rng.choice(DARK_TEXT))}",
            f"badge = slide.shapes.add_shape(MSO_SHAPE.ROUNDED_RECTANGLE, {_inches(0.5)}, "
            f"{_inches(0.5)}, {_inches(badge_w)}, {_inches(0.7)})",
            "badge.fill.solid()",
            f"badge.fill.fore_color.rgb = {_rgb(fill)}",
            f"badge.text = {rng.choice(('Team update', 'Draft', 'Internal', 'For review'))!r}",
            "badge_run = badge.text_frame.paragraphs[0].runs[0]",
            f"badge_run.font.size = Pt({rng.choice((14, 16, 18))})",
            f"badge_run.font.color.rgb = {_rgb(ink)}",
            f"footer = slide.shapes.add_textbox({_inches(0.5)}, {_inches(6.6)}, "
            f"{_inches(rng.choice((3.5, 4.0, 4.5)))}, {_inches(0.5)})",
            "footer.text_frame.word_wrap = True",
            f"footer.text_frame.text = {rng.choice(REGIONS) + ' office, ' + rng.choice(WHEN)!r}",
            "footer_run = footer.text_frame.paragraphs[0].runs[0]",
            "footer_run.font.size = Pt(12)",
            f"footer_run.font.color.rgb = {_rgb(dark)}",
            'prs.save("deck.pptx")',
        ]
        return "\n".join(lines) + "\n"
    body_w = rng.choice((5.2, 5.6))
    lines += [
        "slide = prs.slides.add_slide(prs.slide_layouts[1])",
        "title = slide.shapes.title",
        f"title.text = {rng.choice(TOPICS)!r}",
    ]
    if rng.random() < 0.5:
        lines += [
            "title_run = title.text_frame.paragraphs[0].runs[0]",
            f"title_run.font.color.rgb = {_rgb(dark)}",
        ]
    lines += [
        "body_shape = slide.placeholders[1]",
        "body_shape.left = Inches(0.5)",
        "body_shape.top = Inches(1.75)",
        f"body_shape.width = {_inches(body_w)}",
        "body_shape.height = Inches(4.95)",
        "body = body_shape.text_frame",
    ]
    size = rng.choice((18, 20, 24))
    per_paragraph = rng.random() < 0.5
    for index in range(rng.randint(3, 4)):
        if index == 0:
            lines += [f"body.text = {_sentence(rng)!r}", "para = body.paragraphs[0]"]
        else:
            lines += ["para = body.add_paragraph()", f"para.text = {_sentence(rng)!r}"]
            if rng.random() < 0.25:
                lines += ["para.level = 1"]
        target = "para" if per_paragraph else "para.runs[0]"
        lines += [f"{target}.font.size = Pt({size})", f"{target}.font.color.rgb = {_rgb(dark)}"]
    left = 0.5 + body_w + 0.4
    callout_w = 9.5 - left
    text = f"{rng.randint(12, 96)}% {rng.choice(NOUNS)} {rng.choice(WHEN)}"
    callout_size = rng.choice((18, 20, 24))
    height = _text_height(text, callout_size, callout_w - 0.2) * 1.5 + 0.6
    lines += [
        f"callout = slide.shapes.add_shape(MSO_SHAPE.ROUNDED_RECTANGLE, {_inches(left)}, "
        f"{_inches(rng.choice((1.9, 2.2, 2.5)))}, {_inches(callout_w)}, {_inches(height)})",
        "callout.fill.solid()",
        f"callout.fill.fore_color.rgb = {_rgb(fill)}",
        "callout.text_frame.word_wrap = True",
        f"callout.text = {text!r}",
        "callout_run = callout.text_frame.paragraphs[0].runs[0]",
        f"callout_run.font.size = Pt({callout_size})",
        "callout_run.font.bold = True",
        f"callout_run.font.color.rgb = {_rgb(ink)}",
        f"source = slide.shapes.add_textbox({_inches(left)}, {_inches(6.0)}, "
        f"{_inches(callout_w)}, {_inches(0.5)})",
        "source.text_frame.word_wrap = True",
        f"source.text_frame.text = {'Source: ' + rng.choice(TOPICS).lower()!r}",
        "source_run = source.text_frame.paragraphs[0].runs[0]",
        "source_run.font.size = Pt(12)",
        f"source_run.font.color.rgb = {_rgb(rng.choice(DARK_TEXT))}",
        'prs.save("deck.pptx")',
    ]
    return "\n".join(lines) + "\n"


def text_columns(rng: random.Random) -> str:
    """Blank layout: a heading text box over two or three columns of text boxes, each with a
    bold lead-in run and body text; the columns either grow with their text or are fixed."""
    wide = rng.random() < 0.5
    width, _ = SLIDE_16_9 if wide else SLIDE_4_3
    fixed = rng.random() < 0.6
    imports = ("from pptx.enum.text import MSO_AUTO_SIZE",) if fixed else ()
    lines = _header(*imports, wide=wide)
    lines += ["slide = prs.slides.add_slide(prs.slide_layouts[6])"]
    margin = rng.choice((0.5, 0.6, 0.8))
    head_size = rng.choice((32, 36, 40))
    lines += [
        f"heading = slide.shapes.add_textbox({_inches(margin)}, {_inches(0.4)}, "
        f"{_inches(width - 2 * margin)}, {_inches(1.0)})",
        "heading_run = heading.text_frame.paragraphs[0].add_run()",
        f"heading_run.text = {rng.choice(TOPICS)!r}",
        f"heading_run.font.size = Pt({head_size})",
        "heading_run.font.bold = True",
        f"heading_run.font.color.rgb = {_rgb(rng.choice(DARK_TEXT))}",
    ]
    count = rng.choice((2, 3)) if wide else 2
    gap = rng.choice((0.4, 0.5, 0.6))
    col_w = (width - 2 * margin - gap * (count - 1)) / count
    top = rng.choice((1.8, 2.0, 2.2))
    size = rng.choice((16, 18, 20))
    color = rng.choice(DARK_TEXT)
    for n in range(1, count + 1):
        lead = f"{rng.choice(HEADS)}: "
        body = f"{_sentence(rng)} and {_sentence(rng).lower()}"
        height = _text_height(lead + body, size, col_w) * 1.5 + 0.4
        left = margin + (n - 1) * (col_w + gap)
        lines += [
            f"col{n} = slide.shapes.add_textbox({_inches(left)}, {_inches(top)}, "
            f"{_inches(col_w)}, {_inches(height)})",
            f"frame{n} = col{n}.text_frame",
            f"frame{n}.word_wrap = True",
        ]
        if fixed:
            lines += [f"frame{n}.auto_size = MSO_AUTO_SIZE.NONE"]
        lines += [
            f"para{n} = frame{n}.paragraphs[0]",
            f"lead{n} = para{n}.add_run()",
            f"lead{n}.text = {lead!r}",
            f"lead{n}.font.bold = True",
            f"lead{n}.font.size = Pt({size})",
            f"lead{n}.font.color.rgb = {_rgb(color)}",
            f"text{n} = para{n}.add_run()",
            f"text{n}.text = {body!r}",
            f"text{n}.font.size = Pt({size})",
            f"text{n}.font.color.rgb = {_rgb(color)}",
        ]
    lines += ['prs.save("deck.pptx")']
    return "\n".join(lines) + "\n"


def filled_cards(rng: random.Random) -> str:
    """A dark banner with a title text box laid over it, then a row of filled autoshapes
    with centred text (light text on dark fills, dark text on light ones)."""
    wide = rng.random() < 0.5
    width, _ = SLIDE_16_9 if wide else SLIDE_4_3
    lines = _header("from pptx.enum.shapes import MSO_SHAPE", wide=wide)
    lines += ["slide = prs.slides.add_slide(prs.slide_layouts[6])"]
    banner_h = rng.choice((1.2, 1.4, 1.6))
    lines += [
        f"banner = slide.shapes.add_shape(MSO_SHAPE.RECTANGLE, 0, 0, prs.slide_width, "
        f"{_inches(banner_h)})",
        "banner.fill.solid()",
        f"banner.fill.fore_color.rgb = {_rgb(rng.choice(DARK_FILLS))}",
        "banner.line.fill.background()",
        f"title = slide.shapes.add_textbox({_inches(0.5)}, {_inches(0.25)}, "
        f"{_inches(width - 1)}, {_inches(banner_h - 0.5)})",
        "title_run = title.text_frame.paragraphs[0].add_run()",
        f"title_run.text = {rng.choice(TOPICS)!r}",
        f"title_run.font.size = Pt({rng.choice((28, 32))})",
        f"title_run.font.color.rgb = {_rgb(rng.choice(LIGHT_TEXT))}",
    ]
    count = rng.choice((2, 3, 4)) if wide else rng.choice((2, 3))
    margin, gap = 0.6, rng.choice((0.3, 0.4, 0.5))
    card_w = (width - 2 * margin - gap * (count - 1)) / count
    top = banner_h + rng.choice((0.6, 0.8, 1.0))
    size = rng.choice((16, 18, 20))
    shape = rng.choice(("RECTANGLE", "ROUNDED_RECTANGLE"))
    texts = [f"{rng.choice(HEADS)}: {_sentence(rng).lower()}" for _ in range(count)]
    card_h = max(_text_height(t, size, card_w - 0.2) for t in texts) * 1.5 + 0.6
    dark_cards = rng.random() < 0.5
    for n, text in enumerate(texts, start=1):
        fill = rng.choice(DARK_FILLS if dark_cards else LIGHT_FILLS)
        ink = rng.choice(LIGHT_TEXT if dark_cards else DARK_TEXT)
        left = margin + (n - 1) * (card_w + gap)
        lines += [
            f"card{n} = slide.shapes.add_shape(MSO_SHAPE.{shape}, {_inches(left)}, "
            f"{_inches(top)}, {_inches(card_w)}, {_inches(card_h)})",
            f"card{n}.fill.solid()",
            f"card{n}.fill.fore_color.rgb = {_rgb(fill)}",
            f"card{n}.text_frame.word_wrap = True",
            f"card{n}.text = {text!r}",
            f"run{n} = card{n}.text_frame.paragraphs[0].runs[0]",
            f"run{n}.font.size = Pt({size})",
            f"run{n}.font.color.rgb = {_rgb(ink)}",
        ]
    note_top = top + card_h + 0.5
    if note_top < 6.5 and rng.random() < 0.6:
        lines += [
            f"note = slide.shapes.add_textbox({_inches(margin)}, {_inches(note_top)}, "
            f"{_inches(width - 2 * margin)}, {_inches(0.5)})",
            "note.text_frame.word_wrap = True",
            f"note.text_frame.text = {'Source: ' + rng.choice(TOPICS).lower()!r}",
            "note_run = note.text_frame.paragraphs[0].runs[0]",
            f"note_run.font.size = Pt({rng.choice((12, 14))})",
            f"note_run.font.color.rgb = {_rgb(rng.choice(DARK_TEXT))}",
        ]
    lines += ['prs.save("deck.pptx")']
    return "\n".join(lines) + "\n"


def table_slide(rng: random.Random) -> str:
    """Title Only layout: a table of regions by quarter under the title placeholder, a fixed
    caption text box and a note under the table."""
    lines = _header("from pptx.enum.text import MSO_AUTO_SIZE")
    rows, cols = rng.randint(3, 5), rng.randint(3, 4)
    left, top = rng.choice((0.5, 0.75, 1.0)), rng.choice((1.8, 2.0))
    table_w = 10 - 2 * left
    row_h = rng.choice((0.4, 0.45, 0.5))
    lines += [
        "slide = prs.slides.add_slide(prs.slide_layouts[5])",
        f"slide.shapes.title.text = {rng.choice(TOPICS)!r}",
        f"frame = slide.shapes.add_table({rows}, {cols}, {_inches(left)}, {_inches(top)}, "
        f"{_inches(table_w)}, {_inches(rows * row_h)})",
        "table = frame.table",
        f"table.cell(0, 0).text = {'Region'!r}",
    ]
    for c in range(1, cols):
        lines += [f"table.cell(0, {c}).text = {f'Q{c}'!r}"]
    for r, region in enumerate(rng.sample(REGIONS, rows - 1), start=1):
        lines += [f"table.cell({r}, 0).text = {region!r}"]
        for c in range(1, cols):
            lines += [f"table.cell({r}, {c}).text = {f'{rng.randint(5, 95)}%'!r}"]
    caption_top = top + rows * row_h + 0.5
    caption_w = rng.choice((4.0, 4.5, 5.0))
    caption = _sentence(rng)
    caption_size = rng.choice((14, 16))
    caption_h = _text_height(caption, caption_size, caption_w) * 1.5 + 0.3
    lines += [
        f"caption = slide.shapes.add_textbox({_inches(left)}, {_inches(caption_top)}, "
        f"{_inches(caption_w)}, {_inches(caption_h)})",
        "caption.text_frame.word_wrap = True",
        "caption.text_frame.auto_size = MSO_AUTO_SIZE.NONE",
        f"caption.text_frame.text = {caption!r}",
        "caption_run = caption.text_frame.paragraphs[0].runs[0]",
        f"caption_run.font.size = Pt({caption_size})",
        f"caption_run.font.color.rgb = {_rgb(rng.choice(DARK_TEXT))}",
        f"note = slide.shapes.add_textbox({_inches(10 - left - 3.0)}, {_inches(caption_top)}, "
        f"{_inches(3.0)}, {_inches(0.5)})",
        "note.text_frame.word_wrap = True",
        f"note.text_frame.text = {'Figures: ' + rng.choice(REGIONS).lower() + ' team'!r}",
        "note_run = note.text_frame.paragraphs[0].runs[0]",
        "note_run.font.size = Pt(12)",
        f"note_run.font.color.rgb = {_rgb(rng.choice(DARK_TEXT))}",
        'prs.save("deck.pptx")',
    ]
    return "\n".join(lines) + "\n"


STYLES = (placeholder_bullets, text_columns, filled_cards, table_slide)
