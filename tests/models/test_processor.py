"""The NumPy/PIL image processor equals transformers' PIL Qwen2-VL image processor (as
configured for Qwen3-VL) value for value, on images of several sizes, aspect ratios and modes."""

import json

import numpy as np
import PIL.Image
import pytest
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
    Qwen2VLImageProcessorPil,
)
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
    smart_resize as hf_smart_resize,
)

from models.qwen3_vl.processor import ImageProcessor, smart_resize

# Qwen3-VL's released preprocessor_config.json.
QWEN3_VL_CONFIG = {
    "size": {"longest_edge": 16777216, "shortest_edge": 65536},
    "patch_size": 16,
    "temporal_patch_size": 2,
    "merge_size": 2,
    "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5],
    "processor_class": "Qwen3VLProcessor",
    "image_processor_type": "Qwen2VLImageProcessorFast",
}
# Small bounds so resizing both up and down happens on small test images.
SMALL_CONFIG = {**QWEN3_VL_CONFIG, "size": {"shortest_edge": 64 * 64, "longest_edge": 160 * 160}}
# Legacy Qwen2-VL keys and CLIP-style normalization: every config key must reach the math.
LEGACY_CONFIG = {
    "min_pixels": 56 * 56,
    "max_pixels": 140 * 140,
    "patch_size": 14,
    "merge_size": 2,
    "temporal_patch_size": 2,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "rescale_factor": 1 / 256,
}

# (height, width): square, wide, tall, tiny (grows to min_pixels), odd sizes, large (shrinks).
SIZES = [(64, 64), (37, 251), (300, 45), (10, 10), (97, 131), (720, 1280), (1, 150)]


def hf_processor(config):
    fields = {
        k: v for k, v in config.items() if k not in ("processor_class", "image_processor_type")
    }
    return Qwen2VLImageProcessorPil(**fields)


def random_image(rng, height, width, mode="RGB"):
    if mode == "RGBA":
        return PIL.Image.fromarray(rng.integers(0, 256, (height, width, 4), np.uint8), "RGBA")
    if mode == "L":
        return PIL.Image.fromarray(rng.integers(0, 256, (height, width), np.uint8), "L")
    if mode == "P":
        image = PIL.Image.fromarray(rng.integers(0, 256, (height, width), np.uint8), "L")
        image = image.convert("P")
        image.info["transparency"] = 7
        return image
    # Smooth gradient plus noise: bicubic overshoot and clipping both get exercised.
    ys, xs = np.mgrid[0:height, 0:width]
    base = (255 * (ys / max(height - 1, 1) + xs / max(width - 1, 1)) / 2)[..., None]
    pixels = np.clip(base + rng.normal(0, 60, (height, width, 3)), 0, 255).astype(np.uint8)
    return PIL.Image.fromarray(pixels, "RGB")


@pytest.mark.parametrize(
    "config", [QWEN3_VL_CONFIG, SMALL_CONFIG, LEGACY_CONFIG], ids=["qwen3vl", "small", "legacy"]
)
def test_matches_transformers_on_sizes_and_aspect_ratios(config):
    rng = np.random.default_rng(0)
    images = [random_image(rng, h, w) for h, w in SIZES]
    ours = ImageProcessor.from_dict(config)(images)
    theirs = hf_processor(config)(images=images, return_tensors="np")
    np.testing.assert_array_equal(ours["image_grid_thw"], theirs["image_grid_thw"])
    assert ours["pixel_values"].dtype == np.float32
    np.testing.assert_array_equal(ours["pixel_values"], theirs["pixel_values"])


@pytest.mark.parametrize("mode", ["RGBA", "L", "P"])
def test_matches_transformers_on_image_modes(mode):
    rng = np.random.default_rng(1)
    images = [random_image(rng, 70, 90, mode), random_image(rng, 33, 200, mode)]
    ours = ImageProcessor.from_dict(SMALL_CONFIG)(images)
    theirs = hf_processor(SMALL_CONFIG)(images=images, return_tensors="np")
    np.testing.assert_array_equal(ours["image_grid_thw"], theirs["image_grid_thw"])
    np.testing.assert_array_equal(ours["pixel_values"], theirs["pixel_values"])


def test_smart_resize_matches_transformers():
    rng = np.random.default_rng(2)
    for _ in range(2000):
        height, width = (int(v) for v in rng.integers(1, 5000, 2))
        if max(height, width) / min(height, width) > 200:
            continue
        bounds = dict(factor=32, min_pixels=65536, max_pixels=int(rng.integers(2**16, 2**24)))
        assert smart_resize(height, width, **bounds) == hf_smart_resize(height, width, **bounds)


def test_patch_rows_follow_merge_windows():
    """Rows are grouped by 2×2 merge window, and a row holds (channel, time, y, x) values."""
    processor = ImageProcessor(min_pixels=32 * 64, max_pixels=32 * 64)
    chw = np.arange(3 * 32 * 64, dtype=np.float32).reshape(3, 32, 64)
    rows, grid = processor.patchify(chw)
    assert grid == (1, 2, 4) and rows.shape == (8, 1536)
    # Rows 0-3 are the first window's patches (0,0) (0,1) (1,0) (1,1); row 4 starts the next.
    patch = rows[2].reshape(3, 2, 16, 16)
    np.testing.assert_array_equal(patch[:, 0], chw[:, 16:32, 0:16])
    np.testing.assert_array_equal(patch[:, 1], patch[:, 0])
    np.testing.assert_array_equal(rows[4].reshape(3, 2, 16, 16)[:, 0], chw[:, 0:16, 32:48])


def test_from_folder_reads_either_layout(tmp_path):
    legacy = {"min_pixels": 3136, "max_pixels": 12845056, "patch_size": 14, "image_mean": [0.4] * 3}
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(legacy))
    processor = ImageProcessor.from_folder(tmp_path)
    assert (processor.min_pixels, processor.max_pixels, processor.patch_size) == (
        3136,
        12845056,
        14,
    )
    assert processor.image_mean == (0.4, 0.4, 0.4)
    assert ImageProcessor.from_dict(QWEN3_VL_CONFIG) == ImageProcessor()


def test_bad_input_gives_one_line():
    with pytest.raises(FileNotFoundError, match=r"preprocessor_config\.json"):
        ImageProcessor.from_folder("/nonexistent")
    with pytest.raises(ValueError, match="aspect ratio above 200"):
        ImageProcessor()([PIL.Image.new("RGB", (1000, 2))])
    with pytest.raises(ValueError, match="min_pixels <= max_pixels"):
        ImageProcessor(min_pixels=10, max_pixels=5)
    with pytest.raises(ValueError, match=r"turns off \['do_normalize'\]"):
        ImageProcessor.from_dict({**QWEN3_VL_CONFIG, "do_normalize": False})
    with pytest.raises(TypeError, match="expected PIL images"):
        ImageProcessor()([np.zeros((32, 32, 3), np.uint8)])


def test_num_image_tokens():
    processor = ImageProcessor()
    assert processor.num_image_tokens((1, 10, 28)) == 70
    empty = processor([])
    assert empty["pixel_values"].shape == (0, 1536) and empty["image_grid_thw"].shape == (0, 3)
