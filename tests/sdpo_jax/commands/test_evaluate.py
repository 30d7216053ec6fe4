"""The evaluation command on the tiny model with real rendering: the three reports and their
structure, scored failures for bad items, one-line errors for bad input, and the comparison."""

import dataclasses
import json
from pathlib import Path

import jax
import numpy as np
import pytest
from flax import nnx
from PIL import Image

from models.qwen3_vl import save_hf
from models.qwen3_vl.tokenizer import TINY_FOLDER
from render_service import RenderConfig, RenderPool, SandboxLimits, metrics
from sdpo_jax.commands import eval_compare, evaluate
from sdpo_jax.config import load_config
from sdpo_jax.data.records import read_chartmimic
from sdpo_jax.loop import rundir
from sdpo_jax.loop.checkpoints import Checkpointer
from sdpo_jax.loop.train_step import init_state, make_optimizer
from sdpo_jax.runtime import load_model
from tests.sdpo_jax.conftest import small_bundled_sets

BAR = """import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(4, 3))
ax.bar(["a", "b", "c"], [3, 1, 2], color="tab:red")
ax.set_title("Sales")
"""
LINE = """import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(4, 3))
ax.plot([1, 2, 3], [2, 4, 3], color="green")
ax.set_xlabel("day")
"""
QUICK = ["sampling.max_new_tokens=8", "train.batch_prompts=2", "render.limits.wall_seconds=5"]
# Fresh tiny weights: these tests check the mechanics, not the shipped policy.
FRESH = "model.path=none"


def chartmimic_folder(root: Path) -> Path:
    """ChartMimic layout: a good item, one whose target image is corrupt, and a third the
    limit leaves out."""
    folder = root / "ori_500"
    folder.mkdir(parents=True)
    for stem, code in (("a_bar", BAR), ("b_broken", LINE), ("c_line", LINE)):
        (folder / f"{stem}.py").write_text(code)
        Image.new("RGB", (120, 90), (255, 255, 255)).save(folder / f"{stem}.png")
    (folder / "b_broken.png").write_bytes(b"not a png")
    return root


@pytest.fixture
def used_params(monkeypatch):
    """The parameters of every model the evaluation generates with."""
    used = []
    generate = evaluate.generate_programs

    def spy(config, model, *rest):
        used.append(nnx.state(model, nnx.Param))
        return generate(config, model, *rest)

    monkeypatch.setattr(evaluate, "generate_programs", spy)
    return used


