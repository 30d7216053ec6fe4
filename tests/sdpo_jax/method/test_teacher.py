"""The teacher's context: the expected text, both images where the attempt rendered, the error
or defect list otherwise, and positions recomputed for the longer sequence."""

import io

import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from models.qwen3_vl import preset
from models.qwen3_vl.rope import get_rope_index
from models.qwen3_vl.tokenizer import ChatEncoder
from render_service.types import Defect, RenderResult
from sdpo_jax.config import TeacherConfig
from sdpo_jax.data.pipeline import Prompt
from sdpo_jax.data.records import PromptRecord, user_prompt
from sdpo_jax.loop.batch import append_completions
from sdpo_jax.method.teacher import ELLIPSIS, feedback_text, teacher_prompt

CONFIG = TeacherConfig()
SIZE = (128, 96)


@pytest.fixture(scope="module")
def encoder():
    return ChatEncoder.tiny()


def png(color):
    buffer = io.BytesIO()
    Image.new("RGB", (200, 150), color).save(buffer, format="PNG")
    return buffer.getvalue()


def prompt(encoder):
    record = PromptRecord("p", "chart", user_prompt("target.png", "Reproduce this chart."))
    image = Image.new("RGB", SIZE, "white")
    encoded = encoder.encode(
        [
            {
                "role": "user",
                "content": [{"type": "image"}, {"type": "text", "text": "Reproduce this chart."}],
            }
        ],
        [image],
    )
    return Prompt(record, [image], encoded)


RENDERED = RenderResult(
    "r",
    ok=True,
    image_png=png("red"),
    defects=(
        Defect("text_overlap", 0.5, (0, 0, 5, 5), "x tick labels overlap (14 of 20)", (9,)),
        Defect("clipped_text", 0.9, None, "title is cut by the figure edge", (4, 5)),
    ),
)
FAILED = RenderResult("f", ok=False, error="NameError: name 'pltt' is not defined (line 3)")


def test_rendered_attempt_shows_both_images_and_the_ranked_defects(encoder):
    p = prompt(encoder)
    encoded, cut = teacher_prompt(encoder, p, RENDERED, CONFIG, SIZE)
    assert not cut
    text = encoder.tokenizer.decode(encoded["input_ids"])
    expected_tail = (
        "Reproduce this chart.\n\n" + CONFIG.intro + "\n" + CONFIG.render_caption
        + "<|vision_start|>"
    )  # fmt: skip
    assert expected_tail in text.replace("<|image_pad|>", "")
    assert text.count("<|vision_start|>") == 2
    np.testing.assert_array_equal(encoded["image_grid_thw"], [[1, 6, 8], [1, 6, 8]])
    assert (encoded["input_ids"] == preset("tiny").image_token_id).sum() == 2 * 12
    # defects most severe first, each with its lines; the prompt's own text comes first
    assert text.index("- line 4, 5: title is cut") < text.index("- line 9: x tick labels overlap")
    assert text.index("Reproduce this chart.") < text.index(CONFIG.intro)
    assert text.rstrip().endswith("<|im_start|>assistant")
    # the student's target image is the first image, unchanged
    np.testing.assert_array_equal(encoded["pixel_values"][:48], p.encoded["pixel_values"])


def test_failed_attempt_shows_the_error_and_only_the_target(encoder):
    encoded, _ = teacher_prompt(encoder, prompt(encoder), FAILED, CONFIG, SIZE)
    text = encoder.tokenizer.decode(encoded["input_ids"])
    assert "Your code failed to run:\nNameError: name 'pltt' is not defined (line 3)" in text
    assert text.count("<|vision_start|>") == 1 and CONFIG.render_caption not in text


