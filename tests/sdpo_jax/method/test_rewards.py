"""Rewards: the image similarity on real PNGs and the weighted sum on hand-made render results."""

import io
import math

import numpy as np
import pytest
from PIL import Image, ImageDraw

from render_service.types import Defect, RenderResult
from sdpo_jax.method import rewards


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def bar_chart(heights, size=(640, 480), mode="RGB", background="white") -> bytes:
    image = Image.new(mode, size, background)
    draw = ImageDraw.Draw(image)
    width, height = size
    draw.line([(60, 20), (60, height - 40), (width - 20, height - 40)], fill="black", width=3)
    step = (width - 100) // len(heights)
    for i, h in enumerate(heights):
        x = 80 + i * step
        draw.rectangle([x, height - 40 - h * (height - 80), x + step // 2, height - 40], "#1f77b4")
    return png(image)


CHART = bar_chart([0.3, 0.8, 0.5, 0.9])


def test_identical_images_score_one():
    assert rewards.image_similarity(CHART, CHART) == pytest.approx(1.0, abs=1e-12)


def test_unrelated_images_score_low():
    """Blotches coarse enough to survive the downscaling (pixel noise averages to flat gray)."""
    blotches = np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    noise = png(Image.fromarray(blotches).resize((640, 480), Image.Resampling.NEAREST))
    black = png(Image.new("RGB", (640, 480), "black"))
    assert rewards.image_similarity(noise, CHART) < 0.1
    assert rewards.image_similarity(black, CHART) < 0.1


def test_similarity_orders_versions_of_the_chart():
    """An empty page < other bars < one bar changed < the same chart at twice the size."""
    score = lambda image: rewards.image_similarity(image, CHART)
    blank = score(png(Image.new("RGB", (640, 480), "white")))
    far = score(bar_chart([0.9, 0.1, 0.9, 0.1]))
    near = score(bar_chart([0.3, 0.8, 0.5, 0.7]))
    big = Image.open(io.BytesIO(CHART)).resize((1280, 960), Image.Resampling.LANCZOS)
    resized = score(png(big))
    assert blank < far < near < resized < 1.0
    assert resized > 0.99


def test_transparent_background_counts_as_white():
    clear = bar_chart([0.3, 0.8, 0.5, 0.9], mode="RGBA", background=(0, 0, 0, 0))
    assert rewards.image_similarity(clear, CHART) == pytest.approx(1.0, abs=1e-12)


def rendered(*severities, ok=True):
    defects = tuple(Defect("overflow", s, None, "Text overflows its box.") for s in severities)
    return RenderResult(id="r", ok=ok, image_png=CHART if ok else None, defects=defects)


def test_reward_is_the_weighted_sum():
    r = rewards.reward(rendered(0.5, 0.5), 1.0, w_exec=1.0, w_vis=2.0, w_def=0.5)
    penalty = 1 - math.exp(-1.0)
    assert (r.executed, r.visual, r.defect_penalty) == pytest.approx((1.0, 1.0, penalty))
    assert r.total == pytest.approx(1.0 + 2.0 - 0.5 * penalty)


def test_failed_execution_gets_zero():
    failed = RenderResult(id="r", ok=False, error="NameError: name 'x' is not defined (line 3)")
    assert rewards.reward(failed, 0.7) == rewards.Reward(0.0, 0.0, 0.0, 0.0)
    assert rewards.visual_score("ssim", failed, target_png=CHART) == 0.0


def test_ssim_visual_score_needs_a_target():
    assert rewards.visual_score("ssim", rendered(), target_png=CHART) == pytest.approx(1.0)
    assert rewards.visual_score("ssim", rendered()) == 0.0


def test_bad_input_gives_clear_errors():
    with pytest.raises(ValueError, match="w_def=-1"):
        rewards.reward(rendered(), 0.5, w_def=-1)
    with pytest.raises(ValueError, match="visual score 'clip'"):
        rewards.visual_score("clip", rendered())
    with pytest.raises(ValueError, match="no 'chartmimic' record"):
        rewards.visual_score("chartmimic", rendered(), rendered())


CHART_CODE = """import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(5, 4))
ax.bar(['North', 'South', 'East'], [23, 45, 12], color='#1f77b4')
ax.set_title('Coffee Exports 2019')
"""


@pytest.fixture(scope="module")
def scoring_pool():
    from render_service import RenderConfig, RenderPool, metrics

    with RenderPool(RenderConfig(workers=2), registry=metrics.registry()) as pool:
        yield pool


def scored_render(pool, domain, code):
    from render_service import RenderRequest, metrics

    return pool.render([metrics.scoring_options(RenderRequest("x", domain, code))])[0]


def test_chartmimic_visual_score_is_the_mean_of_the_low_level_f1s(scoring_pool):
    """Against its own reference a chart scores 1; a different title, colour and kind lose
    their shares of the four F1s (computed by render_service.metrics); a crash scores 0."""
    from render_service.metrics import chartmimic_scores

    gold = scored_render(scoring_pool, "chart", CHART_CODE)
    changed = CHART_CODE.replace("Coffee", "Tea").replace("#1f77b4", "#d62728")
    other = scored_render(scoring_pool, "chart", changed.replace(".bar(", ".barh("))
    assert rewards.visual_score("chartmimic", gold, gold) == pytest.approx(1.0)
    f1s = chartmimic_scores(other.metrics["chartmimic"], gold.metrics["chartmimic"])
    score = rewards.visual_score("chartmimic", other, gold)
    assert score == pytest.approx(np.mean(list(f1s.values()))) and 0.0 < score < 1.0
    crashed = scored_render(scoring_pool, "chart", CHART_CODE + "1 / 0\n")
    assert rewards.visual_score("chartmimic", crashed, gold) == 0.0
    assert rewards.visual_score("chartmimic", gold, None) == 0.0  # nothing to match


PAGE = """<!DOCTYPE html><html><body style="margin:0;font-family:sans-serif">
<h1 style="margin:40px">Simple coffee exports</h1><p style="margin:40px">Plan in minutes.</p>
</body></html>"""


@pytest.mark.chromium
def test_design2code_and_slide_visual_scores(scoring_pool):
    from render_service.metrics import design2code_scores, slide_scores

    page = scored_render(scoring_pool, "web", PAGE)
    moved = scored_render(scoring_pool, "web", PAGE.replace("margin:40px", "margin:200px"))
    assert rewards.visual_score("design2code", page, page) == pytest.approx(1.0)
    d2c = design2code_scores(moved.metrics["blocks"], page.metrics["blocks"])
    expected = np.mean([d2c[k] for k in ("block_match", "text", "position", "color")])
    assert rewards.visual_score("design2code", moved, page) == pytest.approx(expected)
    assert rewards.visual_score("design2code", moved, page) < 1.0
    slide = scored_render(scoring_pool, "slide_html", PAGE)
    measures = slide_scores(slide.metrics)
    aesthetics = [measures[k] for k in ("aspect", "balance", "collision_free")]
    assert rewards.visual_score("slide", slide, None) == pytest.approx(np.mean(aesthetics))
    assert rewards.visual_score("slide", slide, slide) == pytest.approx(np.mean([*aesthetics, 1.0]))
