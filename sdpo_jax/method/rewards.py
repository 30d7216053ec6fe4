"""Sequence rewards for GRPO from a render:

    R = w_exec · executed + w_vis · visual score − w_def · defect penalty

executed is 1 when the code ran and produced an image; a failed rollout gets R = 0 and learns
through self-distillation on its error instead. The defect penalty is 1 − exp(−Σ severity): 0
without defects, growing with each one and bounded by 1, so a page of small warnings cannot
outweigh execution.

The visual score (`reward.visual`) is the one the task's benchmark reports, computed from the
records the render service's metric renderers attach to each render (`render_service.metrics`)
against the reference program's render:
- `chartmimic` (charts): the mean of ChartMimic's low-level text, layout, type and color F1s;
- `design2code` (pages): the mean of Design2Code's block-match, text, position and color;
- `slide` (HTML slides): the mean of the aesthetics measures that have a better end (aspect
  compliance, balance, no collisions), plus the Design2Code block mean against the reference
  slide where there is one;
- `ssim`: structural similarity of the render with the target image (`image_similarity`), for
  data without a reference program.
"""

from __future__ import annotations

import dataclasses
import io
import math

import numpy as np
from PIL import Image
from scipy.ndimage import uniform_filter

from render_service.metrics import (
    BLOCK_SCORES,
    SLIDE_SCORES,
    chartmimic_scores,
    design2code_scores,
    slide_scores,
)
from render_service.types import RenderResult

# SSIM's stabilizers for 8-bit intensities (Wang et al. 2004).
_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2
# The record each visual score reads from a render (None: the image alone).
RECORDS = {"ssim": None, "chartmimic": "chartmimic", "design2code": "blocks", "slide": "blocks"}


def _gray(png: bytes, size: int) -> np.ndarray:
    """A PNG as size×size float64 grayscale on white (transparent pixels count as page)."""
    image = Image.open(io.BytesIO(png)).convert("RGBA")
    page = Image.new("RGBA", image.size, "white")
    gray = Image.alpha_composite(page, image).convert("L")
    return np.asarray(gray.resize((size, size), Image.Resampling.BOX), dtype=np.float64)


def image_similarity(image_png: bytes, target_png: bytes, *, size: int = 64, window: int = 7):
    """SSIM between two renders, in [0, 1]: both images squeezed to size×size grayscale (aspect
    ignored: a chart drawn at another size still compares), local means, variances and covariance
    over window×window boxes, the SSIM map averaged and negative values clipped to 0.
    Identical images give 1, the same chart at another resolution nearly 1, unrelated images
    (coarse noise, a black page against a chart) near 0. Pages that share a white background stay
    well above 0 (an empty page against a bar chart: about 0.4), so the score ranks rollouts
    rather than grading them absolutely."""
    x, y = _gray(image_png, size), _gray(target_png, size)
    mean = lambda a: uniform_filter(a, window, mode="reflect")
    mu_x, mu_y = mean(x), mean(y)
    var_x = mean(x * x) - mu_x**2
    var_y = mean(y * y) - mu_y**2
    cov = mean(x * y) - mu_x * mu_y
    ssim = ((2 * mu_x * mu_y + _C1) * (2 * cov + _C2)) / (
        (mu_x**2 + mu_y**2 + _C1) * (var_x + var_y + _C2)
    )
    return float(np.clip(ssim.mean(), 0.0, 1.0))


def visual_score(
    name: str,
    result: RenderResult,
    reference: RenderResult | None = None,
    target_png: bytes | None = None,
) -> float:
    """The `name` visual score of one render in [0, 1]; 0 when it failed. The benchmark scores
    compare with `reference`, the reference program's render through the same metric renderer
    (without one, or when it failed, there is nothing to match: 0, except the slide measures);
    `ssim` compares with `target_png` (0 without one)."""
    if name not in RECORDS:
        raise ValueError(f"visual score {name!r}; allowed: {', '.join(RECORDS)}")
    if not result.ok or not result.image_png:
        return 0.0
    record = RECORDS[name]
    if record is not None and record not in result.metrics:
        raise ValueError(
            f"the render has no {record!r} record for reward.visual={name!r}: render through "
            "render_service.metrics.registry() with metrics.scoring_options()"
        )
    matched = reference is not None and reference.ok and record in reference.metrics
    if name == "ssim":
        return image_similarity(result.image_png, target_png) if target_png else 0.0
    if name == "chartmimic":
        if not matched:
            return 0.0
        scores = chartmimic_scores(result.metrics[record], reference.metrics[record])
        return float(np.mean(list(scores.values())))
    blocks = 0.0
    if matched:
        scores = design2code_scores(result.metrics[record], reference.metrics[record])
        blocks = float(np.mean([scores[k] for k in BLOCK_SCORES]))
    if name == "design2code":
        return blocks
    measures = slide_scores(result.metrics)
    parts = [measures[k] for k in SLIDE_SCORES] + ([blocks] if matched else [])
    return float(np.mean(parts))


@dataclasses.dataclass(frozen=True)
class Reward:
    """R and its parts, for logging."""

    total: float
    executed: float
    visual: float
    defect_penalty: float


def defect_penalty(result: RenderResult) -> float:
    """1 − exp(−Σ severity) over the render's defects."""
    return 1.0 - math.exp(-sum(max(d.severity, 0.0) for d in result.defects))


def reward(
    result: RenderResult,
    visual: float = 0.0,
    *,
    w_exec: float = 1.0,
    w_vis: float = 1.0,
    w_def: float = 0.5,
) -> Reward:
    """R for one rollout whose visual score is `visual` (see `visual_score`)."""
    for name, value in (("w_exec", w_exec), ("w_vis", w_vis), ("w_def", w_def)):
        if value < 0:
            raise ValueError(f"reward: {name}={value} must be ≥ 0 (set it to 0 to drop the term)")
    if not result.ok or not result.image_png:
        return Reward(0.0, 0.0, 0.0, 0.0)
    penalty = defect_penalty(result)
    total = w_exec + w_vis * visual - w_def * penalty
    return Reward(total, 1.0, visual, penalty)
