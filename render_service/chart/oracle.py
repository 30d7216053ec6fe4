"""A second opinion on the chart detectors, from pixels: artists drawn alone, their ink compared.

The detectors reason about geometry (boxes, sampled outlines, turned rectangles). This oracle
does not: after the chart is drawn, it draws artists one at a time on the figure's own Agg
renderer and counts the pixels they paint, with the clipping matplotlib applies:
- legend_occlusion: ink of the figure's data inside a legend's box (the legend is drawn over
  it); at least `LEGEND_PX` pixels;
- overflow (data drawn with clip_on=False): ink of one data artist more than `REACH_PX`
  outside its axes' box (a default marker centred on the spine reaches 4 px out); at least
  `OUTSIDE_PX` pixels;
- text_overlap: ink of two texts, each drawn alone and grown by one pixel, meeting in at least
  `MEETING_PX` pixels (texts of one legend are laid out apart by matplotlib).

It runs in the sandboxed child after the normal render (`OracleRenderer`, requests with
`options={"oracle": True}`) and reports counts in `RenderResult.metrics["oracle"]`. Use it on
programs this project made (injected cases, labeled sets):

    PYTHONPATH=$PWD python -m render_service.chart.oracle [--injected 60] [--seed 0] [DIR ...]

prints how often it agrees with the detectors on each kind, and every disagreement.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from scipy.ndimage import binary_dilation

from render_service.chart.renderer import ChartRenderer, ChartSettings, drawn_chart
from render_service.chart.scene import Scene
from render_service.types import RenderRequest, RenderResult

LEGEND_PX, OUTSIDE_PX, REACH_PX, MEETING_PX = 8, 40, 6, 2
# An anti-aliased pixel this faint (alpha out of 255) is not ink.
INK_ALPHA = 64
KINDS = ("legend_occlusion", "overflow", "text_overlap")


def oracle_chart(scratch: str, code: str, settings: dict) -> dict:
    """In the sandboxed child: the normal render, then the oracle's counts in its metrics."""
    del scratch
    result, scene = drawn_chart(code, ChartSettings(**{**settings, "trace": True}))
    if scene is not None:
        result.setdefault("metrics", {})["oracle"] = verdicts(scene)
    return result


def verdicts(scene: Scene) -> dict[str, list[str]]:
    """Per kind, a short note for each finding (empty: the pixels show none)."""
    found: dict[str, list[str]] = {kind: [] for kind in KINDS}
    for index, placed in enumerate(scene.figures):
        fig = placed.figure
        renderer = fig.canvas.get_renderer()
        height = renderer.height
        data = [item for item in scene.data if item.figure == index]
        under = _ink(renderer, [item.artist for item in data]) if data else None
        for legend in (item for item in scene.legends if item.figure == index):
            if under is None:
                continue
            box = _rows_cols(legend.artist.get_window_extent(renderer), height, inset=1)
            covered = int(under[box].sum())
            if covered >= LEGEND_PX:
                found["legend_occlusion"].append(f"{covered} px of data under a legend")
        for item in data:
            if item.artist.get_clip_on() or item.axes is None:
                continue
            ink = _ink(renderer, [item.artist])
            inside = np.zeros_like(ink)
            inside[_rows_cols(item.axes.get_window_extent(renderer), height, -REACH_PX)] = True
            outside = int((ink & ~inside).sum())
            if outside >= OUTSIDE_PX:
                found["overflow"].append(f"{outside} px of {type(item.artist).__name__} outside")
        texts = [item for item in scene.texts if item.figure == index]
        masks = [binary_dilation(_ink(renderer, [item.artist])) for item in texts]
        for i, a in enumerate(texts):
            for j in range(i + 1, len(texts)):
                b = texts[j]
                if a.role == b.role == "legend_text" and a.group == b.group:
                    continue
                meeting = int((masks[i] & masks[j]).sum())
                if meeting >= MEETING_PX:
                    found["text_overlap"].append(f"'{a.text[:20]}' meets '{b.text[:20]}'")
    return found


