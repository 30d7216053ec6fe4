"""Design2Code scores on hand-made block lists (values by hand), and the recoloured double
render finding the text blocks of a known page in Chromium."""

import numpy as np
import pytest

from render_service.metrics.color import color_similarity
from render_service.metrics.design2code import departures, design2code_scores
from render_service.metrics.web_blocks import PALETTE, SHIFT, TOLERANCE, find_blocks
from render_service.types import RenderRequest


def page(*blocks, width=100, height=200):
    return {
        "width": width,
        "height": height,
        "blocks": [{"text": t, "bbox": box, "color": color} for t, box, color in blocks],
    }


TITLE = ("Welcome home", (10, 10, 60, 30), (0, 0, 0))  # 50x20 px
BODY = ("Some body text here", (10, 50, 90, 90), (200, 0, 0))  # 80x40 px
REFERENCE = page(TITLE, BODY)


def test_identical_pages_score_one_and_without_clip_final_is_not_computed():
    scores = design2code_scores(REFERENCE, REFERENCE)
    assert scores == {
        "block_match": 1.0,
        "text": 1.0,
        "position": 1.0,
        "color": 1.0,
        "clip": None,
        "final": None,
    }


def test_missing_block_lowers_block_match_by_its_area():
    scores = design2code_scores(page(TITLE), REFERENCE)
    # matched area: 2 * 1000 px; all area: 1000 + 1000 + 3200 (normalised alike).
    assert scores["block_match"] == pytest.approx(2000 / 5200)
    assert (scores["text"], scores["position"], scores["color"]) == (1.0, 1.0, 1.0)


def test_changed_color_lowers_color_only():
    blue_body = (BODY[0], BODY[1], (0, 0, 200))
    scores = design2code_scores(page(TITLE, blue_body), REFERENCE)
    s = float(color_similarity([0, 0, 200 / 255], [200 / 255, 0, 0]))
    assert scores["color"] == pytest.approx((1 + s) / 2)
    assert (scores["block_match"], scores["text"], scores["position"]) == (1.0, 1.0, 1.0)


def test_shifted_block_lowers_position_by_max_center_shift():
    moved = (TITLE[0], (30, 30, 80, 50), TITLE[2])  # +20 px on x (0.2), +20 px on y (0.1)
    scores = design2code_scores(page(moved, BODY), REFERENCE)
    assert scores["position"] == pytest.approx((1 - 0.2 + 1) / 2)
    assert scores["block_match"] == 1.0 and scores["text"] == 1.0


def test_changed_text_scores_sequence_matcher_ratio_and_drops_weak_pairs():
    # "Welcome home" vs "Welcome hom": ratio = 2 * 11 / 23.
    scores = design2code_scores(page(("Welcome hom", *TITLE[1:]), BODY), REFERENCE)
    assert scores["text"] == pytest.approx((22 / 23 + 1) / 2)
    unrelated = design2code_scores(page(("zzzz", *TITLE[1:])), page(TITLE))
    assert unrelated["block_match"] == 0.0 and unrelated["text"] == 0.0


def test_failed_candidate_scores_zero_and_final_is_a_fifth_of_five_scores_with_clip():
    assert design2code_scores(None, REFERENCE)["final"] is None
    assert design2code_scores(None, REFERENCE, clip=0.9)["final"] == 0.0
    with_clip = design2code_scores(REFERENCE, REFERENCE, clip=0.5)
    assert with_clip["clip"] == 0.5 and with_clip["final"] == pytest.approx(4.5 / 5)


def test_palette_colours_are_distinct_and_far_apart():
    assert len(set(PALETTE)) == 4096
    spacing = min(abs(a - b) for a, b in zip(PALETTE[0], PALETTE[1]) if a != b)
    assert spacing > 2 * TOLERANCE  # a tolerant match never picks the wrong block


def png(array):
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(array.astype(np.uint8)).save(out, format="PNG")
    return out.getvalue()


