"""score_items through a real RenderPool: one render per program, failures scored 0, the run
completes past crashing and hanging candidates; defect rates and slide scores by hand."""

import pytest

from render_service.metrics import (
    BLOCK_SCORES,
    defect_rates,
    geometry_block_scores,
    registry,
    score_items,
)
from render_service.metrics.slides import slide_scores
from render_service.types import Defect, RenderRequest, RenderResult

GOLD = """
import matplotlib.pyplot as plt
fig, ax = plt.subplots()
ax.bar(["a", "b"], [1, 2], color="#1f77b4")
ax.set_title("Gold")
"""
CANDIDATES = {
    "same": GOLD,
    "crash": "import matplotlib.pyplot as plt\nraise RuntimeError('boom')\n",
    "hang": "while True:\n    pass\n",
    "no_title": GOLD.replace('ax.set_title("Gold")', ""),
}


@pytest.fixture(scope="module")
def metrics_pool(short_config):
    from render_service.pool import RenderPool

    with RenderPool(short_config, registry=registry()) as pool:
        yield pool


def test_score_items_scores_failures_zero_and_completes(metrics_pool):
    pairs = [
        (RenderRequest(name, "chart", code), RenderRequest(f"{name}-gold", "chart", GOLD))
        for name, code in CANDIDATES.items()
    ]
    report = score_items(pairs, metrics_pool)
    items = {item.id: item for item in report["items"]}
    assert items["same"].scores == {"text": 1.0, "layout": 1.0, "type": 1.0, "color": 1.0}
    for failed in ("crash", "hang"):
        assert not items[failed].executed and items[failed].error
        assert set(items[failed].scores.values()) == {0.0}
    assert "RuntimeError: boom" in items["crash"].error
    assert items["no_title"].scores["text"] == 0.0  # its only string is missing
    chart = report["aggregate"]["chart"]
    assert chart["items"] == 4 and chart["execution_rate"] == 0.5
    assert chart["layout"] == pytest.approx(0.5) and chart["text"] == pytest.approx(0.25)
    # The primary score, ChartMimic's low-level one: the mean of the four F1s, item by item.
    assert chart["primary"] == "low_level"
    four = [chart[k] for k in ("text", "layout", "type", "color")]
    assert chart["low_level"] == pytest.approx(sum(four) / 4)
    assert 0 < chart["low_level"] < 1


def test_failed_reference_is_reported_not_scored(metrics_pool):
    pairs = [(RenderRequest("c", "chart", GOLD), RenderRequest("g", "chart", "1/0\n"))]
    report = score_items(pairs, metrics_pool)
    (item,) = report["items"]
    assert item.reference_failed and "ZeroDivisionError" in item.error
    assert report["aggregate"]["chart"]["items"] == 0
    assert report["aggregate"]["chart"]["reference_failures"] == 1


def test_pool_without_the_metrics_registry_is_refused(pool):
    pairs = [(RenderRequest("c", "chart", GOLD), RenderRequest("g", "chart", GOLD))]
    with pytest.raises(ValueError, match=r"registry=render_service\.metrics\.registry"):
        score_items(pairs, pool)


def test_mixed_domain_pair_is_refused(metrics_pool):
    pairs = [(RenderRequest("c", "chart", GOLD), RenderRequest("g", "web", "<p>x</p>"))]
    with pytest.raises(ValueError, match="mixes domains"):
        score_items(pairs, metrics_pool)


def test_defect_rates_share_of_rendered_items_per_kind():
    overlap = Defect("text_overlap", 1.0, None, "labels overlap")
    clipped = Defect("clipped_text", 1.0, None, "title cut")
    results = [
        RenderResult("a", True, defects=(overlap, overlap, clipped)),
        RenderResult("b", True, defects=(overlap,)),
        RenderResult("c", True),
        RenderResult("d", True),
        RenderResult("e", False, error="crash"),  # not seen by the detectors
    ]
    rates = defect_rates(results)
    assert rates["text_overlap"] == pytest.approx(0.5)
    assert rates["clipped_text"] == pytest.approx(0.25)
    assert rates["low_contrast"] == 0.0 and len(rates) == 9


def test_slide_scores_by_hand():
    measures = {
        "aspect_ratio_compliance": 0.8,
        "whitespace_share": 0.3,
        "centroid_offset": 0.1,
        "collisions": 2.0,
    }
    assert slide_scores(measures) == pytest.approx(
        {"aspect": 0.8, "whitespace_share": 0.3, "balance": 0.9, "collision_free": 0.0}
    )
    assert set(slide_scores(None).values()) == {0.0}


def test_geometry_block_scores_by_hand():
    canvas = (100, 100)
    reference = [(0, 0, 50, 20), (0, 50, 100, 100)]  # areas 1000 and 5000 px
    assert geometry_block_scores(reference, reference, canvas) == {
        "block_match": 1.0,
        "position": 1.0,
        "size": 1.0,
    }
    shifted = [(10, 0, 60, 20)]  # the first block moved 10 px right; the second missing
    scores = geometry_block_scores(shifted, reference, canvas)
    assert scores["block_match"] == pytest.approx(2000 / 7000)
    assert scores["position"] == pytest.approx(0.9)
    assert scores["size"] == 1.0
    assert set(geometry_block_scores(None, reference, canvas).values()) == {0.0}


PAGE = """<html><body style="margin: 20px; font-family: 'DejaVu Sans'">
<h1 style="color: #222">Garden club</h1>
<p style="font-size: 20px; color: #1e6b3a">Meetings every Tuesday</p>
{extra}</body></html>"""
SLIDE = """<html><body style="margin: 0; padding: 60px; font-family: 'DejaVu Sans'">
<h1 style="margin: 0 0 40px; font-size: 60px">Quarterly results</h1>
<p style="margin: 0; font-size: 32px">Revenue up 12%</p></body></html>"""


