"""The bundled task generators: deterministic, varied, and their gold programs are valid."""

import ast
import html.parser

import matplotlib
import pytest

from render_service.programs.synthetic import items

matplotlib.use("Agg")


@pytest.mark.parametrize("task", ["chart", "web", "slide"])
def test_items_are_deterministic_and_independent_of_their_neighbours(task):
    batch = items(task, 6, seed=3)
    assert batch == items(task, 6, seed=3)
    assert items(task, 2, seed=3, start=4) == batch[4:]
    assert len({item.code for item in batch}) == 6
    assert items(task, 1, seed=4)[0].code != batch[0].code
    assert all(item.instruction and item.id.startswith(task) for item in batch)


def test_chart_gold_programs_run_and_draw_the_requested_panels():
    import matplotlib.pyplot as plt

    for item in items("chart", 25):
        ast.parse(item.code)
        plt.close("all")
        exec(compile(item.code.replace("plt.show()", ""), item.id, "exec"), {})
        fig = plt.gcf()
        # Every panel got a title; the code made exactly one figure.
        assert plt.get_fignums() == [fig.number]
        assert all(ax.get_title() for ax in fig.axes)
        plt.close("all")


class _TagBalance(html.parser.HTMLParser):
    VOID = frozenset({"meta", "br", "img", "hr", "input", "link"})

    def __init__(self):
        super().__init__()
        self.stack = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}>"


@pytest.mark.parametrize("task", ["web", "slide"])
def test_html_gold_programs_are_balanced_documents(task):
    for item in items(task, 10):
        parser = _TagBalance()
        parser.feed(item.code)
        assert parser.stack == []
        assert item.code.startswith("<!DOCTYPE html>")


def test_unknown_task_is_named():
    with pytest.raises(ValueError, match="task='video'"):
        items("video", 1)
