"""Sequence rewards for GRPO from a render:

    R = w_exec · executed + w_vis · visual score vs the target − w_def · defect penalty

executed is 1 when the code ran and produced an image; a failed rollout gets R = 0 and learns
through self-distillation on its error instead. The visual score is pluggable: the render
service's benchmark metrics will provide one; until then `image_similarity`, a cheap SSIM on
downscaled grayscale images. The defect penalty is 1 − exp(−Σ severity): 0 without defects,
growing with each one and bounded by 1, so a page of small warnings cannot outweigh execution.
The weights are arguments whose defaults the trainer's config overrides.
"""

from __future__ import annotations

import dataclasses
import io
import math
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image
from scipy.ndimage import uniform_filter

from render_service.types import RenderResult

VisualScore = Callable[[bytes, bytes], float]

# SSIM's stabilizers for 8-bit intensities (Wang et al. 2004).
_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2


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
    target_png: bytes | None = None,
    *,
    w_exec: float = 1.0,
    w_vis: float = 1.0,
    w_def: float = 0.5,
    visual_score: VisualScore = image_similarity,
) -> Reward:
    """R for one rollout; without a target the visual term is 0 for every rollout alike."""
    for name, value in (("w_exec", w_exec), ("w_vis", w_vis), ("w_def", w_def)):
        if value < 0:
            raise ValueError(f"reward: {name}={value} must be ≥ 0 (set it to 0 to drop the term)")
    if not result.ok or not result.image_png:
        return Reward(0.0, 0.0, 0.0, 0.0)
    visual = visual_score(result.image_png, target_png) if target_png else 0.0
    penalty = defect_penalty(result)
    total = w_exec + w_vis * visual - w_def * penalty
    return Reward(total, 1.0, visual, penalty)


def rewards(
    results: Sequence[RenderResult], targets: Sequence[bytes | None], **weights
) -> np.ndarray:
    """R for a batch of rollouts, float32 [len(results)], each with its prompt's target."""
    if len(results) != len(targets):
        raise ValueError(
            f"rewards: {len(results)} results but {len(targets)} targets; repeat each prompt's "
            "target for every rollout of its group"
        )
    return np.array([reward(r, t, **weights).total for r, t in zip(results, targets)], np.float32)
