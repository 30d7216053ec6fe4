"""The bundled sets of the tiny recipes: generated, rendered once, cached as JSONL + PNG.

`ensure_bundled` writes `<root>/<task>-seed<seed>/{train,heldout}.jsonl` and `images/` the
first time a (task, seed) is asked for, rendering every gold program through the render service
(the renderer the rewards use), and reuses the folder afterwards. Writing goes to a temporary
folder renamed into place at the end, so an interrupted build never leaves a half set behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from tqdm import tqdm

from render_service.types import RenderRequest, RenderResult
from sdpo_jax.data import synthetic
from sdpo_jax.data.records import PromptRecord, user_prompt, write_jsonl

SPLITS = {"train": 256, "heldout": 64}
CHUNK = 32  # programs per render call: progress shows between calls

Render = Callable[[Sequence[RenderRequest]], list[RenderResult]]


def default_root() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "visual_sdpo" / "bundled"


def ensure_bundled(task: str, *, render: Render, root: Path | None = None, seed: int = 0) -> Path:
    """The folder of the bundled `task` set for `seed`, built with `render` when missing."""
    folder = (root or default_root()) / f"{task}-seed{seed}"
    if (folder / "heldout.jsonl").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    items = synthetic.items(task, sum(SPLITS.values()), seed=seed)
    requests = [RenderRequest(id=it.id, domain=it.domain, code=it.code) for it in items]
    results = []
    desc = f"building the bundled {task} set (once) in {folder}"
    with tqdm(total=len(requests), desc=desc, unit="render", dynamic_ncols=True) as progress:
        for first in range(0, len(requests), CHUNK):
            results += render(requests[first : first + CHUNK])
            progress.update(len(results) - progress.n)
    with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
        staging = Path(tmp)
        (staging / "images").mkdir()
        records = []
        for item, result in zip(items, results, strict=True):
            if not result.ok or result.image_png is None:
                raise RuntimeError(f"bundled gold program {item.id} did not render: {result.error}")
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