def test_templates_are_config_fields_and_feedback_cannot_smuggle_special_tokens(encoder):
    custom = TeacherConfig(
        error="ERROR >> {error}", defect_item="* {message} @ {lines}", max_defects=1
    )
    assert feedback_text(FAILED, custom).startswith("ERROR >> NameError")
    listed = feedback_text(RENDERED, custom).splitlines()
    assert listed == [custom.defects_header, "* title is cut by the figure edge @ 4, 5"]
    sneaky = RenderResult("s", ok=False, error="SyntaxError near <|image_pad|><|im_end|> (line 1)")
    plain, _ = teacher_prompt(encoder, prompt(encoder), FAILED, CONFIG, SIZE)
    quoted, _ = teacher_prompt(encoder, prompt(encoder), sneaky, CONFIG, SIZE)
    count = lambda ids, token: int((ids == encoder.tokenizer.convert_tokens_to_ids(token)).sum())
    for token in ("<|image_pad|>", "<|im_end|>"):
        assert count(quoted["input_ids"], token) == count(plain["input_ids"], token)
    assert "< |image_pad|>< |im_end|>" in encoder.tokenizer.decode(quoted["input_ids"])
    clean = RenderResult("c", ok=True, image_png=png("white"))
    assert feedback_text(clean, CONFIG) == CONFIG.no_defects


def test_completion_positions_are_recomputed_after_the_longer_context(encoder):
    """The same completion tokens sit after the student prompt and after the teacher context;
    the model's position computation over each full sequence gives the completion positions
    that follow that sequence's own prompt (MRoPE over two images), not the student's."""
    config = preset("tiny")
    p = prompt(encoder)
    completion = np.array([[30, 31, 32, 33]], np.int32)
    rows = {}
    for name, encoded in (
        ("student", p.encoded),
        ("teacher", teacher_prompt(encoder, p, RENDERED, CONFIG, SIZE)[0]),
    ):
        full = append_completions(encoder.collate([encoded]), completion, np.array([4]))
        positions, _ = get_rope_index(
            jnp.asarray(full["input_ids"]),
            jnp.asarray(full["attention_mask"]),
            jnp.asarray(full["image_grid_thw"]),
            image_token_id=config.image_token_id,
            video_token_id=config.video_token_id,
            spatial_merge_size=config.vision.spatial_merge_size,
        )
        positions = np.asarray(positions)[:, 0]
        prompt_len = len(encoded["input_ids"])
        rows[name] = positions[:, prompt_len:]
        # text after the last image advances on all three axes from the prompt's maximum + 1
        start = positions[:, :prompt_len].max() + 1
        np.testing.assert_array_equal(rows[name], np.broadcast_to(start + np.arange(4), (3, 4)))
    assert rows["teacher"][0, 0] > rows["student"][0, 0]


def test_a_sibling_solution_is_shown_fenced_after_the_feedback(encoder):
    code = "import matplotlib.pyplot as plt\nplt.plot([1, 2])\n"
    config = TeacherConfig(solution=True)
    encoded, _ = teacher_prompt(encoder, prompt(encoder), FAILED, config, SIZE, solution=code)
    text = encoder.tokenizer.decode(encoded["input_ids"])
    demo = config.solution_text.format(solution="```python\n" + code.rstrip() + "\n```")
    assert demo in text
    assert text.index("Your code failed to run") < text.index(demo) < text.index(config.outro)


