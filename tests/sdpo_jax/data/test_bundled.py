"""The bundled sets: gold targets carry no defect of their own (a spec whose render shows one is
drawn again), and every gold program fits the tiny recipes' token budgets."""

import io
import json

import pytest
from PIL import Image

from configs._common import TINY_NEW_TOKENS
from models.qwen3_vl.tokenizer import ChatEncoder
from render_service.programs import synthetic
from render_service.types import Defect, RenderResult
from sdpo_jax.config import load_config
from sdpo_jax.data import bundled
from sdpo_jax.warmstart.examples import answer_ids


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "white").save(buffer, format="PNG")
    return buffer.getvalue()


def test_gold_renders_with_a_defect_are_drawn_again(tmp_path, monkeypatch):
    """A render service stand-in that blames the first spec of item 3 and fails the first two
    of item 5: the set holds their next clean specs, and every other item's first."""
    monkeypatch.setattr(bundled, "SPLITS", {"train": 6, "validation": 1, "heldout": 1})
    seen = []

    def render(requests):
        results = []
        for r in requests:
            seen.append(r.id)
            attempt = seen.count(r.id) - 1
            defect = Defect("text_overlap", 1.0, None, "x tick labels overlap", (3,))
            if r.id == "chart-0-3" and attempt == 0:
                results.append(RenderResult(r.id, True, image_png=png(), defects=(defect,)))
            elif r.id == "chart-0-5" and attempt < 2:
                results.append(RenderResult(r.id, False, error="boom"))
            else:
                results.append(RenderResult(r.id, True, image_png=png()))
        return results

    folder = bundled.ensure_bundled("chart", render=render, root=tmp_path)
    lines = (folder / "train.jsonl").read_text().splitlines()
    gold = {json.loads(line)["id"]: json.loads(line)["gold"] for line in lines}
    assert gold["chart-0-3"] == synthetic.item("chart", 0, 3, attempt=1).code
    assert gold["chart-0-5"] == synthetic.item("chart", 0, 5, attempt=2).code
    assert gold["chart-0-0"] == synthetic.item("chart", 0, 0).code
    assert gold["chart-0-3"] != synthetic.item("chart", 0, 3).code
    # a second call reuses the folder
    assert bundled.ensure_bundled("chart", render=None, root=tmp_path) == folder


def test_a_gold_program_that_never_renders_clean_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(bundled, "SPLITS", {"train": 2, "validation": 1, "heldout": 1})
    render = lambda requests: [
        RenderResult(r.id, r.id != "chart-0-1", image_png=png(), error="always fails")
        for r in requests
    ]
    with pytest.raises(RuntimeError, match="chart-0-1 has no clean render after 8 specs"):
        bundled.ensure_bundled("chart", render=render, root=tmp_path)


@pytest.mark.parametrize("task", ["chart", "web", "slide"])
def test_every_gold_program_fits_the_tiny_recipes(task):
    """Answers as the policy writes them (fence and end of turn included) fit
    sampling.max_new_tokens; prompts fit data.max_prompt_tokens. Every spec the builder may
    draw (first attempts and two redraws) of every bundled item."""
    tokenizer = ChatEncoder.tiny().tokenizer
    config = load_config(f"{task}_tiny")
    assert config.sampling.max_new_tokens == TINY_NEW_TOKENS[task]
    items = [
        synthetic.item(task, 0, index, attempt)
        for index in range(sum(bundled.SPLITS.values()))
        for attempt in range(3)
    ]
    answers = [len(answer_ids(tokenizer, it.code, it.domain)) for it in items]
    assert max(answers) <= config.sampling.max_new_tokens
    # the image is 12 tokens at the tiny recipes' 128x96; the chat template adds a few more
    prompts = [len(tokenizer.encode(it.instruction)) + 12 + 16 for it in items]
    assert max(prompts) <= config.data.max_prompt_tokens
