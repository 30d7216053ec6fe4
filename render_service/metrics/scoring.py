"""score_items: render (candidate, reference) pairs once each through a RenderPool and score them.

The pool must be built with `registry()`, whose renderers add the records the scores need
(ChartMimic record, Design2Code blocks) to the same single render of each program:

    with RenderPool(config, registry=metrics.registry(), warm_domains=("chart",)) as pool:
        report = metrics.score_items(pairs, pool)

Per domain: chart → ChartMimic text/layout/type/color F1; web → Design2Code block_match, text,
position, color (+ clip when `clip_model_dir` names a local CLIP folder) and final;
slide_html → the slide aesthetics and the Design2Code scores against the reference slide;
slide_pptx → geometry block matching of the shapes, slide by slide, against the reference deck.
A candidate that fails (error, crash, timeout) counts against the execution rate and scores 0
on every metric of its domain, except a chart program that raised after drawing: ChartMimic
scores what it drew. A reference that fails is a data problem: its item is
reported with the error and left out of the aggregates.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from render_service.metrics.chartmimic import CHARTMIMIC_METRICS, chartmimic_scores
from render_service.metrics.defects import defect_rates
from render_service.metrics.design2code import (
    DESIGN2CODE_METRICS,
    block_boxes,
    design2code_scores,
)
from render_service.metrics.slides import GEOMETRY_METRICS, deck_geometry_scores, slide_scores
from render_service.renderers import RENDERERS
from render_service.types import RenderRequest, RenderResult

# The scores behind each benchmark's primary score (the one its table ranks by).
BLOCK_SCORES = DESIGN2CODE_METRICS[:4]  # Design2Code's low-level block-match/text/position/color
SLIDE_SCORES = ("aspect", "balance", "collision_free")  # the slide measures with a better end

_OPTIONS = {"chart": {"record": True}, "web": {"blocks": True}, "slide_html": {"blocks": True}}
_NEEDS = {"chart": "chartmimic", "web": "blocks", "slide_html": "blocks"}


def registry() -> dict[str, str]:
    """The render registry with the recording chart and block-finding web/slide renderers."""
    return {
        **RENDERERS,
        "chart": "render_service.metrics.chart_record:ChartRecordRenderer",
        "web": "render_service.metrics.web_blocks:BlockWebRenderer",
        "slide_html": "render_service.metrics.web_blocks:BlockSlideRenderer",
    }


@dataclasses.dataclass(frozen=True)
class ItemScore:
    id: str
    domain: str
    executed: bool
    scores: dict[str, float | None]
    error: str | None = None  # the candidate's error, or the reference's when it failed
    reference_failed: bool = False


def score_items(
    pairs: Sequence[tuple[RenderRequest, RenderRequest]],
    pool,
    *,
    clip_model_dir: str | None = None,
) -> dict[str, Any]:
    """{"items": [ItemScore], "aggregate": {domain: {...}}}: one render per program."""
    requests = []
    for candidate, reference in pairs:
        if candidate.domain != reference.domain:
            raise ValueError(
                f"pair {candidate.id!r}/{reference.id!r} mixes domains "
                f"{candidate.domain!r} and {reference.domain!r}: pair like with like"
            )
        requests += [scoring_options(candidate), scoring_options(reference)]
    results = pool.render(requests)
    clip = None
    if clip_model_dir is not None:
        from render_service.metrics.clip import ClipScorer

        clip = ClipScorer(clip_model_dir)
    items, candidates = [], defaultdict(list)
    for (candidate, _), ours, theirs in zip(pairs, results[0::2], results[1::2]):
        items.append(_score(candidate, ours, theirs, clip))
        if theirs.ok:
            candidates[candidate.domain].append(ours)
    return {"items": items, "aggregate": _aggregate(items, candidates)}


def scoring_options(request: RenderRequest) -> RenderRequest:
    """`request` asking the `registry()` renderers for the records its domain's scores read."""
    extra = _OPTIONS.get(request.domain, {})
    return dataclasses.replace(request, options={**request.options, **extra})


def _score(request: RenderRequest, ours: RenderResult, theirs: RenderResult, clip) -> ItemScore:
    domain = request.domain
    if not theirs.ok:
        return ItemScore(request.id, domain, ours.ok, {}, f"reference failed: {theirs.error}", True)
    needed = _NEEDS.get(domain)
    if needed is not None and needed not in theirs.metrics:
        raise ValueError(
            f"the pool's {domain} renderer returned no {needed!r} record: build the pool with "
            "RenderPool(config, registry=render_service.metrics.registry())"
        )
    record = ours.metrics.get(needed)  # a chart that failed after drawing still has one
    if domain == "chart":
        scores = chartmimic_scores(record, theirs.metrics["chartmimic"])
    elif domain == "web":
        similarity = _clip(clip, ours, theirs)
        scores = design2code_scores(record, theirs.metrics["blocks"], similarity)
    elif domain == "slide_html":
        similarity = _clip(clip, ours, theirs)
        scores = {
            **slide_scores(ours.metrics if ours.ok else None),
            **design2code_scores(record, theirs.metrics["blocks"], similarity),
        }
    else:
        scores = deck_geometry_scores(ours if ours.ok else None, theirs)
    return ItemScore(request.id, domain, ours.ok, scores, ours.error)


def primary_score(domain: str, scores: dict[str, float | None]) -> tuple[str, float]:
    """(name, value) of the one score a domain's benchmark table ranks by, for one item:
    charts, ChartMimic's low-level score (the mean of its four F1s); pages, Design2Code's final
    score where CLIP was computed, else the mean of its four low-level scores; HTML slides, the
    mean of the slide measures and that block mean (the reward's visual score); pptx decks, the
    mean geometry score."""
    mean = lambda names: float(np.mean([scores[name] for name in names]))
    if domain == "chart":
        return "low_level", mean(CHARTMIMIC_METRICS)
    if domain == "web":
        final = scores.get("final")
        return ("final", final) if final is not None else ("low_level", mean(BLOCK_SCORES))
    if domain == "slide_html":
        return "visual", float(np.mean([scores[k] for k in SLIDE_SCORES] + [mean(BLOCK_SCORES)]))
    return "geometry", mean(GEOMETRY_METRICS)


def _clip(clip, ours: RenderResult, theirs: RenderResult) -> float | None:
    if clip is None:
        return None
    if not ours.ok:
        return 0.0
    boxes = [block_boxes(result.metrics["blocks"]) for result in (ours, theirs)]
    return clip.similarity(ours.image_png, theirs.image_png, *boxes)


def _aggregate(items: list[ItemScore], candidates: dict[str, list[RenderResult]]) -> dict:
    by_domain: dict[str, list[ItemScore]] = defaultdict(list)
    for item in items:
        by_domain[item.domain].append(item)
    report = {}
    for domain, group in by_domain.items():
        scored = [item for item in group if not item.reference_failed]
        summary: dict[str, Any] = {
            "items": len(scored),
            "reference_failures": len(group) - len(scored),
            "execution_rate": float(np.mean([i.executed for i in scored])) if scored else 0.0,
        }
        names = dict.fromkeys(name for item in scored for name in item.scores)
        for name in names:
            values = [item.scores[name] for item in scored]
            # None: not computed (CLIP without a model folder) — reported as such, never 0.
            summary[name] = None if None in values else float(np.mean(values))
        if scored:
            primary = [primary_score(domain, item.scores) for item in scored]
            summary["primary"] = primary[0][0]
            summary[primary[0][0]] = float(np.mean([value for _, value in primary]))
        summary["defect_rates"] = defect_rates(candidates[domain])
        report[domain] = summary
    return report
