"""The warm start: its examples are the trainer's own teacher contexts and injected defects the
renderer sees, and `python -m sdpo_jax warmstart` runs two steps end to end, writing a folder
that loads as a model, with its README and the teacher's lead on the validation split."""

import dataclasses
import json

import numpy as np
import pytest

from models.qwen3_vl import load_hf
from models.qwen3_vl.tokenizer import ChatEncoder
from render_service import RenderConfig, RenderPool, RenderRequest, injections, metrics
from render_service.metrics.scoring import scoring_options
from render_service.programs import synthetic
from sdpo_jax import memory_maps
from sdpo_jax.commands.warmstart import main
from sdpo_jax.config import load_config
from sdpo_jax.data import bundled
from sdpo_jax.data.records import PromptRecord, user_prompt
from sdpo_jax.method.teacher import teacher_prompt
from sdpo_jax.runtime import load_prompts
from sdpo_jax.warmstart.content_edits import EDITS
from sdpo_jax.warmstart.examples import Example, answer_ids, answer_text, make_batch
from sdpo_jax.warmstart.sft import KINDS, OTHER, build_examples, draw, initial_model, train


@pytest.fixture(scope="module")
def pool():
    with RenderPool(RenderConfig(workers=2), registry=metrics.registry()) as pool:
        yield pool


def chart_prompts(pool, config, encoder, tmp_path, task="chart"):
    items = synthetic.items(task, 2, seed=5)
    records = []
    for item in items:
        image = tmp_path / f"{item.id}.png"
        rendered = pool.render([RenderRequest(item.id, item.domain, item.code)])[0]
        image.write_bytes(rendered.image_png)
        prompt = user_prompt(str(image), item.instruction)
        records.append(PromptRecord(item.id, task, prompt, str(image), item.code))
    return items, load_prompts(config, encoder, records)


def test_examples_are_gold_injected_and_revisions_from_the_trainers_context(pool, tmp_path):
    config = load_config("chart_tiny", ["model.path=none"])
    encoder = ChatEncoder.tiny()
    items, prompts = chart_prompts(pool, config, encoder, tmp_path)
    examples, counts = build_examples(config, encoder, prompts, pool)
    assert set(examples) == set(KINDS) and not examples["revise_content"]  # no departures
    assert not examples["read"]  # no reading share
    assert all(examples[k] for k in KINDS if k not in ("revise_content", "read"))
    assert len(examples["gold"]) == 2
    # every error injection that applied made its program fail, so each gave a revision
    for injection in injections.for_domain("chart", errors=True):
        if injection.name in counts:
            assert counts[injection.name]["detected"] == counts[injection.name]["applied"]
    tokenizer = encoder.tokenizer
    gold_answer = tokenizer.decode(examples["gold"][0].answer)
    assert gold_answer == answer_text(items[0].code, "chart") + "<|im_end|>"
    # a revision's prompt is exactly the trainer's teacher context for that attempt
    clean = pool.render([RenderRequest("g", "chart", items[0].code)])[0]
    context, _ = teacher_prompt(encoder, prompts[0], clean, config.teacher, (128, 96))
    assert any(
        np.array_equal(e.prompt["input_ids"], context["input_ids"]) for e in examples["revise"]
    )
    batch = make_batch(encoder, examples["revise_solution"][:3])
    assert batch["tokens"].shape[1] >= max(len(e.answer) for e in examples["revise_solution"][:3])
    assert batch["inputs"]["pixel_values"].shape[0] >= 3 * 48  # at least the targets (48 patches)


@pytest.mark.slow
def test_programs_dropped_near_the_map_limit_leave_the_training_unchanged(
    pool, tmp_path, monkeypatch
):
    settings = ["warmstart.preset=tiny", "warmstart.steps=3", "warmstart.batch=1"]
    config = load_config("chart_tiny", ["model.path=none", "warmstart.revise_share=0", *settings])
    encoder = ChatEncoder.tiny()
    _, prompts = chart_prompts(pool, config, encoder, tmp_path)
    answer = answer_ids(encoder.tokenizer, prompts[0].record.gold, "chart")
    gold = Example.of(prompts[0].encoded, prompts[0].images, answer)
    short = dataclasses.replace(gold, answer=answer[:40])  # a second program

    def losses():
        model, _ = initial_model(config)
        return train(config, model, encoder, {"gold": [gold, short]})

    kept = losses()
    released, release = [], memory_maps.release_near_limit
    monkeypatch.setattr(
        memory_maps, "release_near_limit", lambda: released.append(release(share=0.0)) or True
    )
    assert losses() == pytest.approx(kept, rel=1e-6)
    assert len(released) >= 2 and all(released)  # before each program not live