def _ink(renderer, artists) -> np.ndarray:
    """Where `artists`, drawn alone with their own clipping, paint (rows top-down)."""
    renderer.clear()
    for artist in artists:
        artist.draw(renderer)
    return np.asarray(renderer.buffer_rgba())[..., 3] >= INK_ALPHA


def _rows_cols(extent, height: int, inset: int):
    """Array slices for a display-space box (origin bottom-left), moved in by `inset` px."""
    top = max(int(np.floor(height - extent.y1)) + inset, 0)
    bottom = max(int(np.ceil(height - extent.y0)) - inset, 0)
    left = max(int(np.floor(extent.x0)) + inset, 0)
    right = max(int(np.ceil(extent.x1)) - inset, 0)
    return slice(top, bottom), slice(left, right)


class OracleRenderer(ChartRenderer):
    """The chart renderer; requests with `options={"oracle": True}` also carry the oracle's
    findings in `RenderResult.metrics["oracle"]`."""

    def child_function(self, request: RenderRequest):
        return oracle_chart if request.options.get("oracle") else super().child_function(request)


def detector_says(result: RenderResult) -> dict[str, bool]:
    """The same three questions answered by the detectors: texts over texts (not texts
    running into another axes' plot), data out of its plot area (not containers past the
    figure's edge), a legend over data."""
    defects = result.defects
    return {
        "legend_occlusion": any(d.kind == "legend_occlusion" for d in defects),
        "overflow": any(d.kind == "overflow" and "clip_on=False" in d.message for d in defects),
        "text_overlap": any(
            d.kind == "text_overlap" and "into another axes" not in d.message for d in defects
        ),
    }


def agreement(names: list[str], results: list[RenderResult]):
    """(share of (case, kind) answers on which the oracle and the detectors agree, the
    disagreements as (case, kind, detectors' answer, oracle's notes))."""
    answers, disagreements = 0, []
    for name, result in zip(names, results, strict=True):
        oracle = result.metrics.get("oracle")
        if not result.ok or oracle is None:
            continue
        for kind, says in detector_says(result).items():
            answers += 1
            if says != bool(oracle[kind]):
                disagreements.append((name, kind, says, oracle[kind]))
    return (1 - len(disagreements) / answers if answers else 1.0), disagreements


REGISTRY_ENTRY = "render_service.chart.oracle:OracleRenderer"


def main(argv=None) -> int:
    from render_service.config import RenderConfig
    from render_service.labeled import DEFAULT_DIRS, injected_cases, load_cases
    from render_service.pool import RenderPool
    from render_service.renderers import RENDERERS

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dirs", nargs="*", help="labeled chart case folders")
    parser.add_argument("--injected", type=int, default=0, help="injected chart cases to add")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)
    cases = load_cases(args.dirs or ([] if args.injected else DEFAULT_DIRS))
    cases += injected_cases("chart", args.injected, args.seed)
    requests = [RenderRequest(c.name, "chart", c.code, options={"oracle": True}) for c in cases]
    config = RenderConfig(workers=args.workers) if args.workers else RenderConfig()
    with RenderPool(config, registry={**RENDERERS, "chart": REGISTRY_ENTRY}) as pool:
        results = pool.render(requests)
    share, disagreements = agreement([c.name for c in cases], results)
    seen = {
        kind: sum(bool(r.metrics.get("oracle", {}).get(kind)) for r in results) for kind in KINDS
    }
    print(
        f"{len(cases)} chart cases; oracle and detectors agree on {share:.1%} of answers; "
        "the pixels show " + ", ".join(f"{kind} in {n}" for kind, n in seen.items())
    )
    for name, kind, says, notes in disagreements:
        print(f"  {name} {kind}: detectors {'yes' if says else 'no'}, pixels {notes[:3] or 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
