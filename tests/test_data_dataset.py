"""The training dataset: order sampler, sample layout, box correctness, determinism, failures."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from seqtrack_accel.config import Config, CropConfig, DataConfig, SourceConfig, TrainConfig
from seqtrack_accel.data.dataset import EpochSampler, TrackingDataset, build_train_dataset, worker_init_fn
from seqtrack_accel.data.lasot import load_lasot

# Small crops keep these tests fast; 32 px search crops at factor 4 are shrunk (resize factor < 1).
TINY = DataConfig(samples_per_epoch=6, max_sample_interval=10, search=CropConfig(32, 4.0, 1.0, 0.2),
                  template=CropConfig(16, 2.0, number=2))
NO_JITTER = dataclasses.replace(TINY, search=CropConfig(32, 4.0), grayscale_prob=0.0, brightness_jitter=0.0)


def _batches_equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _two_books(synthetic_lasot, tmp_path):
    """A private copy of book-1 and book-2 under tmp_path, to break book-1's frames; returns the root."""
    for name in ("book-1", "book-2"):
        shutil.copytree(synthetic_lasot / "book" / name, tmp_path / "book" / name)
    return tmp_path


def _make_unreadable(frame):
    """chmod 000; as root, who reads such a file anyway, the frame is replaced by a folder (reading it fails)."""
    frame.chmod(0)
    if os.access(frame, os.R_OK):
        frame.unlink()
        frame.mkdir()


def test_epoch_sampler_yields_global_indices_of_its_epoch():
    sampler = EpochSampler(4)
    sampler.set_epoch(3)
    assert list(sampler) == [12, 13, 14, 15] and len(sampler) == 4


def test_sample_has_the_documented_shapes_and_collates(synthetic_lasot):
    dataset = TrackingDataset(TINY, load_lasot(synthetic_lasot, split="all"), seed=0)
    sample = dataset[0]
    assert sample["template_images"].shape == (2, 3, 16, 16)
    assert sample["search_images"].shape == (3, 32, 32)
    assert sample["search_anno"].shape == (4,)
    assert sample["template_brightness"].shape == (2,) and sample["search_brightness"].shape == ()
    assert sample["template_images"].dtype == sample["search_images"].dtype == torch.uint8
    batch = next(iter(DataLoader(dataset, batch_size=3, sampler=EpochSampler(6))))
    assert batch["template_images"].shape == (3, 2, 3, 16, 16)
    assert batch["search_images"].shape == (3, 3, 32, 32) and batch["search_anno"].shape == (3, 4)


def test_several_search_frames_keep_their_frame_axis(synthetic_lasot):
    cfg = dataclasses.replace(TINY, search=CropConfig(32, 4.0, number=2))
    sample = TrackingDataset(cfg, load_lasot(synthetic_lasot, split="all"), seed=0)[0]
    assert sample["search_images"].shape == (2, 3, 32, 32) and sample["search_anno"].shape == (2, 4)


def test_order_sampler_draws_visible_frames_near_a_base_frame_in_order(synthetic_lasot):
    dataset = TrackingDataset(TINY, load_lasot(synthetic_lasot, split="all"), seed=0)
    orders = set()
    for i in range(40):
        sequence, ids, _ = dataset.first_draw(i)
        assert sequence.visible[ids].all()
        assert max(ids) - min(ids) < 2 * TINY.max_sample_interval
        assert ids == sorted(ids) or ids == sorted(ids, reverse=True)
        orders.add(ids[0] <= ids[-1])
    assert orders == {True, False}


def test_search_box_matches_the_drawn_object_within_a_pixel(synthetic_lasot):
    # No jitter, brightness or grayscale; flips stay on (p 0.5) so mirrored crops are checked too.
    dataset = TrackingDataset(NO_JITTER, load_lasot(synthetic_lasot, split="all"), seed=0)
    mirrored = 0
    for i in range(24):
        sample = dataset[i]
        mirrored += dataset.first_draw(i)[2][-1].mirror
        rgb = sample["search_images"].float()
        bright = ((0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]) > 130).numpy()  # synthetic objects only
        cols, rows = np.flatnonzero(bright.any(axis=0)), np.flatnonzero(bright.any(axis=1))
        found = np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1])  # pixel edges
        x, y, w, h = (sample["search_anno"] * 32).tolist()
        # The box is in pixel-centre coordinates (pixel u spans [u - 0.5, u + 0.5]); +0.5 gives pixel edges.
        assert np.abs(found - (np.array([x, y, x + w, y + h]) + 0.5)).max() <= 1.0, f"sample {i}"
    assert 0 < mirrored < 24