def test_find_blocks_takes_pixels_that_moved_by_the_shift_within_tolerance():
    before = np.full((20, 30, 3), 255)
    before[5:8, 4:10] = (10, 20, 30)  # the run's glyph pixels, in the page's colour
    before[5:8, 4] = (11, 22, 31)  # one column a shade off: the mean is truncated
    first, second = before.copy(), before.copy()
    color = np.array(PALETTE[1])
    first[5:8, 4:10] = color + 3  # within the tolerance of the block's colour
    second[5:8, 4:10] = (color + 3 + SHIFT) % 256 - 6  # moved by the shift, within 8
    first[5, 3], second[5, 3] = (128, 128, 128), (150, 150, 150)  # an edge: moved by 22 only
    first[9, 20], second[9, 20] = color, color + 20  # the block's colour, but not moved by 50
    found = find_blocks(png(before), png(first), png(second), ["First", "Second Run"])
    mean = ((10 * 5 + 11) // 6, (20 * 5 + 22) // 6, (30 * 5 + 31) // 6)
    assert found["blocks"] == [{"text": "second run", "bbox": (4.0, 5.0, 10.0, 8.0), "color": mean}]
    assert (found["width"], found["height"]) == (30, 20)


KNOWN_PAGE = """<html><body style="margin: 20px; font-family: 'DejaVu Sans'">
<h1 style="color: #333333">Quarterly report</h1>
<p style="color: rgb(200, 30, 30); font-size: 20px">Revenue grew <b>12%</b> this year</p>
<div style="background: #222244; color: white; padding: 10px; width: 300px">Dark box text</div>
</body></html>"""


@pytest.fixture(scope="module")
def block_renderer():
    from render_service.config import RenderConfig
    from render_service.metrics.web_blocks import BlockWebRenderer

    renderer = BlockWebRenderer(RenderConfig())
    yield renderer
    renderer.close()


@pytest.mark.chromium
def test_double_render_finds_the_text_blocks_of_a_known_page(block_renderer):
    result = block_renderer.render(RenderRequest("k", "web", KNOWN_PAGE, options={"blocks": True}))
    assert result.ok, result.error
    found = result.metrics["blocks"]
    blocks = {b["text"]: b for b in found["blocks"]}
    # <b> is on Design2Code's tag list: a block of its own. Texts are lowercased.
    assert sorted(blocks) == ["12%", "dark box text", "quarterly report", "revenue grew this year"]
    assert blocks["quarterly report"]["color"] == (51, 51, 51)
    assert blocks["revenue grew this year"]["color"] == (200, 30, 30)
    # The mean takes in edge pixels within the tolerance, which blend into the dark box.
    assert min(blocks["dark box text"]["color"]) >= 240
    tops = [
        blocks[t]["bbox"][1]
        for t in ("quarterly report", "revenue grew this year", "dark box text")
    ]
    assert tops == sorted(tops)  # in reading order down the page
    for block in found["blocks"]:
        x0, y0, x1, y1 = block["bbox"]
        assert 20 <= x0 < x1 <= 340 and 20 <= y0 < y1 <= 200  # inside the body's margin box
    assert design2code_scores(found, found, clip=1.0)["final"] == 1.0


# A page of 100 x 200 px: a heading, a paragraph, a footer.
TARGET = page(
    ("quarterly report", (10, 10, 90, 30), (51, 51, 51)),
    ("revenue grew this year", (10, 40, 90, 60), (200, 30, 30)),
    ("contact us", (10, 170, 60, 190), (0, 0, 0)),
)


def changed(**blocks):
    """TARGET with some blocks replaced (a value of None drops the block)."""
    kept = {b["text"]: (b["text"], b["bbox"], b["color"]) for b in TARGET["blocks"]}
    for name, block in blocks.items():
        kept[name.replace("_", " ")] = block
    return page(*(block for block in kept.values() if block is not None))


def test_departures_name_each_change_of_a_page_and_nothing_else():
    """Each change to the target is one line naming the block by its text: missing, reworded,
    moved, recoloured; the page itself departs in nothing."""
    assert departures(TARGET, TARGET) == []
    assert departures(changed(contact_us=None), TARGET) == [
        "text in the target that yours lacks: 'contact us'"
    ]
    reworded = changed(quarterly_report=("annual report", (10, 10, 90, 30), (51, 51, 51)))
    assert departures(reworded, TARGET) == [
        "text that reads otherwise in yours: 'quarterly report' reads 'annual report'"
    ]
    unrelated = changed(quarterly_report=("zzz", (10, 10, 90, 30), (51, 51, 51)))
    assert departures(unrelated, TARGET) == [
        "text in the target that yours lacks: 'quarterly report'",
        "text in yours that the target lacks: 'zzz'",
    ]
    moved = changed(contact_us=("contact us", (10, 100, 60, 120), (0, 0, 0)))
    assert departures(moved, TARGET) == [
        "blocks placed otherwise (centre, share of the page): 'contact us' at (0.35, 0.90) in "
        "the target, (0.35, 0.55) in yours"
    ]
    recolored = changed(
        revenue_grew_this_year=("revenue grew this year", (10, 40, 90, 60), (30, 30, 200))
    )
    assert departures(recolored, TARGET) == [
        "text coloured otherwise: 'revenue grew this year' #c81e1e in the target, #1e1ec8 in yours"
    ]
    # A page that failed shows no block; a page within the tolerances departs in nothing.
    assert departures(None, TARGET) == [
        "text in the target that yours lacks: 'quarterly report'; 'revenue grew this year'; "
        "'contact us'"
    ]
    nudged = changed(contact_us=("contact us", (12, 172, 62, 192), (10, 10, 10)))
    assert departures(nudged, TARGET) == []


@pytest.mark.chromium
def test_departures_of_rendered_pages_name_the_edit(block_renderer):
    """Rendered in Chromium: a heading reworded and a paragraph recoloured are named, with the
    target's own text, and nothing else is."""
    edited = KNOWN_PAGE.replace("Quarterly report", "Monthly report").replace(
        "rgb(200, 30, 30)", "rgb(30, 30, 200)"
    )
    found = [
        block_renderer.render(RenderRequest(name, "web", code, options={"blocks": True}))
        for name, code in (("target", KNOWN_PAGE), ("edited", edited))
    ]
    assert all(result.ok for result in found)
    target, ours = (result.metrics["blocks"] for result in found)
    assert departures(target, target) == []
    assert departures(ours, target) == [
        "text that reads otherwise in yours: 'quarterly report' reads 'monthly report'",
        "text coloured otherwise: 'revenue grew this year' #c81e1e in the target, #1e1ec8 in "
        "yours; '12%' #c81e1e in the target, #1e1ec8 in yours",
    ]
