"""CLIP image similarity for Design2Code, from a local CLIP model folder only.

Design2Code's fifth score is the cosine similarity of CLIP image embeddings of the two
screenshots, each with its text blocks inpainted (OpenCV's Telea method, radius 3), so CLIP
compares layout and imagery rather than text, then resized to a square of its shorter side.
Nothing is downloaded: without a configured folder the score is reported as not computed
(None), never faked. torch, transformers and OpenCV are imported only when a folder is
configured.
"""

from __future__ import annotations

import io
import os

from PIL import Image


class ClipScorer:
    """A CLIP vision tower loaded once from `model_dir` (a Hugging Face CLIP folder)."""

    def __init__(self, model_dir: str):
        if not os.path.isfile(os.path.join(model_dir, "config.json")):
            raise FileNotFoundError(
                f"no CLIP model at {model_dir!r} (no config.json): point clip_model_dir at a "
                "local Hugging Face CLIP folder, or leave it unset to report CLIP as not computed"
            )
        try:
            import cv2  # noqa: F401  (inpainting, below)
            import torch
        except ImportError as err:
            raise ImportError(
                f"CLIP scoring needs torch and OpenCV ({err.name} is missing): install the "
                "references with `pip install -e '.[test]'` (make test does)"
            ) from None
        from transformers import CLIPImageProcessor, CLIPModel

        self._torch = torch
        self.model = CLIPModel.from_pretrained(model_dir, local_files_only=True).eval()
        self.processor = CLIPImageProcessor.from_pretrained(model_dir, local_files_only=True)

    def embed(self, png: bytes, boxes=()):
        """The unit image embedding of `png` with `boxes` ((x, y, w, h) as shares of the
        image, Design2Code's block boxes) inpainted."""
        image = Image.open(io.BytesIO(png)).convert("RGB")
        if boxes:
            image = inpainted(image, boxes)
        side = min(image.size)
        image = image.resize((side, side), Image.LANCZOS)
        pixels = self.processor(images=image, return_tensors="pt")["pixel_values"]
        with self._torch.no_grad():
            features = self.model.get_image_features(pixel_values=pixels)
        if not isinstance(features, self._torch.Tensor):  # transformers 5 returns an output
            features = features.pooler_output
        return features[0] / features[0].norm()

    def similarity(self, png_a: bytes, png_b: bytes, boxes_a=(), boxes_b=()) -> float:
        return float(self.embed(png_a, boxes_a) @ self.embed(png_b, boxes_b))


def inpainted(image: Image.Image, boxes) -> Image.Image:
    """`image` with each box filled in from its surroundings (Telea, radius 3)."""
    import cv2
    import numpy as np

    pixels = np.asarray(image)
    height, width = pixels.shape[:2]
    mask = np.zeros((height, width), np.uint8)
    for x, y, w, h in boxes:
        left, top = int(x * width), int(y * height)
        mask[top : top + int(h * height), left : left + int(w * width)] = 255
    return Image.fromarray(cv2.inpaint(pixels, mask, 3, cv2.INPAINT_TELEA))