@pytest.mark.parametrize("workers", [1, 2])
def test_samples_are_identical_for_any_number_of_workers(synthetic_lasot, workers):
    dataset = TrackingDataset(TINY, load_lasot(synthetic_lasot, split="all"), seed=7)
    sampler = EpochSampler(TINY.samples_per_epoch, epoch=2)
    reference = list(DataLoader(dataset, batch_size=2, sampler=sampler, num_workers=0))
    others = list(DataLoader(dataset, batch_size=2, sampler=sampler, num_workers=workers))
    assert len(reference) == len(others) == 3
    assert all(_batches_equal(a, b) for a, b in zip(reference, others))


def test_sample_depends_on_seed_epoch_and_item(synthetic_lasot):
    sequences = load_lasot(synthetic_lasot, split="all")
    a, b = TrackingDataset(TINY, sequences, seed=0), TrackingDataset(TINY, sequences, seed=1)
    assert _batches_equal(a[7], a[7])
    assert not _batches_equal(a[7], b[7])  # other seed
    assert not _batches_equal(a[7], a[7 + TINY.samples_per_epoch])  # same item, next epoch


def test_corrupted_jpeg_is_skipped_with_a_warning_and_counted(synthetic_lasot, tmp_path, caplog):
    root = _two_books(synthetic_lasot, tmp_path)
    for frame in (root / "book" / "book-1" / "img").iterdir():
        frame.write_bytes(b"not a jpeg")
    dataset = TrackingDataset(TINY, load_lasot(root, split="all"), seed=0)
    with caplog.at_level(logging.WARNING, logger="seqtrack_accel.data.dataset"):
        samples = [dataset[i] for i in range(6)]
    assert len(samples) == 6
    assert dataset.stats["decode_errors"] > 0 and dataset.stats["redraws"] >= dataset.stats["decode_errors"]
    assert "book-1/img/" in caplog.text and "undecodable" in caplog.text


