"""Prompt records: JSONL round trip, published benchmark layouts, and bad input named."""

import json

import pytest

from sdpo_jax.data.records import (
    BadSource,
    PromptRecord,
    read_chartmimic,
    read_design2code,
    read_jsonl,
    user_prompt,
    write_jsonl,
)


def test_jsonl_round_trip_keeps_messages_and_resolves_images(tmp_path):
    (tmp_path / "img").mkdir()
    image = tmp_path / "img" / "a.png"
    image.write_bytes(b"png")
    records = [
        PromptRecord("a", "chart", user_prompt(str(image), "make it"), str(image), "print(1)"),
        PromptRecord("b", "slide", user_prompt(None, "a slide about tea")),
    ]
    write_jsonl(records, tmp_path / "set.jsonl")
    first = json.loads((tmp_path / "set.jsonl").read_text().splitlines()[0])
    assert first["messages"][0]["content"][0] == {"type": "image", "image": "img/a.png"}
    again, problems = read_jsonl(tmp_path / "set.jsonl", task="chart")
    assert problems == [] and again == records
    assert again[0].image_paths() == [str(image)] and again[1].image_paths() == []
    assert again[1].domain == "slide_html"


def test_jsonl_bad_lines_are_skipped_and_reported_with_their_line(tmp_path):
    good = {"id": "ok", "messages": [{"role": "user", "content": "hi"}]}
    lines = [json.dumps(good), "{not json", json.dumps({"id": "x"}), "", json.dumps(good)]
    (tmp_path / "d.jsonl").write_text("\n".join(lines))
    records, problems = read_jsonl(tmp_path / "d.jsonl", task="web")
    assert [r.id for r in records] == ["ok", "ok"] and records[0].task == "web"
    assert len(problems) == 2
    assert problems[0].startswith(f"{tmp_path / 'd.jsonl'}:2:") and ":3:" in problems[1]


def test_chartmimic_layout(tmp_path):
    ori = tmp_path / "ori_500"
    ori.mkdir()
    for stem in ("bar_1", "line_2"):
        (ori / f"{stem}.png").write_bytes(b"png")
        (ori / f"{stem}.py").write_text(f"# {stem}\n")
    (ori / "orphan.png").write_bytes(b"png")  # no code beside it: not an item
    (ori / "line_2.txt").write_text("Change the line color to red.")
    records = read_chartmimic(tmp_path)
    assert [r.id for r in records] == ["ori_500/bar_1", "ori_500/line_2"]
    assert records[0].gold == "# bar_1\n" and records[0].target == str(ori / "bar_1.png")
    assert records[1].messages[0]["content"][1]["text"] == "Change the line color to red."
    assert records[0].image_paths() == [str(ori / "bar_1.png")]


def test_design2code_layout(tmp_path):
    (tmp_path / "2.png").write_bytes(b"png")
    (tmp_path / "2.html").write_text("<html></html>")
    (record,) = read_design2code(tmp_path)
    assert (record.id, record.task, record.gold) == ("2", "web", "<html></html>")


def test_wrong_layouts_name_the_folder_and_what_was_expected(tmp_path):
    (tmp_path / "x.jpg").write_bytes(b"")
    with pytest.raises(
        BadSource, match=r"not in the ChartMimic layout: no <name>\.png beside a <name>\.py"
    ):
        read_chartmimic(tmp_path)
    with pytest.raises(BadSource, match="Design2Code layout"):
        read_design2code(tmp_path)
    with pytest.raises(BadSource, match="no such folder"):
        read_chartmimic(tmp_path / "missing")
    with pytest.raises(BadSource, match="no such JSONL file"):
        read_jsonl(tmp_path / "missing.jsonl", task="chart")


def test_a_jsonl_file_without_one_good_record_is_one_line_naming_the_first_bad_line(tmp_path):
    from sdpo_jax.config import load_config
    from sdpo_jax.errors import RunError
    from sdpo_jax.runtime import load_records

    path = tmp_path / "data.jsonl"
    path.write_text('{"id": "a"}\n{oops\n')
    config = load_config("chart_tiny", ["data.source=jsonl", f"data.path={path}"])
    with pytest.raises(RunError) as err:
        load_records(config, render=None)
    message = str(err.value)
    assert "\n" not in message and f"{path}:1: not a prompt record" in message
