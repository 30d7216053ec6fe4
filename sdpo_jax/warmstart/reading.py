"""Reading: revisions whose changed content only the feedback can supply.

A small policy learns to read its context only when reading is the one way to lower the loss.
The bundled charts draw their titles and colours from short fixed lists, so remembering the
lists lowers it as well, and the loss spread over a whole program barely notices the few
tokens that could be read. Here each example is built so that nothing else can help:

- fresh content: the gold program's titles, axis labels and legend labels become pseudo-words
  and its mark colours random colours, drawn anew for every example (`freshen`), and its target
  image is that program's own render;
- the attempt is that program changed in one scored property (`content_edits`: a title, a
  colour, a plot call; the donor is the same program freshened again), rendered, and the
  teacher's context for it says how it departs from the target (`teacher.departures`), which
  names the change verbatim;
- the loss is on the gold tokens the edit changed, which the prompt alone cannot predict.

`make feedback-reading` measures the skill on validation items the policy never trained on.
"""

from __future__ import annotations

import ast
import dataclasses
import io
import random
from collections.abc import Sequence

import numpy as np
from PIL import Image

from render_service import RenderRequest, RenderResult
from render_service.contrast import contrast_ratio
from render_service.injections import replace_segment
from render_service.metrics.scoring import scoring_options
from sdpo_jax.config import Config
from sdpo_jax.data.pipeline import Prompt, letterbox, template_messages
from sdpo_jax.method.teacher import feedback_text, render_image, teacher_prompt
from sdpo_jax.warmstart.content_edits import EDITS, TEXT_CALLS, calls, changed_tokens

CONSONANTS = "bcdfghjklmnprstvwz"
VOWELS = "aeiou"
WHITE = (1.0, 1.0, 1.0)


def pseudo_words(rng: random.Random) -> str:
    """One to three capitalised words of two or three random syllables: a title no list holds."""
    word = lambda: "".join(
        rng.choice(CONSONANTS) + rng.choice(VOWELS) for _ in range(rng.randint(2, 3))
    )
    return " ".join(word().title() for _ in range(rng.randint(1, 3)))


def fresh_color(rng: random.Random) -> str:
    """A random '#rrggbb' readable on white (WCAG contrast at least 4.5), as the bundled
    palette is, so a fresh colour adds no low-contrast defect of its own."""
    while True:
        rgb = [rng.randrange(256) for _ in range(3)]
        if contrast_ratio(tuple(c / 255 for c in rgb), WHITE) >= 4.5:
            return "#" + "".join(f"{c:02x}" for c in rgb)


def freshen(code: str, rng: random.Random) -> str:
    """`code` with every title, axis label and legend label replaced by pseudo-words and every
    `color=` string by a fresh colour (single-line calls; the rest of the program unchanged)."""
    targets = []
    for call in calls(code):
        if call.func.attr in TEXT_CALLS and call.args and _is_string(call.args[0]):
            targets.append((call.args[0], pseudo_words))
        for keyword in call.keywords:
            if keyword.arg == "label" and _is_string(keyword.value):
                targets.append((keyword.value, pseudo_words))
            elif keyword.arg == "color" and _is_string(keyword.value):
                targets.append((keyword.value, fresh_color))
    # From the end, so the positions of those still to replace stay valid.
    for node, draw in sorted(targets, key=lambda t: (t[0].lineno, t[0].col_offset), reverse=True):
        code = replace_segment(code, node, repr(draw(rng)))
    return code


def _is_string(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


@dataclasses.dataclass(frozen=True)
class Reading:
    """One reading example before encoding: the prompt of a fresh gold program (its own render
    as the target), the rendered attempt, the gold's render (what the departures compare
    with), and the changed gold code."""

    prompt: Prompt
    attempt: str
    result: RenderResult
    reference: RenderResult


def fresh_attempts(
    config: Config, prompts: Sequence[Prompt], per_prompt: int
) -> list[tuple[int, str, str]]:
    """(prompt index, fresh gold program, edited program): `per_prompt` fresh versions of each
    chart prompt's gold program, each edited by every edit that applies."""
    seed = config.warmstart.seed
    found = []
    for index, prompt in enumerate(prompts):
        for k in range(per_prompt):
            rng = random.Random(f"{seed}:{prompt.record.id}:read:{k}")
            gold, donor = freshen(prompt.record.gold, rng), freshen(prompt.record.gold, rng)
            for edit in EDITS.values():
                edited = edit(gold, donor, rng)
                if edited is not None and edited != gold:
                    found.append((index, gold, edited))
    return found


def readings(config: Config, encoder, prompts: Sequence[Prompt], pool) -> list[Reading]:
    """The rendered reading examples of `prompts` whose departures name the change (an attempt
    that fails to run, or departs in nothing the records see, is left out)."""
    attempts = fresh_attempts(config, prompts, config.warmstart.read_per_prompt)
    golds = sorted({(index, gold) for index, gold, _ in attempts})
    requests = [scoring_options(RenderRequest(f"read-gold-{i}", "chart", g)) for i, (_, g) in
                enumerate(golds)]  # fmt: skip
    requests += [
        scoring_options(RenderRequest(f"read-attempt-{i}", "chart", edited))
        for i, (_, _, edited) in enumerate(attempts)
    ]
    results = pool.render(requests)
    references = dict(zip(golds, results[: len(golds)], strict=True))
    teacher = dataclasses.replace(config.teacher, departures=True)
    plain = dataclasses.replace(teacher, departures=False)
    fresh_prompts: dict[tuple[int, str], Prompt] = {}
    found = []
    for (index, gold, edited), result in zip(attempts, results[len(golds) :], strict=True):
        reference = references[(index, gold)]
        if not reference.clean or feedback_text(result, teacher, reference) == feedback_text(
            result, plain
        ):
            continue
        if (index, gold) not in fresh_prompts:
            fresh_prompts[(index, gold)] = fresh_prompt(encoder, prompts[index], gold, reference,
                                                        config.data.letterbox)  # fmt: skip
        found.append(Reading(fresh_prompts[(index, gold)], edited, result, reference))
    return found


def fresh_prompt(encoder, prompt: Prompt, gold: str, reference, size) -> Prompt:
    """`prompt` asking for `gold`: the same instruction, the gold's own render as the target."""
    with Image.open(io.BytesIO(reference.image_png)) as raw:
        image = letterbox(raw, size) if size else raw.convert("RGB")
    record = dataclasses.replace(prompt.record, gold=gold)
    encoded = encoder.encode(template_messages(record.messages), [image])
    return Prompt(record, [image], encoded)


def reading_context(encoder, reading: Reading, config: Config):
    """(the teacher's context for the attempt, with departures; the images it shows)."""
    teacher = dataclasses.replace(config.teacher, departures=True)
    size = config.data.letterbox
    context, _ = teacher_prompt(
        encoder, reading.prompt, reading.result, teacher, size, reference=reading.reference
    )
    return context, [*reading.prompt.images, render_image(reading.result, size)]


def changed_weights(tokenizer, before: str, after: str, length: int) -> np.ndarray:
    """1 on the tokens of the answer `after` that differ from the answer `before`, 0 elsewhere:
    `length` entries (the answer's end of turn, never changed, included)."""
    weights = np.zeros(length, np.float32)
    weights[changed_tokens(tokenizer, before, after)] = 1.0
    return weights