def test_with_departures_revisions_read_how_an_attempt_departs_from_the_gold_render(pool, tmp_path):
    """teacher.departures: each item is also attempted with the other item's gold program, and
    its revision context names how that chart departs from this item's gold render; the
    revisions of the gold program itself depart in nothing."""
    config = load_config("chart_tiny", ["model.path=none", "teacher.departures=true"])
    encoder = ChatEncoder.tiny()
    _, prompts = chart_prompts(pool, config, encoder, tmp_path)
    examples, counts = build_examples(config, encoder, prompts, pool)
    assert counts[OTHER] == {"applied": 2, "detected": 2}
    contexts = [encoder.tokenizer.decode(e.prompt["input_ids"]) for e in examples["revise"]]
    departing = [c for c in contexts if "Compared with the target:" in c]
    assert len(departing) >= 2
    lines = ("- plot calls: ", "- panels: ", "- text in ", "- colours by call: ")
    assert all(any(line in c for line in lines) for c in departing)
    assert sum("- text in the target that yours lacks: " in c for c in departing) >= 2
    # the gold program's revision is told nothing more than without departures
    clean = pool.render([scoring_options(RenderRequest("g", "chart", prompts[0].record.gold))])[0]
    context, _ = teacher_prompt(encoder, prompts[0], clean, config.teacher, (128, 96), None, clean)
    assert "Compared with" not in encoder.tokenizer.decode(context["input_ids"])
    assert any(
        np.array_equal(e.prompt["input_ids"], context["input_ids"]) for e in examples["revise"]
    )
    # content edits: revisions of their own kind, each told what changed, never written as
    # answers nor shown the gold program as a solution
    edits = [n for n in EDITS if n in counts]
    assert edits and sum(counts[n]["detected"] for n in edits) == len(examples["revise_content"])
    told = [encoder.tokenizer.decode(e.prompt["input_ids"]) for e in examples["revise_content"]]
    assert all("Compared with the target:" in c for c in told)
    solved = sum(c["detected"] for n, c in counts.items() if n not in (*EDITS, "gold"))
    assert len(examples["revise_solution"]) == solved
    golds = {tuple(e.answer) for e in examples["gold"]}
    assert all(tuple(e.answer) in golds for e in examples["revise_content"])


@pytest.mark.slow
@pytest.mark.chromium
def test_with_departures_page_revisions_name_the_blocks_that_differ(pool, tmp_path):
    """Web pages: the other item's page and the content edits (a heading, a paragraph, a text
    colour) are revised from contexts that name the blocks by their text."""
    config = load_config("web_tiny", ["model.path=none", "teacher.departures=true"])
    encoder = ChatEncoder.tiny()
    _, prompts = chart_prompts(pool, config, encoder, tmp_path, task="web")
    examples, counts = build_examples(config, encoder, prompts, pool)
    assert counts[OTHER]["detected"] == 2 and examples["revise_content"]
    told = [encoder.tokenizer.decode(e.prompt["input_ids"]) for e in examples["revise_content"]]
    lines = ("- text that reads otherwise in yours: ", "- text in the target that yours lacks: ")
    assert all("Compared with the target:" in c for c in told)
    assert any(line in c for c in told for line in lines)
    assert any("- text coloured otherwise: " in c for c in told)


def test_content_revisions_are_drawn_only_where_there_are_some():
    """Without content edits (no departures) the mix is the one without them; with them they
    take `content_share` of the revisions."""
    config = load_config("chart_tiny", ["model.path=none", "warmstart.content_share=0.5"])
    without = [k for k in KINDS if k != "revise_content"]
    plain = load_config("chart_tiny", ["model.path=none", "warmstart.content_share=0"])

    def draws(config, kinds):
        rng = np.random.default_rng(0)
        return [draw(rng, config, kinds) for _ in range(4000)]

    assert draws(config, without) == draws(plain, KINDS)
    drawn = draws(config, KINDS)
    ws = config.warmstart
    share = drawn.count("revise_content") / len(drawn)
    assert share == pytest.approx(ws.revise_share * ws.content_share, abs=0.03)


@pytest.mark.slow
def test_two_warm_start_steps_end_to_end(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(bundled, "SPLITS", {"train": 4, "validation": 2, "heldout": 2})
    out = tmp_path / "warm"
    main(
        [
            "chart_tiny",
            "warmstart.preset=tiny",
            "warmstart.steps=2",
            "warmstart.batch=2",
            "warmstart.train_items=2",
            "warmstart.eval_items=2",
            "warmstart.read_share=0.5",
            "warmstart.read_per_prompt=1",
            "train.batch_prompts=2",
            "sampling.max_new_tokens=16",
            f"warmstart.out={out}",
        ]
    )
    printed = capsys.readouterr().out
    assert "| without feedback |" in printed and "| with feedback |" in printed
    assert "### Reading" in printed and "### Where the teacher disagrees" in printed
    model = load_hf(out)
    assert model.config.text.hidden_size == 64  # the tiny preset
    readme = (out / "README.md").read_text()
    assert "python -m sdpo_jax warmstart chart_tiny" in readme and "data seed 0" in readme
    record = json.loads((out / "warmstart.json").read_text())
    assert len(record["losses"]) == 2 and np.all(np.isfinite(record["losses"]))
    assert set(record["lead"]["writing"]) == {"without feedback", "with feedback"}
    assert set(record["lead"]["reading"]) <= {"retitle", "recolor", "retype"}
    assert record["injections"]["read"]["applied"] > 0
    # `warmstart.init` continues from that folder; with no validation item, the lead says so
    again = tmp_path / "again"
    main(["chart_tiny", f"warmstart.init={out}", "warmstart.steps=1", "warmstart.batch=1",
          "warmstart.train_items=2", "warmstart.eval_items=0", f"warmstart.out={again}"])  # fmt: skip
    assert load_hf(again).config.text.hidden_size == 64
    readme = (again / "README.md").read_text()
    assert f"from {out}" in readme and "Not measured" in readme
