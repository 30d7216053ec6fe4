"""Qwen3-VL image preprocessing in NumPy and PIL: images in, vision-tower patch rows out.

Equal, value for value, to transformers' PIL image processor for Qwen2-VL/Qwen3-VL
(`Qwen2VLImageProcessorPil`), so checkpoints trained with Hugging Face see the same pixels here.
The steps, in the reference's order and float types:

1. RGB: transparency is composited onto white; other modes are converted by PIL.
2. Smart resize: height and width become multiples of patch_size·merge_size (32 for Qwen3-VL),
   the pixel count lands within [min_pixels, max_pixels], the aspect ratio stays close; PIL
   BICUBIC on the uint8 image.
3. Rescale by 1/255 (rescale_factor) in float64, cast to float32, then (x − mean) / std in float32.
4. Patch rows: one row of C·T·P·P = 3·2·16·16 = 1536 values per 16×16 patch, rows ordered so
   that every merge_size×merge_size window of patches is contiguous (the order the patch merger
   expects); a still image fills both temporal slots.

No torch and no JAX here: this runs in host-side data pipelines.
"""

import dataclasses
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import PIL.Image

PREPROCESSOR_CONFIG = "preprocessor_config.json"
# Steps a Hugging Face config could switch off; Qwen-VL checkpoints are trained with all of them.
STEPS = ("do_convert_rgb", "do_resize", "do_rescale", "do_normalize")


def smart_resize(
    height: int, width: int, factor: int, min_pixels: int, max_pixels: int
) -> tuple[int, int]:
    """Target (height, width): multiples of `factor`, area within [min_pixels, max_pixels].

    Rounding follows the reference exactly (Python's round-half-even, then floor when shrinking
    and ceil when growing) because one pixel of difference changes the grid and the token count.
    """
    if max(height, width) / min(height, width) > 200:
        raise ValueError(
            f"image of {width}x{height} pixels has an aspect ratio above 200, which Qwen-VL "
            "cannot take; crop or pad it first"
        )
    resized_h = round(height / factor) * factor
    resized_w = round(width / factor) * factor
    if resized_h * resized_w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        resized_h = max(factor, math.floor(height / beta / factor) * factor)
        resized_w = max(factor, math.floor(width / beta / factor) * factor)
    elif resized_h * resized_w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        resized_h = math.ceil(height * beta / factor) * factor
        resized_w = math.ceil(width * beta / factor) * factor
    return resized_h, resized_w


def to_rgb(image: PIL.Image.Image) -> PIL.Image.Image:
    """RGB copy of `image`; transparent pixels become white, as in the reference."""
    if "A" in image.getbands() or image.info.get("transparency") is not None:
        rgba = image.convert("RGBA")
        white = PIL.Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return PIL.Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