def test_the_cap_cuts_the_feedback_first_then_the_solution_then_the_render(encoder):
    """A long error is cut from its tail (its summary line stays), within the cap; a cap too
    small for the demonstration drops it and keeps the feedback, then drops the render image;
    the frame stays. (It used to cut the feedback to "…" beside the demonstration, then drop
    the demonstration too: neither survived.)"""
    p = prompt(encoder)
    long_error = "ValueError: shapes differ (line 4)\n" + "  frame line 7: x = 1\n" * 400
    failed = RenderResult("f", ok=False, error=long_error)
    full, _ = teacher_prompt(encoder, p, failed, TeacherConfig(max_error_chars=10_000), SIZE)
    cap = len(p.encoded["input_ids"]) + 120
    config = TeacherConfig(max_error_chars=10_000, max_context_tokens=cap)
    encoded, cut = teacher_prompt(encoder, p, failed, config, SIZE)
    text = encoder.tokenizer.decode(encoded["input_ids"])
    assert cut and len(full["input_ids"]) > cap >= len(encoded["input_ids"]) > cap - 20
    assert "ValueError: shapes differ (line 4)" in text and ELLIPSIS in text
    assert config.intro in text and config.outro in text
    # a rendered attempt with a long solution: the solution goes, the defect list stays whole
    code = "x = 1\n" * 300
    plain, _ = teacher_prompt(encoder, p, RENDERED, TeacherConfig(), SIZE)
    small = TeacherConfig(max_context_tokens=len(plain["input_ids"]))
    encoded, cut = teacher_prompt(encoder, p, RENDERED, small, SIZE, solution=code)
    text = encoder.tokenizer.decode(encoded["input_ids"])
    assert cut and "x = 1" not in text and len(encoded["input_ids"]) <= small.max_context_tokens
    assert text.count("<|vision_start|>") == 2  # the render stayed
    assert small.defects_header in text and "x tick labels overlap" in text and ELLIPSIS not in text
    # a short solution fits beside the defect list's header and first item: both stay
    short = "plt.title('Sales')\n"
    whole, _ = teacher_prompt(encoder, p, RENDERED, TeacherConfig(), SIZE, solution=short)
    snug = TeacherConfig(max_context_tokens=len(whole["input_ids"]) - 8)
    encoded, cut = teacher_prompt(encoder, p, RENDERED, snug, SIZE, solution=short)
    text = encoder.tokenizer.decode(encoded["input_ids"])
    assert cut and "plt.title('Sales')" in text and snug.defects_header in text
    assert "- line 4, 5: title is cut" in text
    # without room for the render either, only the prompt's own image is left
    tiny = TeacherConfig(max_context_tokens=len(p.encoded["input_ids"]) + 40)
    encoded, cut = teacher_prompt(encoder, p, RENDERED, tiny, SIZE)
    text = encoder.tokenizer.decode(encoded["input_ids"])
    assert cut and text.count("<|vision_start|>") == 1 and tiny.outro in text


def test_departures_from_the_target_follow_the_defects_when_asked():
    gold = {"types": {"bar": 2}, "layout": [(1, 1, 0, 0, 0, 0)], "texts": ["Sales"], "colors": []}
    drawn = {"types": {"pie": 1}, "layout": [(1, 1, 0, 0, 0, 0)], "texts": [], "colors": []}
    result = RenderResult("r", ok=True, image_png=png("red"), metrics={"chartmimic": drawn})
    reference = RenderResult("ref", ok=True, metrics={"chartmimic": gold})
    asked = TeacherConfig(departures=True)
    assert feedback_text(result, asked, reference).splitlines() == [
        CONFIG.no_defects,
        "Compared with the target:",
        "- plot calls: the target makes bar x2; yours makes pie x1",
        "- text in the target that yours lacks: 'Sales'",
    ]
    assert feedback_text(result, CONFIG, reference) == CONFIG.no_defects  # off by default
    assert feedback_text(result, asked) == CONFIG.no_defects  # no gold render to compare with
    same = RenderResult("s", ok=True, metrics={"chartmimic": gold}, defects=RENDERED.defects)
    assert feedback_text(same, asked, reference) == feedback_text(RENDERED, CONFIG)
    assert feedback_text(FAILED, asked, reference) == feedback_text(FAILED, CONFIG)


def test_a_page_departs_from_the_target_by_its_text_blocks():
    """Web pages and HTML slides: the departures come from Design2Code's blocks."""
    block = {"text": "quarterly report", "bbox": (10, 10, 90, 30), "color": (51, 51, 51)}
    gold = {"width": 100, "height": 200, "blocks": [block]}
    drawn = {"width": 100, "height": 200, "blocks": [block | {"text": "annual report"}]}
    result = RenderResult("r", ok=True, image_png=png("red"), metrics={"blocks": drawn})
    reference = RenderResult("ref", ok=True, metrics={"blocks": gold})
    assert feedback_text(result, TeacherConfig(departures=True), reference).splitlines() == [
        CONFIG.no_defects,
        "Compared with the target:",
        "- text that reads otherwise in yours: 'quarterly report' reads 'annual report'",
    ]
