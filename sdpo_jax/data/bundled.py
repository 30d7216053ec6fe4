"""The bundled sets of the tiny recipes: generated, rendered once, cached as JSONL + PNG.

`ensure_bundled` writes `<root>/<task>-seed<seed>-v<VERSION>/{train,validation,heldout}.jsonl`
and `images/` the first time a (task, seed) is asked for, rendering every gold program through
the render service (the renderer the rewards use), and reuses the folder afterwards. Writing
goes to a temporary folder renamed into place at the end, so an interrupted build never leaves a
half set behind.

A target must show what a careful author would draw: when the detectors find a defect in a gold
render (or it fails), the generator draws another spec for that item, up to `MAX_ATTEMPTS`
times, so the bundled targets carry no defects of their own.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from tqdm import tqdm

from render_service.programs import synthetic
from render_service.types import RenderRequest, RenderResult
from sdpo_jax.data.records import PromptRecord, user_prompt, write_jsonl

# Tune on train rewards or on the validation split; held-out is for reporting only. The train
# split is large because the warm start learns the programs from it: with 256 items the tiny
# policy memorised their values and, shown a new image, wrote junk inside the data lists.
SPLITS = {"train": 1024, "validation": 32, "heldout": 64}
VERSION = 3  # bump when the generators or splits change, so stale caches are not reused
CHUNK = 32  # programs per render call: progress shows between calls
MAX_ATTEMPTS = 8

Render = Callable[[Sequence[RenderRequest]], list[RenderResult]]


def default_root() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "visual_sdpo" / "bundled"


def bundled_folder(task: str, seed: int, root: Path | None = None) -> Path:
    return (root or default_root()) / f"{task}-seed{seed}-v{VERSION}"


def ensure_bundled(task: str, *, render: Render, root: Path | None = None, seed: int = 0) -> Path:
    """The folder of the bundled `task` set for `seed`, built with `render` when missing."""
    folder = bundled_folder(task, seed, root)
    if (folder / "heldout.jsonl").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    items = synthetic.items(task, sum(SPLITS.values()), seed=seed)
    results = _render_all(items, render, f"building the bundled {task} set (once) in {folder}")
    for attempt in range(1, MAX_ATTEMPTS):
        redo = [i for i, result in enumerate(results) if not result.clean]
        if not redo:
            break
        for i in redo:
            items[i] = synthetic.item(task, seed, i, attempt)
        for i, result in zip(redo, _render_all([items[i] for i in redo], render, None)):
            results[i] = result
    unfit = [(item.id, r) for item, r in zip(items, results) if not r.clean]
    if unfit:
        item_id, result = unfit[0]
        why = result.error or "; ".join(d.message for d in result.defects)
        raise RuntimeError(
            f"bundled gold program {item_id} has no clean render after {MAX_ATTEMPTS} specs: {why}"
        )
    with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
        staging = Path(tmp)
        (staging / "images").mkdir()
        records = []
        for item, result in zip(items, results, strict=True):
            image = staging / "images" / f"{item.id}.png"
            image.write_bytes(result.image_png)
            # Charts and pages are reproduced from their image; slides are written from the brief.
            shown = None if task == "slide" else str(image)
            records.append(
                PromptRecord(
                    item.id, task, user_prompt(shown, item.instruction), str(image), item.code
                )
            )
        start = 0
        for split, count in SPLITS.items():
            write_jsonl(records[start : start + count], staging / f"{split}.jsonl")
            start += count
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
        # TemporaryDirectory's cleanup must not fail on the moved folder.
        staging.mkdir()
    return folder


def _render_all(
    items: Sequence[synthetic.Item], render: Render, desc: str | None
) -> list[RenderResult]:
    requests = [RenderRequest(id=it.id, domain=it.domain, code=it.code) for it in items]
    results: list[RenderResult] = []
    with tqdm(
        total=len(requests), desc=desc, unit="render", dynamic_ncols=True, disable=desc is None
    ) as progress:
        for first in range(0, len(requests), CHUNK):
            results += render(requests[first : first + CHUNK])
            progress.update(len(results) - progress.n)
    return results
