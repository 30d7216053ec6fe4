"""Tiny tokenizer, chat template and image-token expansion, checked against transformers:
Qwen's own tokenizer pipeline, hand-written Qwen-format text and Qwen3VLProcessor's batches."""

import itertools
import json
import shutil

import numpy as np
import PIL.Image
import pytest
from transformers import AutoTokenizer, Qwen2Tokenizer, Qwen3VLProcessor
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
    Qwen2VLImageProcessorPil,
)
from transformers.processing_utils import ProcessorMixin

from models.qwen3_vl import make_tiny_tokenizer
from models.qwen3_vl.tokenizer import TINY_FOLDER, ChatEncoder, expand_image_tokens

QWEN_TOKENS = make_tiny_tokenizer.SPECIAL_TOKENS + make_tiny_tokenizer.ADDED_TOKENS
CODE = (
    "import matplotlib.pyplot as plt\n\nfig, ax = plt.subplots(figsize=(6, 4))\n"
    "ax.bar(['Q1', 'Q2'], [3.5, 12], color='#1f77b4')  # revenue, in €\n"
    "ax.set_title('Température moyenne 😀')\n\t\tplt.savefig(\"out.png\")   \n"
    '<div class="card" style="margin: 12px;">It\'s DONE\'LL</div>\r\n'
)


@pytest.fixture(scope="module")
def encoder():
    return ChatEncoder.tiny()


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    sizes = [(100, 200), (64, 64), (300, 50), (720, 1280), (20, 33)]
    return [PIL.Image.fromarray(rng.integers(0, 256, (h, w, 3), np.uint8)) for h, w in sizes]


def test_qwen_token_ids_are_fixed(encoder):
    tokenizer = encoder.tokenizer
    assert len(tokenizer) == 4026
    assert tokenizer.convert_tokens_to_ids(list(QWEN_TOKENS)) == list(range(4000, 4026))
    assert tokenizer.convert_tokens_to_ids(["<|im_end|>", "<|vision_start|>"]) == [4002, 4009]
    assert tokenizer.convert_tokens_to_ids("<|image_pad|>") == 4012
    assert (tokenizer.eos_token_id, tokenizer.pad_token_id) == (4002, 4000)
    ordinary = [i for t, i in tokenizer.get_vocab().items() if t not in QWEN_TOKENS]
    assert sorted(ordinary) == list(range(4000))


def test_matches_qwen_tokenizer_pipeline(encoder):
    """transformers' Qwen2Tokenizer, built from our vocab and merges, sets up Qwen's normalizer,
    split regex and byte-level steps itself: it must tokenize exactly like our file."""
    model = json.loads((TINY_FOLDER / "tokenizer.json").read_text())["model"]
    reference = Qwen2Tokenizer(vocab=model["vocab"], merges=[tuple(m) for m in model["merges"]])
    texts = [CODE, " leading and  double  spaces", "x\n\n\n  y", "ÅÅ café naïve 12345"]
    for text in texts:
        ours = encoder.tokenizer(text, add_special_tokens=False)["input_ids"]
        assert ours == reference(text, add_special_tokens=False)["input_ids"]
        assert encoder.tokenizer.decode(ours) == text


def test_offsets_map_every_character(encoder):
    """Offsets tile the text without gaps, so characters of a completion map to tokens."""
    text = CODE.replace("😀", "").replace("€", "EUR").replace("é", "e")  # one byte per char
    encoded = encoder.tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
    offsets = encoded["offset_mapping"]
    assert offsets[0][0] == 0 and offsets[-1][1] == len(text)
    for (_, end), (start, _) in itertools.pairwise(offsets):
        assert end == start
    for token_id, (start, end) in zip(encoded["input_ids"], offsets):
        assert encoder.tokenizer.decode([token_id]) == text[start:end]


