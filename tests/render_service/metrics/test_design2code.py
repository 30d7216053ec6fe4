"""Design2Code scores on hand-made block lists (values by hand), and the recoloured double
render finding the text blocks of a known page in Chromium."""

import pytest

from render_service.metrics.color import color_similarity
from render_service.metrics.design2code import design2code_scores
from render_service.metrics.web_blocks import find_blocks, run_colors
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


def test_identical_pages_score_one_and_clip_is_not_computed():
    scores = design2code_scores(REFERENCE, REFERENCE)
    assert scores == {
        "block_match": 1.0,
        "text": 1.0,
        "position": 1.0,
        "color": 1.0,
        "clip": None,
        "final": 1.0,
    }


def test_missing_block_lowers_block_match_by_its_area():
    scores = design2code_scores(page(TITLE), REFERENCE)
    # matched area: 2 * 1000 px; all area: 1000 + 1000 + 3200 (normalised alike).
    assert scores["block_match"] == pytest.approx(2000 / 5200)
    assert (scores["text"], scores["position"], scores["color"]) == (1.0, 1.0, 1.0)
    assert scores["final"] == pytest.approx((2000 / 5200 + 3) / 4)


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
    assert unrelated["block_match"] == 0.0 and unrelated["final"] == 0.0


def test_failed_candidate_scores_zero_and_clip_counts_when_given():
    assert design2code_scores(None, REFERENCE)["final"] == 0.0
    with_clip = design2code_scores(REFERENCE, REFERENCE, clip=0.5)
    assert with_clip["clip"] == 0.5 and with_clip["final"] == pytest.approx(4.5 / 5)


def test_run_colors_are_distinct():
    colors = run_colors(4096)
    assert len(set(colors)) == 4096 and all(0 <= c <= 255 for rgb in colors for c in rgb)


def test_find_blocks_reads_exact_run_colours_only():
    import io

    import numpy as np
    from PIL import Image

    def png(array):
        out = io.BytesIO()
        Image.fromarray(array.astype(np.uint8)).save(out, format="PNG")
        return out.getvalue()

    before = np.full((20, 30, 3), 255)
    before[5:8, 4:10] = (10, 20, 30)  # the run's glyph pixels, in the page's colour
    after = before.copy()
    after[5:8, 4:10] = run_colors(2)[1]
    after[5, 3] = (128, 128, 128)  # an antialiased edge: changed, but no run's exact colour
    found = find_blocks(png(before), png(after), ["first", "second"])
    assert found["blocks"] == [
        {"text": "second", "bbox": (4.0, 5.0, 10.0, 8.0), "color": (10, 20, 30)}
    ]
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
    # The <b> run belongs to its paragraph's block, as in Design2Code.
    assert sorted(blocks) == ["Dark box text", "Quarterly report", "Revenue grew 12% this year"]
    assert blocks["Quarterly report"]["color"] == (51, 51, 51)
    assert blocks["Revenue grew 12% this year"]["color"] == (200, 30, 30)
    assert blocks["Dark box text"]["color"] == (255, 255, 255)
    tops = [
        blocks[t]["bbox"][1]
        for t in ("Quarterly report", "Revenue grew 12% this year", "Dark box text")
    ]
    assert tops == sorted(tops)  # in reading order down the page
    for block in found["blocks"]:
        x0, y0, x1, y1 = block["bbox"]
        assert 20 <= x0 < x1 <= 340 and 20 <= y0 < y1 <= 200  # inside the body's margin box
    assert design2code_scores(found, found)["final"] == 1.0
