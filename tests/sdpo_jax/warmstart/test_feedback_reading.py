"""`python -m sdpo_jax feedback-reading`: the changed tokens are exactly those an edit touched,
and on a small bundled split it prints the cost of those tokens under the four contexts."""

import re

import numpy as np
import pytest

from models.qwen3_vl.tokenizer import ChatEncoder
from sdpo_jax.commands.feedback_reading import main
from sdpo_jax.data import bundled
from sdpo_jax.warmstart.feedback_reading import CONTEXTS, changed_tokens


def test_the_changed_tokens_are_those_the_edit_touched():
    tokenizer = ChatEncoder.tiny().tokenizer
    gold = "ax.set_title('City Cycling 2019')\nax.bar([1, 2], [3, 4], color='#1f77b4')"
    edited = gold.replace("City Cycling 2019", "Rail Freight 2021")
    ids = tokenizer.encode(gold, add_special_tokens=False)
    positions = changed_tokens(tokenizer, edited, gold)
    shown = tokenizer.decode([ids[p] for p in positions])
    assert "City" in shown and "Cycl" in shown and "bar" not in shown and "color" not in shown
    assert changed_tokens(tokenizer, gold, gold) == []
    for old, new in (("ax.bar(", "ax.barh("), ("#1f77b4", "#2ca02c")):
        positions = changed_tokens(tokenizer, gold.replace(old, new), gold)
        shown = tokenizer.decode([ids[p] for p in positions])
        assert ("bar" if "bar" in old else "b4") in shown and "City" not in shown


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["chart_tiny", "web_tiny"])
def test_it_prints_the_cost_under_each_context(recipe, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(bundled, "SPLITS", {"train": 2, "validation": 4, "heldout": 2})
    main([recipe, "model.path=none", "eval.quick_split=validation", "render.workers=1"])
    printed = capsys.readouterr().out
    rows = {line.split(" | ")[0].strip("| "): line for line in printed.splitlines()}
    for context in CONTEXTS:
        values = [float(v) for v in rows[context].strip("| ").split(" | ")[1:]]
        assert values and np.all(np.isfinite(values)) and min(values) > 0
    counts = [int(n) for n in re.findall(r"\((\d+) items\)", printed)]
    assert counts and all(0 < n <= 4 for n in counts)


def test_a_score_without_records_is_refused_in_one_line():
    with pytest.raises(SystemExit, match=r"^error: feedback_reading compares the records of"):
        main(["chart_tiny", "model.path=none", "reward.visual=ssim"])