@pytest.fixture(scope="module")
def default_pool():
    """Default limits: a page with its block render, or a deck through LibreOffice, can take
    seconds on a loaded machine."""
    from render_service.config import RenderConfig
    from render_service.pool import RenderPool

    config = RenderConfig(workers=2)
    with RenderPool(config, registry=registry(), warm_domains=("web", "slide_html")) as pool:
        yield pool


@pytest.mark.chromium
def test_score_items_web_and_slide_pairs(default_pool):
    extra = '<p style="font-size: 20px">Bring your own tools</p>\n'
    pairs = [
        (RenderRequest("same", "web", PAGE.format(extra=extra)),
         RenderRequest("ref", "web", PAGE.format(extra=extra))),
        (RenderRequest("short", "web", PAGE.format(extra="")),
         RenderRequest("ref", "web", PAGE.format(extra=extra))),
        (RenderRequest("slide", "slide_html", SLIDE), RenderRequest("ref", "slide_html", SLIDE)),
    ]  # fmt: skip
    report = score_items(pairs, default_pool)
    same, short, slide = report["items"]
    assert [i.error for i in report["items"]] == [None, None, None]
    assert same.scores == {
        "block_match": 1.0, "text": 1.0, "position": 1.0, "color": 1.0, "clip": None, "final": None
    }  # fmt: skip
    assert short.scores["block_match"] < 1.0 and short.scores["text"] == 1.0
    assert slide.scores["block_match"] == 1.0 and slide.scores["collision_free"] == 1.0
    assert 0 < slide.scores["balance"] <= 1 and slide.scores["aspect"] == 1.0
    web = report["aggregate"]["web"]
    assert web["execution_rate"] == 1.0
    assert web["clip"] is None and web["final"] is None  # not computed, not 0
    # Without CLIP there is no final score: the table ranks by the low-level mean.
    assert web["primary"] == "low_level"
    low = [(sum(i.scores[k] for k in BLOCK_SCORES) / 4) for i in (same, short)]
    assert web["low_level"] == pytest.approx(sum(low) / 2) and web["low_level"] < 1.0
    slides = report["aggregate"]["slide_html"]
    assert slides["primary"] == "visual"
    parts = [slide.scores[k] for k in ("aspect", "balance", "collision_free")]
    blocks = sum(slide.scores[k] for k in BLOCK_SCORES) / 4
    assert slides["visual"] == pytest.approx((sum(parts) + blocks) / 4)


def test_deck_geometry_scores_slide_by_slide():
    from render_service.metrics import deck_geometry_scores
    from render_service.types import Element

    def deck(*slides):  # slides of 100x50 px stacked in one image, as the pptx renderer does
        elements = [
            Element(f"{index + 1}:{n}", "shape", (x0, y0 + 50 * index, x1, y1 + 50 * index))
            for index, boxes in enumerate(slides)
            for n, (x0, y0, x1, y1) in enumerate(boxes)
        ]
        return RenderResult("d", True, width=100, height=50 * len(slides),
                            elements=tuple(elements), metrics={"slides": len(slides)})  # fmt: skip

    first, second = [(0, 0, 50, 20)], [(10, 10, 90, 40)]
    reference = deck(first, second)
    assert deck_geometry_scores(reference, reference) == {
        "block_match": 1.0,
        "position": 1.0,
        "size": 1.0,
    }
    # Second slide missing: it scores 0, the deck averages (1 + 0) / 2.
    assert deck_geometry_scores(deck(first), reference) == {
        "block_match": 0.5,
        "position": 0.5,
        "size": 0.5,
    }
    # First slide's box moved 10 px right (0.1 of the width): position (0.9 + 1) / 2.
    moved = deck([(10, 0, 60, 20)], second)
    assert deck_geometry_scores(moved, reference)["position"] == pytest.approx(0.95)
    assert set(deck_geometry_scores(None, reference).values()) == {0.0}


DECK = """
from pptx import Presentation
from pptx.util import Inches, Pt
prs = Presentation()
prs.slide_width, prs.slide_height = Inches(13.333), Inches(7.5)
slide = prs.slides.add_slide(prs.slide_layouts[6])
box = slide.shapes.add_textbox(Inches(1), Inches(1), Inches(6), Inches(1.5))
box.text_frame.text = "Quarterly results"
box.text_frame.paragraphs[0].runs[0].font.size = Pt(40)
{extra}prs.save("deck.pptx")
"""


@pytest.mark.libreoffice
def test_score_items_pptx_pair_in_libreoffice(default_pool):
    extra = 'slide.shapes.add_textbox(Inches(1), Inches(4), Inches(6), Inches(1)).text_frame.text = "Up 12%"\n'
    pairs = [
        (RenderRequest("same", "slide_pptx", DECK.format(extra=extra)),
         RenderRequest("ref", "slide_pptx", DECK.format(extra=extra))),
        (RenderRequest("less", "slide_pptx", DECK.format(extra="")),
         RenderRequest("ref", "slide_pptx", DECK.format(extra=extra))),
    ]  # fmt: skip
    report = score_items(pairs, default_pool)
    same, less = report["items"]
    assert [same.error, less.error] == [None, None]
    assert same.scores == {"block_match": 1.0, "position": 1.0, "size": 1.0}
    assert less.scores["block_match"] < 1.0 and less.scores["position"] == 1.0
