"""TensorBoard output and run directories, read back with TensorBoard's own reader."""

import io
import json
import os

import numpy as np
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from render_service.types import Defect
from sdpo_jax.config import load_config
from sdpo_jax.loop import rundir
from sdpo_jax.loop.board import Board
from sdpo_jax.loop.pictures import KIND_COLORS, credited_code, draw_defects, target_vs_render


def _png(color, size=(64, 48)):
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def test_event_file_holds_scalar_image_text_and_histogram_tags(tmp_path):
    board = Board(str(tmp_path))
    board.scalars(3, {"loss/total": 1.5, "reward/mean": 0.25})
    board.image(3, "renders/0", target_vs_render(_png("white"), None, []))
    board.text(3, "completions/0", credited_code("a = 1\nb = 2\n", [2], {2: "too close"}))
    board.histogram(3, "advantages", [0.1, -0.2, 0.3])
    board.histogram(3, "empty", [])  # nothing to show: no tag rather than an error
    board.close()
    events = EventAccumulator(str(tmp_path), size_guidance={"tensors": 0, "images": 0})
    events.Reload()
    tags = events.Tags()
    assert set(tags["scalars"]) == {"loss/total", "reward/mean"}
    assert tags["images"] == ["renders/0"] and tags["histograms"] == ["advantages"]
    assert "completions/0/text_summary" in tags["tensors"]
    (loss,) = events.Scalars("loss/total")
    assert (loss.step, loss.value) == (3, 1.5)


def test_defect_boxes_are_drawn_in_their_kind_color():
    defect = Defect("text_overlap", 1.0, (10, 10, 40, 30), "labels overlap", (3,))
    image = np.asarray(draw_defects(_png("white"), [defect, Defect("overflow", 1.0, None, "x")]))
    assert tuple(image[20, 10]) == KIND_COLORS["text_overlap"]  # on the left edge
    assert tuple(image[20, 25]) == (255, 255, 255)  # inside the box: untouched


def test_side_by_side_keeps_both_pictures():
    pair = target_vs_render(_png("red", (100, 50)), _png("blue", (50, 50)), [])
    assert pair.shape == (360, 720 + 8 + 360, 3)
    assert tuple(pair[100, 100]) == (255, 0, 0) and tuple(pair[100, 900]) == (0, 0, 255)


def test_credited_lines_are_marked():
    text = credited_code("x = 1\ny = 2\nz = 3", [2], {2: "clipped"})
    lines = text.splitlines()
    assert lines[1].strip().startswith(">>") and "# <- clipped" in lines[1]
    assert not lines[0].strip().startswith(">>") and not lines[2].strip().startswith(">>")


def test_run_dir_describes_itself_and_notices_a_resume(tmp_path):
    config = load_config("chart_tiny", [f"run_dir={tmp_path / 'run'}"])
    path, resumed = rundir.prepare(config, ["train", "chart_tiny"])
    assert not resumed and path == tmp_path / "run"
    assert f"run_dir={tmp_path / 'run'}" in (path / "config.txt").read_text()
    assert json.loads((path / "config.json").read_text())["train"]["steps"] == config.train.steps
    versions = json.loads((path / "versions.json").read_text())
    assert versions["jax"] != "not installed"
    assert versions["machine"].endswith(f"{os.cpu_count()} cores")
    changed = load_config("chart_tiny", [f"run_dir={tmp_path / 'run'}", "train.steps=99"])
    _, resumed = rundir.prepare(changed, ["train", "chart_tiny", "train.steps=99"])
    assert resumed
    assert "train.steps=99" in (path / "config.1.txt").read_text()
    assert len((path / "commands.txt").read_text().splitlines()) == 2
