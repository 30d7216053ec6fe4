"""Rewards: the image similarity on real PNGs and the weighted sum on hand-made render results."""

import io
import math

import numpy as np
import pytest
from PIL import Image, ImageDraw

from render_service.types import Defect, RenderResult
from sdpo_jax import rewards


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
    r = rewards.reward(rendered(0.5, 0.5), CHART, w_exec=1.0, w_vis=2.0, w_def=0.5)
    penalty = 1 - math.exp(-1.0)
    assert (r.executed, r.visual, r.defect_penalty) == pytest.approx((1.0, 1.0, penalty))
    assert r.total == pytest.approx(1.0 + 2.0 - 0.5 * penalty)


def test_failed_execution_gets_zero():
    failed = RenderResult(id="r", ok=False, error="NameError: name 'x' is not defined (line 3)")
    assert rewards.reward(failed, CHART) == rewards.Reward(0.0, 0.0, 0.0, 0.0)


def test_visual_score_is_pluggable_and_needs_a_target():
    constant = lambda image, target: 0.25
    assert rewards.reward(rendered(), CHART, visual_score=constant).visual == 0.25
    assert rewards.reward(rendered(), None, visual_score=constant).total == 1.0


def test_batch_rewards():
    got = rewards.rewards([rendered(), rendered(1.0), rendered(ok=False)], [CHART] * 3, w_def=1.0)
    np.testing.assert_allclose(got, [2.0, 2.0 - (1 - math.exp(-1)), 0.0], rtol=1e-6)
    assert got.dtype == np.float32


def test_bad_input_gives_clear_errors():
    with pytest.raises(ValueError, match="2 results but 1 targets"):
        rewards.rewards([rendered(), rendered()], [CHART])
    with pytest.raises(ValueError, match="w_def=-1"):
        rewards.reward(rendered(), CHART, w_def=-1)
