"""Reading examples: fresh content no list holds, an attempt whose departures name the change,
and the loss on exactly the tokens the change touched."""

import ast
import random

import numpy as np
import pytest

from models.qwen3_vl.tokenizer import ChatEncoder
from render_service import RenderConfig, RenderPool, metrics
from render_service.contrast import contrast_ratio
from render_service.programs import synthetic
from sdpo_jax.config import ConfigError, load_config
from sdpo_jax.warmstart.examples import answer_text
from sdpo_jax.warmstart.reading import fresh_color, freshen, pseudo_words, readings
from sdpo_jax.warmstart.sft import KINDS, draw, read_examples
from tests.sdpo_jax.warmstart.test_warmstart import chart_prompts


def literals(code: str) -> list:
    return [n.value for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Constant)]


def test_freshen_changes_texts_and_colours_and_nothing_else():
    for index in range(12):
        gold = synthetic.chart_item(0, index).code
        fresh = freshen(gold, random.Random(index))
        ours, theirs = literals(gold), literals(fresh)
        assert len(ours) == len(theirs)
        changed = [(a, b) for a, b in zip(ours, theirs) if a != b]
        assert changed  # every bundled chart has a title
        for before, after in changed:
            assert isinstance(before, str) and isinstance(after, str)
            assert before not in synthetic.TOPICS and after.lower() not in synthetic.WORDS
        assert ast.dump(ast.parse(gold)).count("Call(") == ast.dump(ast.parse(fresh)).count("Call(")


def test_fresh_content_is_new_each_time_and_readable_on_white():
    rng = random.Random(0)
    titles = {pseudo_words(rng) for _ in range(500)}
    assert len(titles) > 490  # no list to remember
    colors = [fresh_color(rng) for _ in range(200)]
    assert len(set(colors)) > 190
    rgb = [tuple(int(c[k : k + 2], 16) / 255 for k in (1, 3, 5)) for c in colors]
    assert min(contrast_ratio(c, (1.0, 1.0, 1.0)) for c in rgb) >= 4.5


def test_reading_needs_the_departures_of_charts():
    with pytest.raises(ConfigError, match=r"warmstart\.read_share reads the departures of charts"):
        load_config("slide_tiny", ["warmstart.read_share=0.5"])


def test_draw_reads_its_share_and_leaves_the_old_mix_alone_without_it():
    config = load_config("chart_tiny", ["model.path=none", "warmstart.read_share=0.3"])
    plain = load_config("chart_tiny", ["model.path=none"])
    rng = lambda: np.random.default_rng(0)
    without = [k for k in KINDS if k != "read"]
    assert [draw(r, plain, KINDS) for r in [rng()] for _ in range(2000)] == [
        draw(r, plain, without) for r in [rng()] for _ in range(2000)
    ]
    drawn = [draw(r, config, KINDS) for r in [rng()] for _ in range(4000)]
    assert drawn.count("read") / len(drawn) == pytest.approx(0.3, abs=0.03)


def test_the_departures_name_the_change_and_the_loss_is_on_it(tmp_path):
    config = load_config("chart_tiny", ["model.path=none", "warmstart.read_per_prompt=1",
                                        "warmstart.read_share=0.5"])  # fmt: skip
    encoder = ChatEncoder.tiny()
    tokenizer = encoder.tokenizer
    with RenderPool(RenderConfig(workers=2), registry=metrics.registry()) as pool:
        _, prompts = chart_prompts(pool, config, encoder, tmp_path)
        found = readings(config, encoder, prompts, pool)
        examples = read_examples(config, encoder, prompts, pool)
    assert found and len(examples) == len(found)
    for item, example in zip(found, examples, strict=True):
        gold = item.prompt.record.gold
        assert gold != item.attempt and gold not in {p.record.gold for p in prompts}
        context = tokenizer.decode(example.prompt["input_ids"])
        assert "Compared with the target:" in context
        positions = np.flatnonzero(example.weights)
        runs = np.split(positions, np.flatnonzero(np.diff(positions) > 1) + 1)
        for run in runs:  # each stretch of weighted tokens is a piece of the gold answer
            assert tokenizer.decode(example.answer[run]) in answer_text(gold, "chart")
        assert example.weights[-1] == 0 and 0 < example.weights.sum() < len(example.answer) / 4
        # a changed title or colour is named verbatim in the context the loss reads it from
        for text in [s for s in literals(gold) if isinstance(s, str)]:
            if text not in item.attempt:
                assert repr(text) in context or text in context
        # the target image is the fresh gold program's own render
        assert example.images[0].size == config.data.letterbox
