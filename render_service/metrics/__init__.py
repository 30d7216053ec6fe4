"""Benchmark metrics (no JAX): ChartMimic, Design2Code, slide aesthetics, defect rates.

Scores are pure functions of records that the renderers produce in the same single render of
each program (see docs/metrics.md); `score_items` runs pairs through a RenderPool built with
`registry()` and aggregates. Importing this package loads neither matplotlib nor a browser.
"""

from render_service.metrics.chartmimic import chartmimic_scores, color_f1
from render_service.metrics.color import ciede2000, color_similarity, srgb_to_lab
from render_service.metrics.defects import defect_rates
from render_service.metrics.design2code import design2code_scores
from render_service.metrics.scoring import (
    BLOCK_SCORES,
    SLIDE_SCORES,
    ItemScore,
    primary_score,
    registry,
    score_items,
    scoring_options,
)
from render_service.metrics.slides import deck_geometry_scores, geometry_block_scores, slide_scores

__all__ = [
    "BLOCK_SCORES",
    "SLIDE_SCORES",
    "ItemScore",
    "chartmimic_scores",
    "ciede2000",
    "color_f1",
    "color_similarity",
    "deck_geometry_scores",
    "defect_rates",
    "design2code_scores",
    "geometry_block_scores",
    "primary_score",
    "registry",
    "score_items",
    "scoring_options",
    "slide_scores",
    "srgb_to_lab",
]
