"""CLIP similarity from a local folder (a tiny random CLIP built here), checked against the
model's own forward pass; a missing folder is one clear error."""

import io

import numpy as np
import pytest
from PIL import Image

from render_service.metrics.clip import ClipScorer


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("clip")
    small = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4)
    config = CLIPConfig(
        text_config={**small, "vocab_size": 99, "eos_token_id": 2},
        vision_config={**small, "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )
    CLIPModel(config).save_pretrained(folder)
    CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    ).save_pretrained(folder)
    return str(folder)


def png(draw) -> bytes:
    image = Image.new("RGB", (64, 40), "white")
    pixels = np.asarray(image).copy()
    draw(pixels)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def test_similarity_matches_the_models_own_image_embeds(clip_dir):
    import torch

    scorer = ClipScorer(clip_dir)
    a = png(lambda p: p.__setitem__((slice(5, 20), slice(5, 40)), (200, 0, 0)))
    b = png(lambda p: p.__setitem__((slice(20, 35), slice(10, 60)), (0, 0, 200)))
    assert scorer.similarity(a, a) == pytest.approx(1.0, abs=1e-6)

    def embeds(data):  # the reference: CLIPModel.forward's normalised image_embeds
        image = Image.open(io.BytesIO(data)).convert("RGB").resize((40, 40), Image.LANCZOS)
        inputs = scorer.processor(images=image, return_tensors="pt")
        with torch.no_grad():
            out = scorer.model(input_ids=torch.tensor([[0, 1, 2]]), **inputs)
        return out.image_embeds[0]

    expected = float(embeds(a) @ embeds(b))
    assert scorer.similarity(a, b) == pytest.approx(expected, abs=1e-5)
    assert scorer.similarity(a, b) < 1 - 1e-4


def test_missing_folder_is_one_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no CLIP model at"):
        ClipScorer(str(tmp_path / "nowhere"))


def test_block_boxes_are_inpainted_before_embedding(clip_dir):
    import cv2

    scorer = ClipScorer(clip_dir)
    text = png(lambda p: p.__setitem__((slice(10, 20), slice(8, 40)), (0, 0, 0)))
    blank = png(lambda p: None)
    box = (8 / 64, 10 / 40, 32 / 64, 10 / 40)  # the text block, as shares of the image
    # The reference: OpenCV's Telea inpainting of the same rectangle, then the same embedding.
    pixels = np.asarray(Image.open(io.BytesIO(text)).convert("RGB"))
    mask = np.zeros(pixels.shape[:2], np.uint8)
    mask[10:20, 8:40] = 255
    out = io.BytesIO()
    Image.fromarray(cv2.inpaint(pixels, mask, 3, cv2.INPAINT_TELEA)).save(out, format="PNG")
    assert float(scorer.embed(text, [box]) @ scorer.embed(out.getvalue())) == pytest.approx(1.0)
    # With the text inpainted away, the page is close to a blank one; without, it is not.
    assert scorer.similarity(text, blank, [box]) > scorer.similarity(text, blank) + 1e-4


@pytest.mark.chromium
def test_score_items_with_a_clip_folder_reports_the_official_final(clip_dir):
    from render_service.config import RenderConfig
    from render_service.metrics import registry, score_items
    from render_service.pool import RenderPool
    from render_service.types import RenderRequest

    page = "<html><body><h1>Plans</h1><p>Pick a plan that fits your team.</p></body></html>"
    other = page.replace("Plans", "Prices").replace("<h1>", "<h1 style='margin: 200px'>")
    pairs = [
        (RenderRequest(name, "web", code), RenderRequest(f"{name}/ref", "web", page))
        for name, code in (("same", page), ("other", other))
    ]
    with RenderPool(RenderConfig(workers=1), registry=registry(), warm_domains=("web",)) as pool:
        same, changed = score_items(pairs, pool, clip_model_dir=clip_dir)["items"]
    assert same.scores["clip"] == pytest.approx(1.0, abs=1e-6)
    for item in (same, changed):
        five = sum(item.scores[k] for k in ("block_match", "text", "position", "color", "clip"))
        assert item.scores["final"] == pytest.approx(0.2 * five)
    assert changed.scores["final"] < same.scores["final"]
