"""The grain prompt pipeline on the tiny model's encoder: shapes, bad records, determinism,
host sharding and exact resumption."""

import numpy as np
import pytest
from PIL import Image

from models.qwen3_vl.tokenizer import ChatEncoder
from sdpo_jax.data.pipeline import SkipCounter, bucket_length, letterbox, prompt_batches
from sdpo_jax.data.records import PromptRecord, user_prompt


@pytest.fixture(scope="module")
def encoder():
    return ChatEncoder.tiny()


@pytest.fixture
def records(tmp_path):
    out = []
    for i in range(8):
        path = tmp_path / f"{i}.png"
        Image.new("RGB", (120 + 40 * i, 90), (20 * i, 100, 200)).save(path)
        out.append(PromptRecord(f"r{i}", "chart", user_prompt(str(path), f"draw chart number {i}")))
    return out


def ids_of(batch):
    return [r.id for r in batch.records]


def test_batches_have_fixed_shapes_and_one_image_grid(encoder, records):
    it = prompt_batches(
        records, encoder, batch_size=3, seed=0, max_prompt_tokens=512, image_size=(128, 96)
    )
    for _ in range(4):
        batch = next(it)
        inputs = batch.inputs
        assert inputs["input_ids"].shape == (
            3,
            bucket_length(inputs["attention_mask"].sum(1).max(), 512),
        )
        assert inputs["attention_mask"][:, -1].all()  # left padding
        np.testing.assert_array_equal(inputs["image_grid_thw"], [[1, 6, 8]] * 3)
        assert inputs["pixel_values"].shape == (3 * 48, 1536)
        assert all(p.images[0].size == (128, 96) for p in batch.prompts)


def test_bad_records_are_skipped_and_counted(encoder, records, tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not a png")
    bad = [
        PromptRecord("missing", "chart", user_prompt(str(tmp_path / "nope.png"), "x")),
        PromptRecord("broken", "chart", user_prompt(str(tmp_path / "broken.png"), "x")),
        PromptRecord("long", "chart", user_prompt(None, "word " * 600)),
    ]
    skipped = SkipCounter()
    it = prompt_batches(
        records + bad, encoder, batch_size=11, seed=0, max_prompt_tokens=256, skipped=skipped
    )
    seen = ids_of(next(it))
    assert not {"missing", "broken", "long"} & set(seen)
    assert skipped.count >= 3
    reasons = " ".join(skipped.reasons)
    assert (
        "missing:" in reasons
        and "broken:" in reasons
        and "exceeds data.max_prompt_tokens=256" in reasons
    )


def test_every_record_bad_stops_with_a_clear_error(encoder, tmp_path):
    bad = [
        PromptRecord(f"m{i}", "chart", user_prompt(str(tmp_path / "nope.png"), "x"))
        for i in range(3)
    ]
    it = prompt_batches(bad, encoder, batch_size=2, seed=0, max_prompt_tokens=256)
    with pytest.raises(ValueError, match="none of the 3 data records loads"):
        next(it)


def test_shuffle_is_seeded_and_reshuffles_each_epoch(encoder, records):
    order = lambda seed: [
        i
        for b in [
            next(it)
            for it in [
                prompt_batches(records, encoder, batch_size=8, seed=seed, max_prompt_tokens=512)
            ]
            * 2
        ]
        for i in ids_of(b)
    ]
    a, b = order(0), order(0)
    assert a == b and order(1) != a
    first, second = a[:8], a[8:]
    assert sorted(first) == sorted(second) == sorted(r.id for r in records) and first != second


def test_hosts_hold_their_blocks_of_the_same_global_batches(encoder, records):
    """Over three epochs of 8 records in global batches of 4: one host, 2 hosts of 2 prompts
    and 4 hosts of 1 see the same batches, in the same order, each host its own block."""
    one = prompt_batches(records, encoder, batch_size=4, seed=0, max_prompt_tokens=512)
    expected = [ids_of(next(one)) for _ in range(6)]
    for count in (2, 4):
        hosts = [
            prompt_batches(
                records,
                encoder,
                batch_size=4 // count,
                seed=0,
                max_prompt_tokens=512,
                shard=(i, count),
            )
            for i in range(count)
        ]
        found = [[i for h in hosts for i in ids_of(next(h))] for _ in range(6)]
        assert found == expected


def test_resuming_from_the_iterator_state_gives_the_same_batches(encoder, records):
    make = lambda: prompt_batches(records, encoder, batch_size=3, seed=5, max_prompt_tokens=512)
    it = make()
    for _ in range(3):
        next(it)
    state = it.get_state()
    expected = [ids_of(next(it)) for _ in range(2)]
    resumed = make()
    resumed.set_state(state)
    assert [ids_of(next(resumed)) for _ in range(2)] == expected


def test_letterbox_keeps_aspect_on_a_white_canvas():
    image = letterbox(Image.new("RGB", (200, 50), (0, 0, 0)), (100, 100))
    pixels = np.asarray(image)
    assert image.size == (100, 100)
    assert pixels[50, 50].tolist() == [0, 0, 0] and pixels[5, 50].tolist() == [255, 255, 255]
