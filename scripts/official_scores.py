"""Scores the ChartMimic parity pairs with ChartMimic's official evaluators, once, and writes
what they give to tests/render_service/metrics/official_scores.json, which the parity test
reads as its expected values. Nothing of the official code is in this repository: the
script runs a checkout of it that you make outside, in a virtual environment of its era.

The run that wrote the committed file (Python 3.11, 2026-12-07):

    python3 -m venv /work/official/venv
    /work/official/venv/bin/pip install numpy==1.26.4 matplotlib==3.8.4 colormath==3.0.0 \\
        beautifulsoup4==4.12.3 'scipy<1.14' opencv-python-headless==4.10.0.84 scikit-image \\
        scikit-learn networkx squarify matplotlib-venn python-dotenv playwright pillow tqdm
    # ChartMimic (github ChartMimic/ChartMimic, commit 7ee16fbac40e70e2f3d5a79bbc47ca1e867c5575):
    #   chart2code/utils/evaluator/{text,layout,chart_type,color}_evaluator.py, their
    #   *_prefix.py files and eval_configs/global_config.py, copied unchanged into
    #   /work/official/chartmimic (and empty __init__.py files); color_utils.py, which the
    #   stored copy of that repository lacks, as ports of ChartMimic's evaluation carry it.
    for k in 0 1 2; do  # three processes, each a third of the pairs (about 2 minutes a pair here)
      /work/official/venv/bin/python scripts/official_scores.py chartmimic \
          /work/official/chartmimic --shard $k/3 &
    done; wait

Design2Code is not scored by this script yet: `Design2Code/metrics/visual_score.py` at
NoviScl/Design2Code's HEAD (0f57d58) does not parse (an IndentationError at line 463), and the
copy of that repository that could be read for this lacks the two modules it imports
(`Design2Code/metrics/ocr_free_utils.py`, `Design2Code/data_utils/dedup_post_gen.py`); the
older `Pix2Code/metrics/` copies predate two of the rules the pairs check (lowercased block
text, `figcaption` on the tag list). design2code_pairs.py keeps values worked out by hand.

It needs only the standard library and the official code's own dependencies (it is run by the
official venv, which has no project install): the pairs are read from the test folder's
`*_pairs.py` files, which import nothing of the project.

How the official code is driven, as its own pipeline drives it:

- ChartMimic: a candidate goes through `chart2code/utils/post_process/code_interpreter.py`'s
  wrapping (indented into `try:` ... `except Exception: pass`, `plt.savefig`/`plt.show` lines
  removed, then `plt.savefig("<name>.pdf")`); a gold program ends with `plt.savefig` of its
  name, as the dataset's do. Each pair gets fresh `TextEvaluator(use_position=False,
  use_axs=False)`, `ChartTypeEvaluator()`, `ColorEvaluator()` and `LayoutEvaluator()` (the
  settings of `tasks/code4evaluation.py`; fresh, because `ChartTypeEvaluator` keeps the last
  item's metrics when a candidate logs nothing), run from PROJECT_PATH with the venv's python
  first on PATH (the evaluators run `python3 FILE`). Scores are each evaluator's `f1`. File
  names are `pair_NN`, and `box_NN` for a boxplot pair, as the dataset names its box charts
  (the colour evaluator guards an empty gold colour list only for those).
"""

from __future__ import annotations

import argparse
import fcntl
import importlib.util
import json
import os
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAIRS = ROOT / "tests" / "render_service" / "metrics"
OUT = PAIRS / "official_scores.json"


def load_pairs(name: str) -> list:
    spec = importlib.util.spec_from_file_location(name, PAIRS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.PAIRS


def interpreted(code: str, pdf: str) -> str:
    """A generated program as ChartMimic's code_interpreter.py writes it before evaluation."""
    code = code.replace("\n", "\n    ")
    code = re.sub(r"plt\.savefig\(.*\n*", "", code, flags=re.S)
    code = re.sub(r"plt.show\(.*\n*", "", code, flags=re.S)
    return "try:\n    " + code.strip() + f'\nexcept Exception as e:\n    pass\nplt.savefig("{pdf}")'


def record(benchmark: str, name: str, scores: dict[str, float]) -> None:
    """Adds one pair's scores to the JSON file (locked: shards write it side by side)."""
    with open(OUT, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        stored = json.loads(f.read() or "{}")
        stored.setdefault(benchmark, {})[name] = scores
        f.seek(0)
        f.truncate()
        f.write(json.dumps(stored, indent=1, sort_keys=True) + "\n")


def chartmimic(official: Path, shard: int, shards: int) -> None:
    os.environ["PROJECT_PATH"] = str(official)
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    os.chdir(official)
    sys.path.insert(0, str(official))
    from chart2code.utils.evaluator.chart_type_evaluator import ChartTypeEvaluator
    from chart2code.utils.evaluator.color_evaluator import ColorEvaluator
    from chart2code.utils.evaluator.layout_evaluator import LayoutEvaluator
    from chart2code.utils.evaluator.text_evaluator import TextEvaluator

    work = Path(tempfile.mkdtemp(prefix="chartmimic-pairs-"))
    for index, (name, _, gold, candidate, _) in enumerate(load_pairs("chartmimic_pairs")):
        if index % shards != shard:
            continue
        stem = f"{'box' if 'boxplot' in gold else 'pair'}_{index:02d}"
        (work / "gold").mkdir(exist_ok=True)
        (work / "generated").mkdir(exist_ok=True)
        gold_file, generated_file = work / "gold" / f"{stem}.py", work / "generated" / f"{stem}.py"
        gold_file.write_text(gold + f'plt.savefig("{stem}.pdf")\n')
        generated_file.write_text(interpreted(candidate, f"{stem}.pdf"))
        evaluators = {
            "text": TextEvaluator(use_position=False, use_axs=False),
            "type": ChartTypeEvaluator(),
            "color": ColorEvaluator(),
            "layout": LayoutEvaluator(),
        }
        for evaluator in evaluators.values():
            evaluator(generation_code_file=str(generated_file), golden_code_file=str(gold_file))
        scores = {key: float(e.metrics["f1"]) for key, e in evaluators.items()}
        record("chartmimic", name, scores)
        print(name, scores, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("benchmark", choices=["chartmimic"])
    parser.add_argument("official", type=Path, help="the folder holding the official code")
    parser.add_argument(
        "--shard", default="0/1", help="K/N: score the pairs whose index is K mod N"
    )
    args = parser.parse_args()
    shard, shards = (int(n) for n in args.shard.split("/"))
    chartmimic(args.official.resolve(), shard, shards)


if __name__ == "__main__":
    main()
