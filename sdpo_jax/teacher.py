"""The teacher's context: the student's prompt with its last user turn extended by the feedback
on one rollout, the chat template re-applied.

What the teacher is shown, in order, after the original turn (its target image kept):
  intro; the render of the attempt as an image (when it rendered and `show_render`); the defect
  list with the lines each defect was traced to, or "no visible defects"; or the execution error
  (first `max_error_chars` characters); outro.
The student's completion is appended to this context unchanged, token for token, by the batch
assembly (`sdpo_jax.batch`), so the teacher scores exactly the tokens the student produced;
the model recomputes MRoPE positions for the longer sequence in its own forward pass.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from render_service.types import RenderResult
from sdpo_jax.config import TeacherConfig
from sdpo_jax.data.pipeline import Prompt, letterbox, template_messages


def feedback_text(result: RenderResult, config: TeacherConfig) -> str:
    """The defect list or the execution error as the teacher reads it. Special-token strings
    quoted from the code (an error line can hold `<|image_pad|>`) are broken up, so feedback is
    read as text and never claims an image or ends a turn."""
    return _feedback(result, config).replace("<|", "< |")


def _feedback(result: RenderResult, config: TeacherConfig) -> str:
    if not result.ok:
        error = (result.error or "unknown error").strip()
        return config.error.format(error=error[: config.max_error_chars])
    if not result.defects:
        return config.no_defects
    ranked = sorted(result.defects, key=lambda d: -d.severity)[: config.max_defects]
    items = [
        config.defect_item.format(
            lines=", ".join(map(str, sorted(d.source_lines))) or "?", message=d.message
        )
        for d in ranked
    ]
    return "\n".join([config.defects_header, *items])


def render_image(result: RenderResult, image_size: tuple[int, int] | None) -> Image.Image | None:
    if not result.ok or not result.image_png:
        return None
    image = Image.open(io.BytesIO(result.image_png)).convert("RGB")
    return letterbox(image, image_size) if image_size else image


def teacher_messages(
    messages: Sequence[dict[str, Any]],
    result: RenderResult,
    config: TeacherConfig,
    show_image: bool,
) -> list[dict[str, Any]]:
    """`messages` (template form) with the feedback appended to the last user turn."""
    messages = [dict(m) for m in messages]
    last = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=None)
    if last is None:
        raise ValueError("the prompt has no user turn to attach feedback to")
    content = messages[last]["content"]
    parts = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
    parts.append({"type": "text", "text": "\n\n" + config.intro})
    if show_image:
        parts += [{"type": "text", "text": "\n" + config.render_caption}, {"type": "image"}]
    parts.append(
        {"type": "text", "text": "\n" + feedback_text(result, config) + "\n\n" + config.outro}
    )
    messages[last] = {"role": messages[last]["role"], "content": parts}
    return messages


def teacher_prompt(
    encoder,
    prompt: Prompt,
    result: RenderResult,
    config: TeacherConfig,
    image_size: tuple[int, int] | None,
) -> dict[str, np.ndarray]:
    """The encoded teacher context (prompt part only) for one rollout of `prompt`: input_ids,
    mm_token_type_ids, pixel_values and image_grid_thw, the prompt's images first."""
    image = render_image(result, image_size) if config.show_render else None
    messages = teacher_messages(
        template_messages(prompt.record.messages), result, config, image is not None
    )
    return encoder.encode(messages, [*prompt.images, *([image] if image else [])])
