"""A small deterministic text corpus for training the tiny model's tokenizer.

The tiny model writes the same kinds of text as the real one: matplotlib scripts, HTML+CSS pages,
python-pptx scripts and short English instructions and feedback. Rather than bundling
third-party files, this module generates such text from word lists and templates written here,
from a fixed seed, so the tokenizer built from it is reproducible anywhere.
"""

import random
from collections.abc import Iterator


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


SUBJECTS = _words(
    "sales revenue profit cost price budget income expense growth rate share market customer "
    "user visitor student teacher patient doctor city country region state population energy "
    "temperature rainfall humidity wind pressure speed distance height weight age score grade "
    "vote election survey response traffic download upload error latency memory storage power "
    "battery solar coal gas oil water forest river ocean mountain crop wheat rice corn coffee "
    "tea sugar apple orange banana product order shipment inventory employee salary hour week "
    "month quarter year decade season holiday ticket flight hotel restaurant movie book song "
    "game team player goal match league species bird fish insect plant tree flower cell gene "
    "protein virus vaccine hospital school library museum park bridge road train bus car bike"
)
ADJECTIVES = _words(
    "monthly yearly weekly daily average total median maximum minimum annual regional global "
    "local urban rural online offline mobile desktop new old young senior public private "
    "domestic foreign net gross relative absolute cumulative seasonal projected estimated "
    "actual expected observed predicted normalized smoothed raw clean stacked grouped simple "
    "modern classic bright dark light bold subtle minimal elegant friendly professional"
)
COLORS = _words(
    "red green blue orange purple brown pink gray olive cyan navy teal maroon gold coral salmon "
    "crimson indigo violet turquoise silver black white beige khaki lavender tomato steelblue "
    "darkgreen skyblue slategray firebrick seagreen royalblue chocolate orchid"
)
VERBS = _words(
    "plot draw create make build show display render design write generate reproduce recreate "
    "add remove move align center resize increase decrease change fix adjust improve label "
    "highlight compare rotate shrink expand wrap split merge sort filter group stack"
)
PROBLEMS = (
    "the title overlaps the legend",
    "the tick labels are clipped at the bottom",
    "the text overflows its box",
    "the legend hides part of the data",
    "the contrast between text and background is too low",
    "the image runs off the right edge of the page",
    "two labels collide near the top",
    "the columns are not aligned",
    "the footer is pushed outside the slide",
    "the axis label is cut off",
    "the font is too small to read",
    "the chart is squeezed into a corner",
)
CHART_KINDS = ("bar", "barh", "plot", "scatter", "pie", "hist", "fill_between", "step", "stem")
MARKERS = ("o", "s", "^", "v", "D", "x", "+", "*", ".")
FONTS = ("Arial", "Helvetica", "Georgia", "Verdana", "Calibri", "DejaVu Sans", "Liberation Serif")
TAGS = ("div", "section", "header", "footer", "nav", "main", "article", "aside", "ul", "p")
CSS_PROPS = (
    "margin",
    "padding",
    "font-size",
    "line-height",
    "border-radius",
    "gap",
    "max-width",
    "letter-spacing",
)
UNITS = ("px", "rem", "em", "%", "vh", "vw")
LAYOUTS = ("flex", "grid", "block", "inline-block")
PROSE = _words(
    "the a an of to in for on with at by from about into over after before between under "
    "this that these those it its their our your my we you they he she is are was were be "
    "been has have had do does did can could should would will may might must not no yes "
    "please make sure keep each every all some most more less than very quite too also only "
    "just then when where which while because so but or and if else first next last finally "
    "left right top bottom middle center above below inside outside near far small large wide "
    "narrow tall short clear readable visible hidden space spacing margin border background "
    "header title subtitle caption legend axis tick label grid line bar column row cell table "
    "page section card button link menu image icon logo photo text font paragraph heading list "
    "item slide deck chart figure plot graph diagram map panel box frame shape arrow circle "
    "data value number percent trend change difference comparison distribution breakdown "
    "summary overview detail report dashboard feedback attempt earlier result render output"
)
# Syllables for made-up names (brands, people, places): many distinct words, so BPE has plenty
# to merge without any copied text.
SYLLABLES = _words(
    "ka ro mi ten vel ora tix lu an dor bri sa zen qua pol mar ix eth ul vin cor da fen gri "
    "ho jas kel lom nar pe rus sil tor ume vor wyn xa yel zor"
)


