"""Chart pairs for ChartMimic parity, each naming the rule of the official evaluators it checks
(`sim(a, b)` below is the CIEDE2000 colour similarity max(0, 1 - dE / 100)).

A pair is (name, rule, gold program, candidate program, candidate executes). The scores they
must get are not worked out here: `scripts/official_scores.py` ran ChartMimic's own evaluators
on every pair and wrote them to official_scores.json. Plain data, importing nothing, so that
script can read it from the official code's environment.
"""

HEAD = "import matplotlib.pyplot as plt\nimport numpy as np\nfig, ax = plt.subplots()\n"
BASE = (
    HEAD + 'ax.bar(["a", "b"], [3, 4], color=["red", "blue"])\n'
    'ax.plot([0, 1], [2, 3], color="black")\n'
    'ax.set_title("Sales")\n'
    'ax.set_xlabel("group")\n'
)
POLAR = (
    "import matplotlib.pyplot as plt\n"
    "fig = plt.figure()\n"
    'ax = fig.add_subplot(projection="polar")\n'
    'ax.plot([0, 1], [1, 2], color="red")\n'
    'ax.set_title("T")\n'
)


def titled(body: str) -> str:
    return HEAD + body + 'ax.set_title("T")\n'


PAIRS = [
    (
        "identical",
        "the same program scores 1 everywhere",
        BASE,
        BASE,
        True,
    ),
    (
        "recoloured",
        "colours pair by best assignment within a group: red, sim(green, blue), black of 3",
        BASE,
        BASE.replace('"blue"]', '"green"]'),
        True,
    ),
    (
        "changed text",
        "text is a multiset of drawn strings: 1 of 2 match",
        BASE,
        BASE.replace("Sales", "Revenue"),
        True,
    ),
    (
        "case change",
        "strings match exactly, case included",
        BASE,
        BASE.replace("Sales", "sales"),
        True,
    ),
    (
        "missing subplot",
        "layout is the multiset of gridspec positions; the candidate lacks the right panel",
        "import matplotlib.pyplot as plt\n"
        "fig, axes = plt.subplots(1, 2)\n"
        'axes[0].bar(["a"], [1], color="red")\n'
        'axes[0].set_title("Left")\n'
        'axes[1].plot([0, 1], [1, 2], color="black")\n'
        'axes[1].set_title("Right")\n',
        "import matplotlib.pyplot as plt\n"
        "fig = plt.figure()\n"
        "ax = fig.add_subplot(1, 2, 1)\n"
        'ax.bar(["a"], [1], color="red")\n'
        'ax.set_title("Left")\n',
        True,
    ),
    (
        "bar to barh",
        "types: barh is its own entry point (1 of 2 calls match); colours: barh goes "
        "through the bar hook, so they all match",
        BASE,
        BASE.replace("ax.bar(", "ax.barh("),
        True,
    ),
    (
        "plot to step",
        "step calls plot, and its line comes from the same line maker",
        BASE,
        BASE.replace("ax.plot(", "ax.step("),
        True,
    ),
    (
        "plot to semilogy",
        "semilogy calls plot; tick labels are not text",
        BASE,
        BASE.replace("ax.plot(", "ax.semilogy("),
        True,
    ),
    (
        "plot to loglog",
        "loglog calls plot",
        BASE,
        BASE.replace("ax.plot(", "ax.loglog("),
        True,
    ),
    (
        "plot to errorbar",
        "errorbar is its own type (1 of 2 match); its data line comes from the line maker "
        "and its error bars add a vlines colour: 3 of 4 candidate colours match",
        BASE,
        BASE.replace("ax.plot([0, 1], [2, 3],", "ax.errorbar([0, 1], [2, 3], yerr=[0.1, 0.1],"),
        True,
    ),
    (
        "extra line",
        "types count calls: 2 of 3 candidate calls match; colours: 3 of 4",
        BASE,
        BASE + 'ax.plot([0, 1], [1, 1], color="green")\n',
        True,
    ),
    (
        "scatter colours",
        "a scatter logs only its first face colour",
        titled('ax.scatter([1, 2, 3], [1, 2, 3], c=["red", "green", "blue"])\n'),
        titled('ax.scatter([1, 2, 3], [1, 2, 3], c=["red", "orange", "purple"])\n'),
        True,
    ),
    (
        "scatter first colour",
        "a scatter logs only its first face colour: sim(orange, red)",
        titled('ax.scatter([1, 2, 3], [1, 2, 3], c=["red", "green", "blue"])\n'),
        titled('ax.scatter([1, 2, 3], [1, 2, 3], c=["orange", "green", "blue"])\n'),
        True,
    ),
    (
        "scatter colormaps",
        "cmap= passed explicitly logs the colormap name; names match or not",
        titled('ax.scatter([1, 2, 3], [1, 2, 3], c=[1, 2, 3], cmap="viridis")\n'),
        titled('ax.scatter([1, 2, 3], [1, 2, 3], c=[1, 2, 3], cmap="plasma")\n'),
        True,
    ),
    (
        "scatter implicit colormap",
        "without cmap= the first mapped colour is logged, which never matches a name",
        titled("ax.scatter([1, 2, 3], [1, 2, 3], c=[1, 2, 3])\n"),
        titled('ax.scatter([1, 2, 3], [1, 2, 3], c=[1, 2, 3], cmap="viridis")\n'),
        True,
    ),
    (
        "image colormap",
        "images log their colormap name",
        titled('ax.imshow(np.arange(6).reshape(2, 3), cmap="viridis")\n'),
        titled('ax.imshow(np.arange(6).reshape(2, 3), cmap="magma")\n'),
        True,
    ),
    (
        "image data",
        "an image's data is not scored, only its colormap",
        titled('ax.imshow(np.arange(6).reshape(2, 3), cmap="viridis")\n'),
        titled('ax.imshow(np.arange(6).reshape(3, 2), cmap="viridis")\n'),
        True,
    ),
    (
        "crash after drawing",
        "the program runs inside try/except and the figure is saved anyway: scored as drawn",
        BASE,
        BASE + 'raise RuntimeError("after drawing")\n',
        False,
    ),
    (
        "crash before drawing",
        "nothing drawn before the error: every score 0",
        BASE,
        BASE.replace("fig, ax = plt.subplots()\n", 'raise RuntimeError("early")\n'),
        False,
    ),
    (
        "fill_between to fill_betweenx",
        "two types, one colour group",
        titled('ax.fill_between([0, 1, 2], [1, 2, 1], color="red")\n'),
        titled('ax.fill_betweenx([0, 1, 2], [1, 2, 1], color="red")\n'),
        True,
    ),
    (
        "stackplot",
        "stackplot is not hooked: its fill_between calls are what count",
        titled(
            'ax.fill_between([0, 1, 2], 0, [1, 2, 1], color="red")\n'
            'ax.fill_between([0, 1, 2], [1, 2, 1], [2, 4, 2], color="blue")\n'
        ),
        titled('ax.stackplot([0, 1, 2], [1, 2, 1], [1, 2, 1], colors=["red", "blue"])\n'),
        True,
    ),
    (
        "hist to bar",
        "hist is its own type and colour group (the bars it makes inside are not counted)",
        titled('ax.hist([1, 2, 2, 3], bins=3, color="purple")\n'),
        titled('ax.bar([1, 2, 3], [1, 2, 1], color="purple")\n'),
        True,
    ),
    (
        "no text on either side",
        "a side with no text scores text 0, both empty included",
        HEAD + 'ax.plot([0, 1], [0, 1], color="red")\n',
        HEAD + 'ax.plot([0, 1], [0, 1], color="red")\n',
        True,
    ),
    (
        "pie recoloured",
        "wedge face colours: red and sim(green, blue) of 2",
        titled('ax.pie([1, 2], colors=["red", "blue"])\n'),
        titled('ax.pie([1, 2], colors=["red", "green"])\n'),
        True,
    ),
    (
        "axhline to axvline",
        "separate types and separate colour groups",
        titled('ax.axhline(0.5, color="red")\n'),
        titled('ax.axvline(0.5, color="red")\n'),
        True,
    ),
    (
        "boxplot without patches",
        "a boxplot logs colours only for filled (patch) boxes: no colours on either side",
        titled("ax.boxplot([[1, 2, 3, 4]])\n"),
        titled("ax.boxplot([[1, 2, 3, 5]])\n"),
        True,
    ),
    (
        "polar to cartesian",
        "a plot on polar axes is its own type and colour group",
        POLAR,
        POLAR.replace('(projection="polar")', "()"),
        True,
    ),
    (
        "repeated colour",
        "colours are a set: two red bars log red once",
        titled('ax.bar(["a", "b"], [1, 2], color=["red", "red"])\n'),
        titled('ax.bar(["a"], [1], color="red")\n'),
        True,
    ),
]