def test_chat_template_gives_qwen_format(encoder):
    messages = [
        {"role": "system", "content": "You write matplotlib code."},
        {
            "role": "user",
            "content": [
                {"type": "image"},
                {"type": "text", "text": "Recreate this chart."},
                {"type": "image"},
            ],
        },
        {"role": "assistant", "content": "```python\nimport matplotlib\n```"},
        {"role": "user", "content": [{"type": "text", "text": "Fix the legend."}]},
    ]
    vision = "<|vision_start|><|image_pad|><|vision_end|>"
    expected = (
        "<|im_start|>system\nYou write matplotlib code.<|im_end|>\n"
        f"<|im_start|>user\n{vision}Recreate this chart.{vision}<|im_end|>\n"
        "<|im_start|>assistant\n```python\nimport matplotlib\n```<|im_end|>\n"
        "<|im_start|>user\nFix the legend.<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert encoder.chat_text(messages) == expected
    assert encoder.chat_text(messages, add_generation_prompt=False) == expected.removesuffix(
        "<|im_start|>assistant\n"
    )
    hf_ids = encoder.tokenizer.apply_chat_template(
        messages, tokenize=True, add_generation_prompt=True, return_dict=True
    )["input_ids"]
    hand_ids = encoder.tokenizer(expected)["input_ids"]
    assert hf_ids == hand_ids
    assert hand_ids[:3] == [4001, *encoder.tokenizer("system\n")["input_ids"]][:3]
    assert hand_ids.count(4012) == 2 and hand_ids.count(4009) == 2 and hand_ids[-1] == 198


def test_batch_matches_transformers_processor(encoder, images, monkeypatch):
    # The processor's class check consults the video-processor registry, which needs
    # torchvision; nothing video-related runs here, so skip that check.
    monkeypatch.setattr(ProcessorMixin, "check_argument_for_proper_class", lambda *a: None)
    image_processor = Qwen2VLImageProcessorPil(
        **json.loads((TINY_FOLDER / "preprocessor_config.json").read_text())
    )
    tokenizer = AutoTokenizer.from_pretrained(TINY_FOLDER, local_files_only=True)
    tokenizer.padding_side = "left"
    reference = Qwen3VLProcessor(image_processor, tokenizer, video_processor=None)

    def user(*items):
        return [{"role": "user", "content": list(items)}]

    image, text = {"type": "image"}, {"type": "text", "text": "Draw this as a bar chart."}
    conversations = [user(image, text), user(text, image, image, image), user(text)]
    per_conversation = [images[:1], images[1:4], []]
    ours = encoder.batch(conversations, per_conversation)
    theirs = reference(
        text=[encoder.chat_text(c) for c in conversations],
        images=images[:4],
        padding=True,
        return_tensors="np",
    )
    assert set(ours) == {
        "input_ids",
        "attention_mask",
        "mm_token_type_ids",
        "pixel_values",
        "image_grid_thw",
    }
    for key, value in ours.items():
        np.testing.assert_array_equal(value, theirs[key], err_msg=key)
    assert ours["input_ids"].dtype == np.int32 and ours["pixel_values"].dtype == np.float32
    assert ours["attention_mask"][2, 0] == 0 and ours["input_ids"][2, 0] == 4000  # left pad


def test_batch_pads_to_requested_length(encoder, images):
    conversations = [[{"role": "user", "content": [{"type": "image"}]}]]
    free = encoder.batch(conversations, [images[4:5]])
    fixed = encoder.batch(conversations, [images[4:5]], length=free["input_ids"].shape[1] + 5)
    np.testing.assert_array_equal(fixed["input_ids"][:, 5:], free["input_ids"])
    assert fixed["attention_mask"][0, :5].sum() == 0
    with pytest.raises(ValueError, match="more than the batch length"):
        encoder.batch(conversations, [images[4:5]], length=3)


def test_mismatched_image_counts_give_one_line(encoder, images):
    conversation = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "x"}]}]
    with pytest.raises(ValueError) as error:
        encoder.batch([conversation, conversation], [images[:1], images[:2]])
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("conversation 1: the text has 1 <|image_pad|> tokens but 2 images")
    with pytest.raises(ValueError, match="one list of images per conversation"):
        encoder.batch([conversation], [])
    with pytest.raises(ValueError, match="not multiples of merge_size"):
        expand_image_tokens([4012], np.array([[1, 3, 4]]), 2, 4012)


def test_expand_image_tokens_counts():
    ids = [1, 4012, 2, 4012, 3]
    expanded = expand_image_tokens(ids, np.array([[1, 2, 4], [1, 4, 6]]), 2, 4012)
    np.testing.assert_array_equal(expanded, [1] + [4012] * 2 + [2] + [4012] * 6 + [3])


def test_loads_real_qwen_folder_layout(tmp_path, encoder):
    """Qwen-VL releases keep the template in the processor's chat_template.json, not in
    tokenizer_config.json, and list extra keys (additional_special_tokens, processor_class)."""
    folder = tmp_path / "model"
    shutil.copytree(TINY_FOLDER, folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    template = config.pop("chat_template")
    config["additional_special_tokens"] = list(make_tiny_tokenizer.SPECIAL_TOKENS[1:])
    config["processor_class"] = "Qwen3VLProcessor"
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    (folder / "chat_template.json").write_text(json.dumps({"chat_template": template}))
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}]
    loaded = ChatEncoder.from_folder(folder)
    assert loaded.chat_text(messages) == encoder.chat_text(messages)
    assert loaded.tokenizer.eos_token_id == 4002 and loaded.tokenizer.padding_side == "left"


def test_template_file_precedence(tmp_path):
    """chat_template.jinja (transformers 5) wins over chat_template.json, which wins over
    tokenizer_config.json's template."""
    folder = tmp_path / "model"
    shutil.copytree(TINY_FOLDER, folder)
    user = [{"role": "user", "content": "hi"}]
    (folder / "chat_template.json").write_text(json.dumps({"chat_template": "json"}))
    assert ChatEncoder.from_folder(folder).chat_text(user) == "json"
    (folder / "chat_template.jinja").write_text(
        "{% for m in messages %}[{{ m['role'] }}]{% endfor %}"
    )
    assert ChatEncoder.from_folder(folder).chat_text(user) == "[user]"


def test_bad_folders_give_one_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="no tokenizer in"):
        ChatEncoder.from_folder(tmp_path)
    folder = tmp_path / "model"
    shutil.copytree(TINY_FOLDER, folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    del config["chat_template"]
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="has no chat template"):
        ChatEncoder.from_folder(folder)


def test_make_tiny_tokenizer_reproduces_committed_assets(tmp_path):
    make_tiny_tokenizer.write_assets(tmp_path)
    for name in ("tokenizer.json", "tokenizer_config.json", "preprocessor_config.json"):
        assert (tmp_path / name).read_bytes() == (TINY_FOLDER / name).read_bytes(), name