def assert_same_params(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    data = chartmimic_folder(root / "chartmimic")
    out = root / "out"
    evaluate.main(
        ["chart_tiny", "--data", str(data), "eval.limit=2", f"eval.out_dir={out}", FRESH, *QUICK]
    )
    return out


@pytest.mark.slow
def test_tiny_eval_writes_the_three_reports(report_dir):
    report = json.loads((report_dir / "report.json").read_text())
    assert report["config"] == "chart_tiny"
    assert report["model"] == "fresh tiny weights (seed 0)"
    assert report["data"].startswith("chartmimic ") and report["limit"] == 2
    chart = report["benchmarks"]["ChartMimic"]
    assert chart["items"] == 1 and chart["reference_failures"] == 0
    for metric in ("execution_rate", "text", "layout", "type", "color"):
        assert 0.0 <= chart[metric] <= 1.0
    assert set(chart["defect_rates"]) >= {"text_overlap", "clipped_text"}
    assert [item["id"] for item in report["items"]] == ["ori_500/a_bar"]
    for item in report["items"]:
        assert set(item["scores"]) == {"text", "layout", "type", "color"}
        assert isinstance(item["code"], str)

    md = (report_dir / "report.md").read_text()
    assert "- model: fresh tiny weights (seed 0)" in md
    assert f"- data: {report['data']}" in md
    assert "## ChartMimic" in md and "| execution_rate |" in md
    assert "| ori_500/a_bar |" in md

    with Image.open(report_dir / "report.png") as png:
        # one bar panel (3 inches) and one example row (2.6 inches) at 100 dpi
        assert png.size == (1000, 560)


@pytest.mark.slow
def test_a_record_whose_prompt_does_not_load_is_a_data_problem(report_dir):
    report = json.loads((report_dir / "report.json").read_text())
    (problem,) = report["data_problems"]
    assert problem.startswith("ori_500/b_broken: UnidentifiedImageError")
    assert "b_broken" not in [item["id"] for item in report["items"]]
    md = (report_dir / "report.md").read_text()
    assert "## Data records not scored" in md and f"- {problem}" in md


def test_scoring_the_gold_scores_one_and_a_hang_scores_zero(tmp_path):
    records = read_chartmimic(chartmimic_folder(tmp_path))
    good, _, other = records
    candidates = [
        evaluate.Candidate(good, good.gold),
        evaluate.Candidate(other, "import time\nwhile True:\n    time.sleep(0.1)\n"),
    ]
    config = RenderConfig(workers=2, limits=SandboxLimits(wall_seconds=3, cpu_seconds=3))
    with RenderPool(config, registry=metrics.registry()) as pool:
        report, results = evaluate.score(pool, candidates)
    same, hang = report["items"]
    assert same.id == good.id and same.executed
    assert same.scores == {"text": 1.0, "layout": 1.0, "type": 1.0, "color": 1.0}
    assert hang.id == other.id and not hang.executed and "Timeout" in hang.error
    assert set(hang.scores.values()) == {0.0}
    assert results[0].ok and results[0].image_png and not results[1].ok
    assert report["aggregate"]["chart"]["execution_rate"] == 0.5


@pytest.mark.slow
def test_a_checkpoint_is_restored_and_scored(tmp_path, used_params):
    """A run directory holding one checkpoint of perturbed weights: the evaluation names it,
    writes beside it, and generates with the checkpoint's parameters."""
    config = load_config("chart_tiny", [FRESH, f"run_dir={tmp_path / 'run'}"])
    run_dir, _ = rundir.prepare(config, ["test"])
    model, _ = load_model(config.model, seed=config.train.seed, mesh=None, rules=None)
    _, state = init_state(model, make_optimizer(config.optim, 1), config.teacher, config.objective)
    state = dataclasses.replace(state, params=jax.tree.map(lambda x: x + 0.25, state.params))
    with Checkpointer(run_dir / "checkpoints", save_every=1, keep=1) as ckpt:
        ckpt.save(3, state, data={}, meta={}, force=True)
    data = chartmimic_folder(tmp_path / "chartmimic")
    out = evaluate.main(
        ["chart_tiny", "--ckpt", str(run_dir), "--data", str(data), "eval.limit=1", *QUICK]
    )
    assert out == run_dir / "eval" / "step3"
    report = json.loads((out / "report.json").read_text())
    assert report["model"] == f"{run_dir} step 3 (chart_tiny)"
    assert len(report["items"]) == 1
    assert_same_params(used_params[0], state.params)


def test_an_hf_folder_is_scored_zero_shot(tmp_path, used_params):
    config = load_config("chart_tiny", [FRESH])
    model, _ = load_model(config.model, seed=5, mesh=None, rules=None)
    save_hf(model, tmp_path / "hf", dtype=np.float32, source=TINY_FOLDER)
    data = chartmimic_folder(tmp_path / "chartmimic")
    hf, out = tmp_path / "hf", tmp_path / "out"
    evaluate.main(
        ["chart_tiny", "--model", str(hf), "--data", str(data), f"eval.out_dir={out}", *QUICK]
    )
    report = json.loads((out / "report.json").read_text())
    assert report["model"] == f"HF folder {hf}"
    assert_same_params(used_params[0], nnx.state(model, nnx.Param))


def test_data_paths_select_their_source(tmp_path):
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "2.png").write_bytes(b"")
    (tmp_path / "pages" / "2.html").write_text("<p>hi</p>")
    pages = str(tmp_path / "pages")
    assert evaluate.data_overrides(pages) == [
        "data.source=design2code",
        f"data.path={pages}",
        "data.task=web",
    ]
    charts = str(chartmimic_folder(tmp_path / "charts"))
    assert evaluate.data_overrides(charts) == [
        "data.source=chartmimic",
        f"data.path={charts}",
        "data.task=chart",
    ]
    (tmp_path / "set.jsonl").write_text("")
    assert evaluate.data_overrides(str(tmp_path / "set.jsonl")) == [
        "data.source=jsonl",
        f"data.path={tmp_path / 'set.jsonl'}",
    ]


@pytest.mark.parametrize("kind", ["missing", "not_a_run"])
def test_a_checkpoint_that_does_not_exist_is_one_line(tmp_path, kind):
    ckpt = tmp_path / "runs" / "nope"
    if kind == "not_a_run":
        ckpt.mkdir(parents=True)
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main(["chart_tiny", "--ckpt", str(ckpt), f"eval.out_dir={tmp_path}"])
    message = str(exit_info.value.code)
    assert message.startswith("error: ") and "\n" not in message
    assert str(ckpt) in message
    assert ("no such run directory" if kind == "missing" else "no config.txt") in message


