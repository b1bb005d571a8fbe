"""The TrackingNet reader and its synthetic generator: layout, parsing, chunks, visibility, loud errors."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from seqtrack_accel.config import CropConfig, DataConfig
from seqtrack_accel.data.dataset import TrackingDataset
from seqtrack_accel.data.image import read_image
from seqtrack_accel.data.synthetic import make_synthetic_trackingnet
from seqtrack_accel.data.trackingnet import load_trackingnet

TINY = DataConfig(samples_per_epoch=6, max_sample_interval=10, search=CropConfig(32, 4.0, 1.0, 0.2),
                  template=CropConfig(16, 2.0, number=2))


@pytest.fixture(scope="module")
def trackingnet(tmp_path_factory):
    """Synthetic chunks TRAIN_0 and TRAIN_1 of 3 sequences of 25 frames of 160x120; shared: copy it to modify."""
    return make_synthetic_trackingnet(tmp_path_factory.mktemp("trackingnet") / "TrackingNet", chunks=2,
                                      sequences_per_chunk=3, frames=25, size=(160, 120), seed=0)


@pytest.fixture
def broken(trackingnet, tmp_path):
    """A private copy of the tree, to break; returns its root."""
    return shutil.copytree(trackingnet, tmp_path / "TrackingNet")


def _names(root, chunk):
    return sorted(p.stem for p in (root / f"TRAIN_{chunk}" / "anno").iterdir())


def _bright_box(frame_path, threshold=130):
    """x, y, w, h of the pixels brighter than ``threshold`` (the synthetic objects), or None."""
    luma = read_image(frame_path).astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    rows, cols = np.nonzero(luma > threshold)
    if rows.size == 0:
        return None
    return np.array([cols.min(), rows.min(), cols.max() + 1 - cols.min(), rows.max() + 1 - rows.min()])


def test_generator_writes_the_trackingnet_chunk_layout(trackingnet):
    assert sorted(p.name for p in trackingnet.iterdir()) == ["TRAIN_0", "TRAIN_1", "synthetic.json"]
    for chunk in (0, 1):
        chunk_dir = trackingnet / f"TRAIN_{chunk}"
        names = _names(trackingnet, chunk)
        assert len(names) == 3 and all(re.fullmatch(r"[\w-]{11}_0", n) for n in names)
        assert sorted(p.name for p in (chunk_dir / "frames").iterdir()) == names
        for name in names:
            lines = (chunk_dir / "anno" / f"{name}.txt").read_text().splitlines()
            assert len(lines) == 25 and all(len(line.split(",")) == 4 for line in lines)
            frames = sorted(p.name for p in (chunk_dir / "frames" / name).iterdir())
            assert frames == sorted(f"{i}.jpg" for i in range(25))  # 0-based, no zero padding
    assert json.loads((trackingnet / "synthetic.json").read_text())["dataset"] == "trackingnet"


def test_reader_returns_sequences_by_chunk_then_name_with_boxes_and_frame_paths(trackingnet):
    sequences = load_trackingnet(trackingnet)
    assert [s.name for s in sequences] == _names(trackingnet, 0) + _names(trackingnet, 1)
    seq = sequences[4]
    assert seq.class_name == "" and len(seq) == 25
    assert seq.boxes.dtype == np.float32 and seq.boxes.shape == (25, 4) and seq.visible.shape == (25,)
    assert seq.frame_path(0) == trackingnet / "TRAIN_1" / "frames" / seq.name / "0.jpg"
    assert seq.frame_path(24) == trackingnet / "TRAIN_1" / "frames" / seq.name / "24.jpg"
    expected = np.loadtxt(trackingnet / "TRAIN_1" / "anno" / f"{seq.name}.txt", delimiter=",")
    np.testing.assert_array_equal(seq.boxes, expected.astype(np.float32))


def test_chunks_select_the_train_folders_read(trackingnet):
    assert [s.name for s in load_trackingnet(trackingnet, chunks=[1])] == _names(trackingnet, 1)
    assert len(load_trackingnet(trackingnet, chunks=(1, 0))) == 6


def test_missing_chunk_error_lists_the_chunks_found(trackingnet):
    with pytest.raises(FileNotFoundError, match=r"TRAIN_5 not found under .*; chunks found: TRAIN_0, TRAIN_1$"):
        load_trackingnet(trackingnet, chunks=(0, 5))


def test_root_without_chunks_error_lists_its_folders(tmp_path):
    (tmp_path / "Train0").mkdir()
    with pytest.raises(FileNotFoundError, match=r"holds no TRAIN_<k> folder.*folders found: Train0"):
        load_trackingnet(tmp_path)


def test_boxes_are_the_drawn_object_within_a_pixel_unless_an_occluder_hides_it(trackingnet):
    for seq in load_trackingnet(trackingnet):
        shown = 0
        for i in np.flatnonzero(seq.visible):
            # Objects are drawn at luminance >= 170; the JPEG noise of a grey occluder stays below 140 here.
            if _bright_box(seq.frame_path(i), 150) is not None:
                assert np.abs(_bright_box(seq.frame_path(i)) - seq.boxes[i]).max() <= 1, f"{seq.name} frame {i}"
                shown += 1
        assert shown >= 0.6 * len(seq), seq.name  # occluders hide at most a third of a sequence


def test_visible_means_a_nonempty_box(broken):
    name = _names(broken, 0)[0]
    path = broken / "TRAIN_0" / "anno" / f"{name}.txt"
    lines = path.read_text().splitlines()
    lines[3], lines[5], lines[7] = "0.00,0.00,0.00,0.00", "10.00,12.00,0.00,8.00", "10.00,12.00,8.00,0.00"
    path.write_text("\n".join(lines) + "\n")
    seq = load_trackingnet(broken, chunks=[0])[0]
    np.testing.assert_array_equal(seq.visible, (seq.boxes[:, 2] > 0) & (seq.boxes[:, 3] > 0))
    assert not seq.visible[[3, 5, 7]].any()


def test_bad_box_line_is_rejected_naming_the_file_and_line(broken):
    name = _names(broken, 1)[2]
    path = broken / "TRAIN_1" / "anno" / f"{name}.txt"
    lines = path.read_text().splitlines()
    lines[9] = "10.00,x,5.00,5.00"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=rf"TRAIN_1/anno/{name}.txt line 10: values must be numbers"):
        load_trackingnet(broken)


def test_missing_frame_folder_is_rejected_naming_it(broken):
    name = _names(broken, 0)[1]
    shutil.rmtree(broken / "TRAIN_0" / "frames" / name)
    with pytest.raises(FileNotFoundError, match=rf"TRAIN_0/frames/{name} is missing"):
        load_trackingnet(broken)


def test_missing_last_frame_is_rejected_naming_it(broken):
    name = _names(broken, 1)[0]
    (broken / "TRAIN_1" / "frames" / name / "24.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=rf"TRAIN_1/frames/{name}/24.jpg is missing"):
        load_trackingnet(broken)


def test_chunk_without_its_anno_folder_is_rejected_naming_it(broken):
    shutil.rmtree(broken / "TRAIN_1" / "anno")
    with pytest.raises(FileNotFoundError, match=r"TRAIN_1/anno is missing"):
        load_trackingnet(broken)


def test_a_sequence_in_two_chunks_is_rejected_naming_both_files(broken):
    name = _names(broken, 0)[0]
    shutil.copy(broken / "TRAIN_0" / "anno" / f"{name}.txt", broken / "TRAIN_1" / "anno" / f"{name}.txt")
    shutil.copytree(broken / "TRAIN_0" / "frames" / name, broken / "TRAIN_1" / "frames" / name)
    with pytest.raises(ValueError, match=rf"{name} is in two chunks: .*TRAIN_0/anno/{name}.txt and "
                                         rf".*TRAIN_1/anno/{name}.txt"):
        load_trackingnet(broken)


def test_tracking_dataset_draws_samples_of_the_documented_shapes(trackingnet):
    sample = TrackingDataset(TINY, load_trackingnet(trackingnet), seed=0)[0]
    assert sample["template_images"].shape == (2, 3, 16, 16) and sample["search_images"].shape == (3, 32, 32)
    assert sample["search_anno"].shape == (4,)


def test_same_seed_writes_the_same_tree(tmp_path):
    a = make_synthetic_trackingnet(tmp_path / "a", chunks=1, sequences_per_chunk=1, frames=14, size=(48, 32), seed=3)
    b = make_synthetic_trackingnet(tmp_path / "b", chunks=1, sequences_per_chunk=1, frames=14, size=(48, 32), seed=3)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)


# ---------------------------------------------------------------------------------------------------------------
# the test set: the first frame's box only


@pytest.fixture(scope="module")
def trackingnet_test(tmp_path_factory):
    """One chunk of one sequence and a TEST folder of 2 sequences of 14 frames of 48x32; copy it to modify."""
    return make_synthetic_trackingnet(tmp_path_factory.mktemp("trackingnet_test") / "TrackingNet", chunks=1,
                                      sequences_per_chunk=1, frames=14, size=(48, 32), seed=0, test_sequences=2)


def _test_names(root):
    return sorted(p.stem for p in (root / "TEST" / "anno").iterdir())


def test_generator_writes_the_trackingnet_test_layout(trackingnet_test):
    assert sorted(p.name for p in trackingnet_test.iterdir()) == ["TEST", "TRAIN_0", "synthetic.json"]
    names = _test_names(trackingnet_test)
    assert len(names) == 2 and all(re.fullmatch(r"[\w-]{11}_0", n) for n in names)
    assert sorted(p.name for p in (trackingnet_test / "TEST" / "frames").iterdir()) == names
    for name in names:
        (line,) = (trackingnet_test / "TEST" / "anno" / f"{name}.txt").read_text().splitlines()
        assert len(line.split(",")) == 4
        frames = sorted(p.name for p in (trackingnet_test / "TEST" / "frames" / name).iterdir())
        assert frames == sorted(f"{i}.jpg" for i in range(14))


def test_test_split_has_the_first_box_and_nan_beyond_it(trackingnet_test):
    sequences = load_trackingnet(trackingnet_test, split="test")
    assert [s.name for s in sequences] == _test_names(trackingnet_test)
    seq = sequences[0]
    given = np.loadtxt(trackingnet_test / "TEST" / "anno" / f"{seq.name}.txt", delimiter=",", dtype=np.float32)
    assert len(seq) == 14 and seq.class_name == ""
    np.testing.assert_array_equal(seq.boxes[0], given)
    assert np.isnan(seq.boxes[1:]).all()
    np.testing.assert_array_equal(seq.visible, [True] + [False] * 13)
    assert seq.frame_path(13) == trackingnet_test / "TEST" / "frames" / seq.name / "13.jpg"


def test_the_train_split_leaves_the_test_folder_out(trackingnet_test):
    assert [s.name for s in load_trackingnet(trackingnet_test)] == _names(trackingnet_test, 0)


def test_test_split_counts_the_frames_of_the_folder(trackingnet_test, tmp_path):
    root = shutil.copytree(trackingnet_test, tmp_path / "TrackingNet")
    name = _test_names(root)[1]
    (root / "TEST" / "frames" / name / "13.jpg").unlink()
    assert [len(s) for s in load_trackingnet(root, split="test")] == [14, 13]


def test_a_gap_in_the_test_frames_is_rejected_naming_the_missing_frame(trackingnet_test, tmp_path):
    root = shutil.copytree(trackingnet_test, tmp_path / "TrackingNet")
    name = _test_names(root)[0]
    (root / "TEST" / "frames" / name / "0.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=rf"TEST/frames/{name}/0.jpg is missing.*up to 13.jpg"):
        load_trackingnet(root, split="test")


def test_a_test_box_file_of_several_lines_is_rejected_naming_it(trackingnet_test, tmp_path):
    root = shutil.copytree(trackingnet_test, tmp_path / "TrackingNet")
    name = _test_names(root)[1]
    path = root / "TEST" / "anno" / f"{name}.txt"
    path.write_text(path.read_text() * 3)
    with pytest.raises(ValueError, match=rf"TEST/anno/{name}.txt has 3 lines; a test sequence's box file holds one"):
        load_trackingnet(root, split="test")


def test_split_test_takes_no_chunks_and_unknown_splits_are_listed(trackingnet_test):
    with pytest.raises(ValueError, match=r"split test reads TEST alone, so leave chunks out"):
        load_trackingnet(trackingnet_test, split="test", chunks=[0])
    with pytest.raises(ValueError, match=r"split must be one of train, test, got 'val'"):
        load_trackingnet(trackingnet_test, split="val")


def test_a_tree_without_a_test_folder_is_rejected_naming_it(trackingnet):
    with pytest.raises(FileNotFoundError, match=r"TrackingNet/TEST is missing; split test.*folders found: TRAIN_0"):
        load_trackingnet(trackingnet, split="test")
