"""Checks a Hugging Face Qwen3-VL folder against transformers: both implementations load it and
run the same random inputs (an image with a non-square grid, and a left-padded text row); the
largest logit difference at real tokens is printed.

    python -m models.qwen3_vl.verify --hf /path/to/Qwen3-VL-2B-Instruct

Needs torch and transformers (the test extra). Runs in float32 with the highest matmul precision.
Exit status 1 when the difference exceeds --tol.
"""

from __future__ import annotations

import argparse
import sys

import jax
import numpy as np

from models.qwen3_vl.hf import CheckpointError, load_hf


def random_inputs(config, seed: int):
    """Two rows: text + one image with grid (1, 4, 6), and a shorter text row, left-padded."""
    rng = np.random.default_rng(seed)
    grid = np.array([[1, 4, 6]])
    text_ids = lambda n: list(
        rng.integers(0, min(config.text.vocab_size, config.vision_start_token_id), n)
    )
    image = [config.vision_start_token_id, *[config.image_token_id] * 6, config.vision_end_token_id]
    rows = [text_ids(5) + image + text_ids(7), text_ids(9)]
    length = max(map(len, rows))
    ids = np.zeros((2, length), np.int64)
    mask = np.zeros((2, length), np.int64)
    for i, row in enumerate(rows):
        ids[i, length - len(row) :], mask[i, length - len(row) :] = row, 1
    pixels = rng.standard_normal((int(grid.prod()), config.vision.patch_dim)).astype(np.float32)
    return ids, mask, pixels, grid


def max_logit_difference(path, seed: int = 0) -> float:
    import torch
    import transformers

    jax.config.update("jax_default_matmul_precision", "highest")
    port = load_hf(path)
    ids, mask, pixels, grid = random_inputs(port.config, seed)
    got = np.asarray(port(ids, mask, pixels, grid).logits)

    reference = transformers.Qwen3VLForConditionalGeneration.from_pretrained(
        path, dtype=torch.float32, attn_implementation="eager", local_files_only=True
    ).eval()
    with torch.no_grad():
        expected = reference(
            input_ids=torch.tensor(ids),
            attention_mask=torch.tensor(mask),
            mm_token_type_ids=torch.tensor((ids == port.config.image_token_id).astype(np.int64)),
            pixel_values=torch.tensor(pixels),
            image_grid_thw=torch.tensor(grid),
        ).logits.numpy()
    real = mask.astype(bool)
    return float(np.abs(got[real] - expected[real]).max())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--hf", required=True, help="folder written by transformers (config.json + safetensors)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tol", type=float, default=1e-4, help="largest acceptable |Δlogits|")
    args = parser.parse_args(argv)
    try:
        diff = max_logit_difference(args.hf, args.seed)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    verdict = "OK" if diff <= args.tol else "MISMATCH"
    print(
        f"max |Δlogits| = {diff:.3e} (port vs transformers, float32, tol {args.tol:g}): {verdict}"
    )
    return 0 if diff <= args.tol else 1


if __name__ == "__main__":
    sys.exit(main())