@dataclasses.dataclass(frozen=True)
class ImageProcessor:
    """Turns PIL images into `pixel_values` rows and `image_grid_thw` for the vision tower.

    Build it from a model folder with `ImageProcessor.from_folder(path)`; the defaults are those
    of Qwen3-VL's released preprocessor_config.json.
    """

    min_pixels: int = 65536
    max_pixels: int = 16777216
    patch_size: int = 16
    temporal_patch_size: int = 2
    merge_size: int = 2
    image_mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    image_std: tuple[float, ...] = (0.5, 0.5, 0.5)
    rescale_factor: float = 1 / 255

    def __post_init__(self):
        factor = self.patch_size * self.merge_size
        if not 0 < self.min_pixels <= self.max_pixels:
            raise ValueError(
                f"need 0 < min_pixels <= max_pixels, got min_pixels={self.min_pixels}, "
                f"max_pixels={self.max_pixels}; fix {PREPROCESSOR_CONFIG}"
            )
        if self.max_pixels < factor * factor:
            raise ValueError(
                f"max_pixels={self.max_pixels} is below one {factor}x{factor} merge window; "
                f"raise it in {PREPROCESSOR_CONFIG}"
            )
        if len(self.image_mean) != 3 or len(self.image_std) != 3:
            raise ValueError(
                f"image_mean and image_std need 3 values (RGB), got {list(self.image_mean)} and "
                f"{list(self.image_std)}; fix {PREPROCESSOR_CONFIG}"
            )

    @classmethod
    def from_dict(cls, config: dict) -> "ImageProcessor":
        """From a preprocessor config dict in either Hugging Face layout.

        Qwen3-VL writes the pixel bounds as size = {shortest_edge: min, longest_edge: max};
        older Qwen2-VL folders use top-level min_pixels / max_pixels, which win when present
        (as in the reference). Keys that do not concern images (processor_class, ...) are
        ignored.
        """
        disabled = [key for key in STEPS if config.get(key) is False]
        if disabled:
            raise ValueError(
                f"{PREPROCESSOR_CONFIG} turns off {disabled}; Qwen3-VL's processor always runs "
                "these steps, remove those keys"
            )
        size = config.get("size") or {}
        fields = {
            "min_pixels": config.get("min_pixels", size.get("shortest_edge")),
            "max_pixels": config.get("max_pixels", size.get("longest_edge")),
            "patch_size": config.get("patch_size"),
            "temporal_patch_size": config.get("temporal_patch_size"),
            "merge_size": config.get("merge_size"),
            "image_mean": config.get("image_mean"),
            "image_std": config.get("image_std"),
            "rescale_factor": config.get("rescale_factor"),
        }
        given = {key: value for key, value in fields.items() if value is not None}
        for key in ("image_mean", "image_std"):
            if key in given:
                given[key] = tuple(float(v) for v in given[key])
        return cls(**given)

    @classmethod
    def from_folder(cls, folder: str | Path) -> "ImageProcessor":
        """From `<folder>/preprocessor_config.json`."""
        path = Path(folder) / PREPROCESSOR_CONFIG
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} not found: point at a Qwen3-VL model folder that has {PREPROCESSOR_CONFIG}"
            )
        return cls.from_dict(json.loads(path.read_text()))

    @property
    def patch_dim(self) -> int:
        """Values per patch row: channels · temporal · patch · patch."""
        return 3 * self.temporal_patch_size * self.patch_size**2

    def resized_size(self, height: int, width: int) -> tuple[int, int]:
        """Size an image of height×width is resized to."""
        factor = self.patch_size * self.merge_size
        return smart_resize(height, width, factor, self.min_pixels, self.max_pixels)

    def normalized(self, image: PIL.Image.Image) -> np.ndarray:
        """Resized, rescaled and normalized image as float32 (3, H, W)."""
        rgb = to_rgb(image)
        height, width = self.resized_size(rgb.height, rgb.width)
        resized = np.asarray(rgb.resize((width, height), PIL.Image.Resampling.BICUBIC))
        # Pixels are uint8, so a 256-entry table per channel holds every possible result; it is
        # computed with the reference's arithmetic (float64 rescale, float32 normalize), so the
        # values are identical, at a fraction of the per-pixel cost.
        table = self.value_table()
        return np.stack([table[c][resized[:, :, c]] for c in range(3)])

    def value_table(self) -> np.ndarray:
        """(3, 256) float32: normalized value of each uint8 level per channel."""
        scaled = (np.arange(256, dtype=np.float64) * self.rescale_factor).astype(np.float32)
        mean = np.asarray(self.image_mean, np.float32)[:, None]
        std = np.asarray(self.image_std, np.float32)[:, None]
        return (scaled[None, :] - mean) / std

    def patchify(self, chw: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int]]:
        """(3, H, W) → rows (h·w, patch_dim) in merge-window order, and the grid (1, h, w)."""
        p, m, t = self.patch_size, self.merge_size, self.temporal_patch_size
        channels, height, width = chw.shape
        grid_h, grid_w = height // p, width // p
        blocks = chw.reshape(channels, grid_h // m, m, p, grid_w // m, m, p)
        # → (window row, window col, row in window, col in window, channel, py, px)
        blocks = blocks.transpose(1, 4, 2, 5, 0, 3, 6)
        # A still image is one frame repeated over the temporal patch.
        frames = np.repeat(blocks[:, :, :, :, :, None], t, axis=5)
        return frames.reshape(grid_h * grid_w, self.patch_dim), (1, grid_h, grid_w)

    def __call__(self, images: Sequence[PIL.Image.Image]) -> dict[str, np.ndarray]:
        """`pixel_values` float32 (Σ h·w, patch_dim) and `image_grid_thw` int64 (n, 3)."""
        rows, grids = [], []
        for image in images:
            if not isinstance(image, PIL.Image.Image):
                raise TypeError(
                    f"expected PIL images, got {type(image).__name__}; open files with "
                    "PIL.Image.open first"
                )
            patches, grid = self.patchify(self.normalized(image))
            rows.append(patches)
            grids.append(grid)
        if len(rows) == 1:
            pixel_values = rows[0]  # spares a 20 MB copy for one full-size image
        elif rows:
            pixel_values = np.concatenate(rows)
        else:
            pixel_values = np.zeros((0, self.patch_dim), np.float32)
        return {
            "pixel_values": pixel_values,
            "image_grid_thw": np.asarray(grids, np.int64).reshape(-1, 3),
        }

    def num_image_tokens(self, grid_thw: Sequence[int]) -> int:
        """Placeholder tokens one image takes in the text: t·h·w / merge_size²."""
        t, h, w = (int(v) for v in grid_thw)
        return t * h * w // self.merge_size**2
