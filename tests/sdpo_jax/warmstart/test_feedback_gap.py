"""`python -m sdpo_jax feedback-gap`: the shipped chart policy writes, then revises from the
teacher's context with and without the render, and each row's visual score is the mean of the
ChartMimic parts it prints."""

import numpy as np
import pytest

from sdpo_jax.commands.feedback_gap import main
from sdpo_jax.config import TeacherConfig
from sdpo_jax.data import bundled
from sdpo_jax.warmstart import feedback_gap

ROWS = ["without feedback", "with feedback, render shown", "with feedback, render hidden"]


@pytest.mark.slow
def test_rows_and_visual_parts_of_the_shipped_chart_policy(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(bundled, "SPLITS", {"train": 2, "validation": 2, "heldout": 2})
    measured = []
    measure = feedback_gap.measure
    monkeypatch.setattr(
        feedback_gap, "measure", lambda c: measured.append(measure(c)) or measured[0]
    )
    main(["chart_tiny", "eval.quick_split=validation", "sampling.num_samples=2"])

    (scores,) = measured
    assert list(scores) == ROWS
    for row in scores.values():
        parts = [row[k] for k in ("text", "layout", "type", "color")]
        assert row["visual"] == pytest.approx(np.mean(parts), abs=1e-9)
    # The warm start runs most of its programs at the training temperature: the rows hold real
    # renders, not failures scored 0.
    assert scores["without feedback"]["execution_rate"] > 0
    assert max(row["layout"] for row in scores.values()) > 0
    printed = capsys.readouterr().out
    assert "validation split, 2 attempts per item at temperature 0.7" in printed
    assert all(f"| {row} |" in printed for row in ROWS) and "| color |" in printed


def test_with_departures_attempts_are_also_revised_without_them():
    plain = feedback_gap.revision_teachers(TeacherConfig())
    assert list(plain) == ROWS[1:] and [t.show_render for t in plain.values()] == [True, False]
    rows = feedback_gap.revision_teachers(TeacherConfig(departures=True))
    assert list(rows) == [*ROWS[1:], "with feedback, no departures, render shown"]
    assert [(t.show_render, t.departures) for t in rows.values()] == [
        (True, True),
        (False, True),
        (True, False),
    ]