@pytest.mark.parametrize("decoder", ["simplejpeg", "opencv"])
def test_truncated_jpeg_is_skipped_with_a_warning_and_counted(synthetic_lasot, tmp_path, caplog, decoder):
    root = _two_books(synthetic_lasot, tmp_path)
    for frame in (root / "book" / "book-1" / "img").iterdir():
        frame.write_bytes(frame.read_bytes()[:frame.stat().st_size // 2])
    dataset = TrackingDataset(dataclasses.replace(TINY, decoder=decoder), load_lasot(root, split="all"), seed=0)
    with caplog.at_level(logging.WARNING, logger="seqtrack_accel.data.dataset"):
        samples = [dataset[i] for i in range(6)]
    assert len(samples) == 6 and dataset.stats["decode_errors"] > 0
    assert "book-1/img/" in caplog.text and "the file is truncated" in caplog.text


def test_unreadable_frame_is_skipped_with_a_warning_naming_it_and_counted(synthetic_lasot, tmp_path, caplog):
    root = _two_books(synthetic_lasot, tmp_path)
    sequences = load_lasot(root, split="all")
    for frame in (root / "book" / "book-1" / "img").iterdir():
        _make_unreadable(frame)
    dataset = TrackingDataset(TINY, sequences, seed=0)
    with caplog.at_level(logging.WARNING, logger="seqtrack_accel.data.dataset"):
        samples = [dataset[i] for i in range(6)]
    assert len(samples) == 6
    assert dataset.stats["read_errors"] > 0 and dataset.stats["decode_errors"] == 0
    assert "unreadable frame" in caplog.text and "book-1/img/" in caplog.text


def test_unreadable_frame_in_a_worker_is_skipped_and_counted_without_killing_it(synthetic_lasot, tmp_path):
    root = _two_books(synthetic_lasot, tmp_path)
    sequences = load_lasot(root, split="all")
    for frame in (root / "book" / "book-1" / "img").iterdir():
        _make_unreadable(frame)
    dataset = TrackingDataset(TINY, sequences, seed=0)
    loader = DataLoader(dataset, batch_size=3, sampler=EpochSampler(6), num_workers=1, timeout=60)
    assert len(list(loader)) == 2
    assert dataset.stats["read_errors"] > 0


def test_sequences_skipped_by_the_sampler_are_named_in_a_warning(synthetic_lasot, caplog):
    book_1, book_2 = load_lasot(synthetic_lasot, classes=["book"], split="all")[:2]
    short = dataclasses.replace(book_2, boxes=book_2.boxes[:19], visible=book_2.visible[:19])
    with caplog.at_level(logging.WARNING, logger="seqtrack_accel.data.dataset"):
        dataset = TrackingDataset(TINY, [book_1, short], seed=0)
    assert [s.name for s in dataset.sequences] == ["book-1"]
    assert "sampler skips 1 of 2 sequences" in caplog.text and "book-2" in caplog.text


def test_redraw_bound_error_names_the_sequences(synthetic_lasot):
    far_away = []
    for sequence in load_lasot(synthetic_lasot, classes=["coin"], split="all")[:2]:
        boxes = sequence.boxes.copy()
        boxes[:, :2] += 10_000  # every crop window misses the frame
        far_away.append(dataclasses.replace(sequence, boxes=boxes))
    dataset = TrackingDataset(dataclasses.replace(TINY, max_redraws=5), far_away, seed=0)
    with pytest.raises(RuntimeError, match=r"5 draws.*coin-1, coin-2"):
        dataset[0]


def test_sequences_too_short_for_the_sampler_are_an_error_naming_them(synthetic_lasot):
    sequence = load_lasot(synthetic_lasot, classes=["book"], split="all")[0]
    short = dataclasses.replace(sequence, boxes=sequence.boxes[:19], visible=sequence.visible[:19])
    with pytest.raises(ValueError, match=r"book-1.*at least 20 frames"):
        TrackingDataset(TINY, [short], seed=0)


def test_build_train_dataset_uses_the_configured_root_split_and_seed(synthetic_lasot):
    source = SourceConfig("lasot", root=str(synthetic_lasot), classes=("coin",))
    cfg = Config(data=dataclasses.replace(TINY, datasets=(source,)), train=TrainConfig(seed=5))
    dataset = build_train_dataset(cfg)
    assert [s.name for s in dataset.sequences] == ["coin-1", "coin-2", "coin-4"]
    assert dataset.seed == 5 and len(dataset) == TINY.samples_per_epoch


def test_decode_errors_in_workers_are_counted_in_the_main_process(synthetic_lasot, tmp_path):
    root = _two_books(synthetic_lasot, tmp_path)
    for frame in (root / "book" / "book-1" / "img").iterdir():
        frame.write_bytes(b"not a jpeg")
    dataset = TrackingDataset(TINY, load_lasot(root, split="all"), seed=0)
    list(DataLoader(dataset, batch_size=3, sampler=EpochSampler(6), num_workers=2))
    assert dataset.stats["decode_errors"] > 0


def test_simplejpeg_and_opencv_decoders_give_the_same_samples(synthetic_lasot):
    sequences = load_lasot(synthetic_lasot, split="all")
    fast = TrackingDataset(dataclasses.replace(TINY, decoder="simplejpeg"), sequences, seed=0)
    reference = TrackingDataset(dataclasses.replace(TINY, decoder="opencv"), sequences, seed=0)
    for i in range(6):
        assert _batches_equal(fast[i], reference[i]), f"sample {i}"


def test_simplejpeg_and_opencv_decoders_skip_the_same_truncated_frames(synthetic_lasot, tmp_path):
    root = _two_books(synthetic_lasot, tmp_path)
    for frame in sorted((root / "book" / "book-1" / "img").iterdir())[::2]:
        frame.write_bytes(frame.read_bytes()[:frame.stat().st_size // 2])
    sequences = load_lasot(root, split="all")
    fast = TrackingDataset(dataclasses.replace(TINY, decoder="simplejpeg"), sequences, seed=0)
    reference = TrackingDataset(dataclasses.replace(TINY, decoder="opencv"), sequences, seed=0)
    for i in range(6):
        assert _batches_equal(fast[i], reference[i]), f"sample {i}"
    assert fast.stats == reference.stats and fast.stats["decode_errors"] > 0


class _CvThreads(torch.utils.data.Dataset):
    """Warps a frame with OpenCV, then reports OpenCV's thread count."""

    def __len__(self):
        return 2

    def __getitem__(self, i):
        cv2.warpAffine(np.zeros((720, 1280, 3), np.uint8), np.eye(2, 3), (600, 600))
        return cv2.getNumThreads()


def test_workers_run_opencv_single_threaded_even_after_the_parent_used_its_pool():
    threads = cv2.getNumThreads()
    cv2.setNumThreads(2)
    try:
        cv2.warpAffine(np.zeros((720, 1280, 3), np.uint8), np.eye(2, 3), (600, 600))  # the parent's pool has run
        loader = DataLoader(_CvThreads(), batch_size=None, num_workers=1, worker_init_fn=worker_init_fn, timeout=60)
        assert list(loader) == [1, 1]
    finally:
        cv2.setNumThreads(threads)