class _Writer:
    """Draws words and numbers from one seeded generator."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def pick(self, options):
        return self.rng.choice(options)

    def words(self, low: int, high: int, pool=SUBJECTS) -> list[str]:
        return [self.pick(pool) for _ in range(self.rng.randint(low, high))]

    def name(self) -> str:
        return "_".join(self.words(1, 3))

    def coined(self) -> str:
        """A made-up proper name such as Velorakan."""
        return "".join(self.pick(SYLLABLES) for _ in range(self.rng.randint(2, 4))).capitalize()

    def sentence(self) -> str:
        words = self.words(4, 14, PROSE + SUBJECTS + ADJECTIVES)
        words.insert(self.rng.randrange(len(words)), self.coined())
        return " ".join(words).capitalize() + self.pick((".", ".", "!", "?"))

    def title(self) -> str:
        words = [self.pick(ADJECTIVES), *self.words(1, 3)]
        if self.rng.random() < 0.3:
            words.insert(0, self.coined())
        return " ".join(words).capitalize()

    def number(self) -> str:
        value = self.rng.uniform(0, 10 ** self.rng.randint(0, 4))
        return f"{value:.{self.rng.randint(0, 2)}f}"

    def numbers(self) -> str:
        return ", ".join(self.number() for _ in range(self.rng.randint(3, 8)))

    def color(self) -> str:
        if self.rng.random() < 0.5:
            return self.pick(COLORS)
        return f"#{self.rng.randrange(16**6):06x}"

    def instruction(self) -> str:
        thing = self.pick(("chart", "plot", "figure", "web page", "landing page", "slide", "deck"))
        sentence = (
            f"{self.pick(VERBS).capitalize()} a {self.pick(ADJECTIVES)} {thing} of "
            f"{' and '.join(self.words(1, 2))} by {self.pick(SUBJECTS)}"
        )
        if self.rng.random() < 0.5:
            sentence += f", using {self.color()} for the {self.pick(('bars', 'lines', 'title'))}"
        if self.rng.random() < 0.4:
            sentence += f". Fix it: {self.pick(PROBLEMS)}"
        extra = [self.sentence() for _ in range(self.rng.randint(0, 3))]
        return " ".join([sentence + ".", *extra])

    def matplotlib(self) -> str:
        x, y = self.name(), self.name()
        kind = self.pick(CHART_KINDS)
        lines = [
            "import matplotlib.pyplot as plt",
            "import numpy as np",
            "",
            f"{x} = [{self.numbers()}]",
            f"{y} = np.array([{self.numbers()}])",
            f"fig, ax = plt.subplots(figsize=({self.rng.randint(4, 12)}, "
            f"{self.rng.randint(3, 8)}))",
            f"ax.{kind}({x}, {y}[: len({x})], color='{self.color()}', label='{self.title()}')",
        ]
        if kind in ("plot", "scatter", "step"):
            lines.append(f"ax.plot({x}, {x}, marker='{self.pick(MARKERS)}', linestyle='--')")
        lines += [
            f"ax.set_title('{self.title()}', fontsize={self.rng.randint(8, 20)})",
            f"ax.set_xlabel('{self.title()}')",
            f"ax.set_ylabel('{self.title()} ({self.pick(('%', 'USD', 'kg', 'km', 'hours'))})')",
            f"ax.legend(loc='{self.pick(('upper left', 'lower right', 'best', 'center'))}')",
            f"ax.grid({self.pick(('True', 'False'))}, alpha={self.rng.randint(1, 9) / 10})",
            "plt.tight_layout()",
            f"plt.savefig('{self.name()}.png', dpi={self.pick((72, 100, 150, 200))})",
        ]
        return "\n".join(lines) + "\n"

    def css_rule(self, selector: str) -> str:
        props = [
            f"  {self.pick(CSS_PROPS)}: {self.rng.randint(0, 64)}{self.pick(UNITS)};"
            for _ in range(self.rng.randint(1, 4))
        ]
        props.append(f"  color: {self.color()};")
        if self.rng.random() < 0.5:
            props.append(f"  display: {self.pick(LAYOUTS)};")
        return selector + " {\n" + "\n".join(props) + "\n}"

    def html(self) -> str:
        classes = [self.name().replace("_", "-") for _ in range(self.rng.randint(2, 4))]
        styles = "\n".join(self.css_rule(f".{name}") for name in classes)
        body = []
        for name in classes:
            tag = self.pick(TAGS)
            body.append(f'  <{tag} class="{name}">\n    <h2>{self.title()}</h2>\n')
            body.append(f"    <p>{self.sentence()}</p>\n  </{tag}>\n")
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{self.title()}</title>\n<style>\nbody {{\n  font-family: "
            f"'{self.pick(FONTS)}', sans-serif;\n  background: {self.color()};\n}}\n{styles}\n"
            f"</style>\n</head>\n<body>\n{''.join(body)}</body>\n</html>\n"
        )

    def pptx(self) -> str:
        lines = [
            "from pptx import Presentation",
            "from pptx.dml.color import RGBColor",
            "from pptx.util import Inches, Pt",
            "",
            "prs = Presentation()",
            "prs.slide_width = Inches(13.333)",
            "prs.slide_height = Inches(7.5)",
        ]
        for index in range(self.rng.randint(1, 3)):
            box = [self.rng.randint(0, 9) / 2 for _ in range(4)]
            lines += [
                f"slide = prs.slides.add_slide(prs.slide_layouts[{self.rng.randint(0, 6)}])",
                f"box = slide.shapes.add_textbox(Inches({box[0]}), Inches({box[1]}), "
                f"Inches({box[2] + 1}), Inches({box[3] + 1}))",
                "frame = box.text_frame",
                "frame.word_wrap = True",
                f"frame.text = '{self.title()}'",
                "run = frame.paragraphs[0].runs[0]",
                f"run.font.size = Pt({self.rng.randint(10, 44)})",
                f"run.font.name = '{self.pick(FONTS)}'",
                f"run.font.bold = {self.pick(('True', 'False'))}",
                f"run.font.color.rgb = RGBColor(0x{self.rng.randrange(256):02X}, "
                f"0x{self.rng.randrange(256):02X}, 0x{self.rng.randrange(256):02X})",
                f"# slide {index + 1}: {self.instruction()}",
            ]
        lines.append(f"prs.save('{self.name()}.pptx')")
        return "\n".join(lines) + "\n"


def documents(count: int = 12000, seed: int = 0) -> Iterator[str]:
    """`count` documents cycling through instructions, charts, pages and slides."""
    writer = _Writer(seed)
    makers = (writer.instruction, writer.matplotlib, writer.html, writer.pptx)
    for index in range(count):
        yield makers[index % len(makers)]()