def test_a_model_folder_that_does_not_exist_is_one_line(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main(["chart_tiny", "--model", str(tmp_path / "base")])
    message = str(exit_info.value.code)
    assert message.startswith("config error: model.path=") and "\n" not in message


def test_a_data_folder_in_the_wrong_layout_is_one_line(tmp_path):
    (tmp_path / "charts").mkdir()
    (tmp_path / "charts" / "bar.png").write_bytes(b"")
    (tmp_path / "charts" / "bar.json").write_text("{}")
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main(["chart_tiny", "--data", str(tmp_path)])
    message = str(exit_info.value.code)
    assert message.startswith("error: --data ") and "\n" not in message
    assert "ChartMimic layout" in message and "Design2Code layout" in message


@pytest.mark.slow
def test_compare_prints_both_columns_and_differences(report_dir, tmp_path, capsys):
    better = json.loads((report_dir / "report.json").read_text())
    better["model"] = "trained"
    better["benchmarks"]["ChartMimic"]["text"] += 0.25
    better["benchmarks"]["ChartMimic"]["clip"] = None
    (tmp_path / "report.json").write_text(json.dumps(better))
    eval_compare.main([str(report_dir), str(tmp_path / "report.json")])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("A: fresh tiny weights (seed 0) on chartmimic ")
    assert lines[1].startswith("B: trained on chartmimic ")
    assert lines[3].split() == ["benchmark", "metric", "A", "B", "B", "-", "A"]
    text = next(line.split() for line in lines if line.split()[1:2] == ["text"])
    a = json.loads((report_dir / "report.json").read_text())["benchmarks"]["ChartMimic"]["text"]
    assert text == ["ChartMimic", "text", f"{a:.3f}", f"{a + 0.25:.3f}", "+0.250"]
    clip = next(line.split() for line in lines if line.split()[1:2] == ["clip"])
    assert clip == ["ChartMimic", "clip", "n/a", "n/a", "n/a"]
    assert any(line.split()[1:3] == ["defects:", "text_overlap"] for line in lines[4:])


def test_compare_refuses_what_is_not_a_report(tmp_path):
    (tmp_path / "report.json").write_text("[1, 2]")
    with pytest.raises(SystemExit) as exit_info:
        eval_compare.main([str(tmp_path), str(tmp_path)])
    message = str(exit_info.value.code)
    assert message.startswith("error: ") and "not an evaluation report" in message


@pytest.mark.slow
@pytest.mark.parametrize(
    ("recipe", "benchmark"), [("web_tiny", "Design2Code"), ("slide_tiny", "Slides (HTML)")]
)
def test_make_eval_scores_the_shipped_policy_on_bundled_pages(recipe, benchmark, tmp_path):
    """`make eval CONFIG=<recipe> ARGS="eval.limit=2"` as its recipe runs it (make -n prints the
    command; the reports go to tmp_path instead of the run folder): the shipped warm start
    writes two pages of the bundled held-out set, they render, and the reports hold the
    benchmark's scores, some of them above zero."""
    import subprocess

    root = Path(__file__).parents[3]
    printed = subprocess.run(
        ["make", "-n", "eval", f"CONFIG={recipe}", "ARGS=eval.limit=2"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (command,) = [line for line in printed.splitlines() if " -m sdpo_jax evaluate " in line]
    argv = command.split(" -m sdpo_jax evaluate ", 1)[1].split()
    assert argv == [recipe, "eval.limit=2"]
    with small_bundled_sets(tmp_path / "cache"):
        out = evaluate.main([*argv, f"eval.out_dir={tmp_path / 'out'}"])

    report = json.loads((out / "report.json").read_text())
    assert report["data"].startswith("bundled") and len(report["items"]) == 2
    aggregate = report["benchmarks"][benchmark]
    assert aggregate["items"] == 2 and aggregate["execution_rate"] > 0
    scores = [v for item in report["items"] for v in item["scores"].values() if v is not None]
    assert scores and all(0.0 <= v <= 1.0 for v in scores) and max(scores) > 0
    assert f"## {benchmark}" in (out / "report.md").read_text()
    assert (out / "report.png").stat().st_size > 0
