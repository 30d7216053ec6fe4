"""The teacher's context: the student's prompt with its last user turn extended by the feedback
on one rollout, the chat template re-applied.

What the teacher is shown, in order, after the original turn (its target image kept):
  intro; the render of the attempt as an image (when it rendered and `show_render`); the defect
  list with the lines each defect was traced to, or "no visible defects"; or the execution error
  (first `max_error_chars` characters); a successful sibling's program as a demonstration (with
  `teacher.solution`); outro.
The student's completion is appended to this context unchanged, token for token, by the batch
assembly (`sdpo_jax.loop.batch`), so the teacher scores exactly the tokens the student produced;
the model recomputes MRoPE positions for the longer sequence in its own forward pass.

With `max_context_tokens` the context before the completion is capped. The feedback is cut from
its tail (an error's summary line and the defect list's first items come first) while its
header and first item still fit beside the demonstration; otherwise the demonstration goes and
the whole feedback is fitted again, then the render image too. The completion is never cut.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from render_service.metrics import chartmimic, design2code
from render_service.types import RenderResult
from sdpo_jax.config import TeacherConfig
from sdpo_jax.data.pipeline import Prompt, letterbox, template_messages
from sdpo_jax.method.credit import DOMAIN_LANGUAGES
from sdpo_jax.method.rewards import RECORDS

ELLIPSIS = " …"
# How a render departs from the gold render, by the record its visual score reads.
DEPARTURES = {
    RECORDS["chartmimic"]: chartmimic.departures,  # ChartMimic's four measures
    RECORDS["design2code"]: design2code.departures,  # Design2Code's blocks (web, slides)
}


def feedback_text(
    result: RenderResult, config: TeacherConfig, reference: RenderResult | None = None
) -> str:
    """The defect list or the execution error as the teacher reads it, then (with
    `config.departures` and a ChartMimic record or Design2Code blocks in the reference) how the
    render departs from the reference render of the gold program."""
    if not result.ok:
        error = (result.error or "unknown error").strip()
        return config.error.format(error=error[: config.max_error_chars])
    text = config.no_defects
    if result.defects:
        ranked = sorted(result.defects, key=lambda d: -d.severity)[: config.max_defects]
        items = [
            config.defect_item.format(
                lines=", ".join(map(str, sorted(d.source_lines))) or "?", message=d.message
            )
            for d in ranked
        ]
        text = "\n".join([config.defects_header, *items])
    if not (config.departures and reference is not None):
        return text
    record = next((r for r in DEPARTURES if r in reference.metrics), None)
    if record is None:
        return text
    found = DEPARTURES[record](result.metrics.get(record), reference.metrics[record])
    return (
        "\n".join([text, config.departures_header, *(f"- {d}" for d in found)]) if found else text
    )


def demonstration(code: str, domain: str, config: TeacherConfig) -> str:
    """A sibling's program as the teacher is shown it: fenced in the domain's language."""
    return config.solution_text.format(
        solution=f"```{DOMAIN_LANGUAGES[domain][0]}\n{code.rstrip()}\n```"
    )


def render_image(result: RenderResult, image_size: tuple[int, int] | None) -> Image.Image | None:
    if not result.ok or not result.image_png:
        return None
    image = Image.open(io.BytesIO(result.image_png)).convert("RGB")
    return letterbox(image, image_size) if image_size else image


def _quoted(text: str) -> str:
    """Special-token strings quoted from code or errors (an error line can hold
    `<|image_pad|>`) broken up, so feedback is read as text and never claims an image or ends a
    turn."""
    return text.replace("<|", "< |")


def teacher_messages(
    messages: Sequence[dict[str, Any]],
    feedback: str,
    config: TeacherConfig,
    show_image: bool,
    solution: str | None = None,
) -> list[dict[str, Any]]:
    """`messages` (template form) with the feedback (and a demonstration) appended to the last
    user turn."""
    messages = [dict(m) for m in messages]
    last = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=None)
    if last is None:
        raise ValueError("the prompt has no user turn to attach feedback to")
    content = messages[last]["content"]
    parts = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
    parts.append({"type": "text", "text": "\n\n" + config.intro})
    if show_image:
        parts += [{"type": "text", "text": "\n" + config.render_caption}, {"type": "image"}]
    shown = [feedback, *([solution] if solution else []), config.outro]
    parts.append({"type": "text", "text": "\n" + _quoted("\n\n".join(shown))})
    messages[last] = {"role": messages[last]["role"], "content": parts}
    return messages


def teacher_prompt(
    encoder,
    prompt: Prompt,
    result: RenderResult,
    config: TeacherConfig,
    image_size: tuple[int, int] | None,
    solution: str | None = None,
    reference: RenderResult | None = None,
) -> tuple[dict[str, np.ndarray], bool]:
    """(the encoded teacher context, prompt part only, for one rollout of `prompt`: input_ids,
    mm_token_type_ids, pixel_values and image_grid_thw, the prompt's images first; whether the
    `max_context_tokens` cap cut it). `solution` is a sibling's program to show; `reference`
    the render of the prompt's gold program, for `config.departures`."""
    image = render_image(result, image_size) if config.show_render else None
    demo = demonstration(solution, prompt.record.domain, config) if solution else None
    base = template_messages(prompt.record.messages)

    def encode(feedback: str, demo: str | None, image: Image.Image | None):
        messages = teacher_messages(base, feedback, config, image is not None, demo)
        return encoder.encode(messages, [*prompt.images, *([image] if image else [])])

    feedback = feedback_text(result, config, reference)
    encoded = encode(feedback, demo, image)
    cap = config.max_context_tokens
    if not cap or len(encoded["input_ids"]) <= cap:
        return encoded, False
    ids = encoder.tokenizer.encode(feedback, add_special_tokens=False)
    head = "\n".join(feedback.split("\n")[:2])  # the header and its first item
    least = len(encoder.tokenizer.encode(head, add_special_tokens=False))

    def fit(demo: str | None, image: Image.Image | None) -> tuple[dict[str, np.ndarray], int]:
        """The context with the longest head of the feedback that fits; how many tokens."""
        keep, encoded = len(ids), encode(feedback, demo, image)
        while len(encoded["input_ids"]) > cap and keep > 0:
            keep = max(0, keep - (len(encoded["input_ids"]) - cap) - 2)
            cut = encoder.tokenizer.decode(ids[:keep]) + ELLIPSIS if keep else ELLIPSIS.strip()
            encoded = encode(cut, demo, image)
        return encoded, keep

    frames = [(demo, image), (None, image), (None, None)][0 if demo else 1 :]
    for shown_demo, shown_image in frames:
        encoded, kept = fit(shown_demo, shown_image)
        if len(encoded["input_ids"]) <= cap and kept >= min(least, len(ids)):
            return encoded, True
    return encoded, True  # only the frame and what fit: within the cap the config guarantees
