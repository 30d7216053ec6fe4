"""The chart renderer: results for valid code, syntax and runtime errors, figure capture, and
source tracing on pyplot and object-oriented code."""

import io

from PIL import Image

from render_service.types import RenderRequest


def render(renderer, code, **options):
    return renderer.render(RenderRequest("r", "chart", code, options=options))


def roles(result, role):
    return [e for e in result.elements if e.role == role]


def test_valid_code_renders_png_at_fixed_dpi(chart_renderer):
    code = "import matplotlib.pyplot as plt\nfig = plt.figure(figsize=(4, 3), dpi=300)\n"
    code += "plt.plot([1, 2, 3])\nplt.savefig('out.png', dpi=50)\nplt.show()\n"
    result = render(chart_renderer, code)
    assert result.ok, result.error
    assert (result.width, result.height) == (400, 300)
    assert Image.open(io.BytesIO(result.image_png)).size == (400, 300)
    assert {"execute", "draw", "encode", "inspect", "sandbox"} <= set(result.timings)


def test_figure_saved_to_own_path_and_closed_is_captured(chart_renderer):
    code = (
        "import matplotlib.pyplot as plt\n"
        "fig, ax = plt.subplots(figsize=(5, 2))\n"
        "ax.bar(['a', 'b'], [1, 2])\n"
        "fig.savefig('/home/someone/chart.png')\n"
        "plt.close(fig)\n"
    )
    result = render(chart_renderer, code)
    assert result.ok, result.error
    assert (result.width, result.height) == (500, 200)


def test_object_oriented_figure_without_pyplot(chart_renderer):
    code = (
        "from matplotlib.figure import Figure\n"
        "fig = Figure(figsize=(3, 2))\n"
        "ax = fig.add_subplot()\n"
        "ax.scatter([1, 2], [3, 4])\n"
    )
    result = render(chart_renderer, code)
    assert result.ok, result.error
    assert (result.width, result.height) == (300, 200)


def test_two_figures_are_stacked(chart_renderer):
    code = (
        "import matplotlib.pyplot as plt\nplt.figure(figsize=(2, 1))\nplt.figure(figsize=(3, 2))\n"
    )
    result = render(chart_renderer, code)
    assert (result.width, result.height) == (300, 300)


def test_no_figure_is_an_error(chart_renderer):
    result = render(chart_renderer, "x = 1\n")
    assert not result.ok and result.error.startswith("NoFigure")


def test_syntax_error(chart_renderer):
    result = render(chart_renderer, "import matplotlib.pyplot as plt\nplt.plot([1, 2)\n")
    assert not result.ok
    assert result.error.splitlines()[0].startswith("SyntaxError: ")
    assert "(line 2)" in result.error.splitlines()[0]


def test_runtime_error_keeps_only_generated_frames(chart_renderer):
    code = "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([1, 2], [1, 2, 3])\n"
    result = render(chart_renderer, code)
    lines = result.error.splitlines()
    assert lines[0].startswith("ValueError: x and y must have same first dimension")
    assert lines[0].endswith("(line 3)")
    assert lines[1:] == ["Traceback (generated code):", "  line 3: ax.plot([1, 2], [1, 2, 3])"]


def test_error_while_drawing_says_so(chart_renderer):
    code = "import matplotlib.pyplot as plt\nplt.title(r'$\\frac{$')\n"
    result = render(chart_renderer, code)
    assert not result.ok and "(while drawing the figure)" in result.error.splitlines()[0]


def test_tracing_pyplot(chart_renderer):
    code = (
        "import matplotlib.pyplot as plt\n"  # 1
        "plt.figure()\n"  # 2
        "plt.plot([1, 2, 3], label='a')\n"  # 3
        "plt.title('Title')\n"  # 4
        "plt.xlabel('x')\n"  # 5
        "plt.legend()\n"  # 6
        "plt.xticks([1, 2], ['one', 'two'])\n"  # 7
    )
    result = render(chart_renderer, code)
    assert [e.source_lines for e in roles(result, "title")] == [(3, 4)]  # plot made the axes
    assert [e.source_lines for e in roles(result, "xlabel")] == [(3, 5)]
    assert [e.source_lines for e in roles(result, "line2d")] == [(3,)]
    assert [e.source_lines for e in roles(result, "legend")] == [(6,)]
    (axes,) = roles(result, "axes")
    ticks = roles(result, "tick_label")
    assert {e.source_lines for e in ticks if e.bbox[1] >= axes.bbox[3]} == {(7,)}  # x: xticks
    assert {e.source_lines for e in ticks if e.bbox[2] <= axes.bbox[0]} == {(3,)}  # y: axes


def test_tracing_object_oriented(chart_renderer):
    code = (
        "import matplotlib.pyplot as plt\n"  # 1
        "fig, axes = plt.subplots(1, 2)\n"  # 2
        "line, = axes[0].plot([1, 2])\n"  # 3
        "axes[1].bar(['a', 'b'], [1, 2])\n"  # 4
        "\n"  # 5
        "def decorate(ax, text):\n"  # 6
        "    ax.set_title(text)\n"  # 7
        "\n"  # 8
        "decorate(axes[1], 'Right')\n"  # 9
        "line.set_color('red')\n"  # 10
        "axes[0].tick_params(axis='y', labelsize=6)\n"  # 11
    )
    result = render(chart_renderer, code)
    assert result.ok, result.error
    assert [e.source_lines for e in roles(result, "title")] == [(2, 7)]
    assert [e.source_lines for e in roles(result, "line2d")] == [(3, 10)]
    assert {e.source_lines for e in roles(result, "rectangle")} == {(4,)}
    left, right = (e for e in roles(result, "axes"))
    ticks = roles(result, "tick_label")
    in_left = {e.source_lines for e in ticks if e.bbox[2] <= left.bbox[0]}
    under_right = {
        e.source_lines for e in ticks if e.bbox[1] >= right.bbox[3] and e.bbox[0] >= left.bbox[2]
    }
    assert in_left == {(11,)}  # y tick labels: the tick_params call
    assert under_right == {(4,)}  # categorical x tick labels: the bar call that set them
    assert {e.source_lines for e in roles(result, "axes")} == {(2,)}


def test_trace_option_off_gives_plain_render(chart_renderer):
    code = "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.title('t')\n"
    result = render(chart_renderer, code, trace=False)
    assert result.ok and result.elements == () and result.defects == ()
    assert "inspect" not in result.timings
