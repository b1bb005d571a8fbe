"""The GOT-10k reader and its synthetic generator: layout, parsing, visibility, the original's splits, loud errors."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest

from seqtrack_accel.config import CropConfig, DataConfig
from seqtrack_accel.data.dataset import TrackingDataset
from seqtrack_accel.data.got10k import load_got10k, split_indices
from seqtrack_accel.data.image import read_image
from seqtrack_accel.data.synthetic import SYNTHETIC_CLASSES, make_synthetic_got10k

NAMES = [f"GOT-10k_Train_{k:06d}" for k in range(1, 7)]
TINY = DataConfig(samples_per_epoch=6, max_sample_interval=10, search=CropConfig(32, 4.0, 1.0, 0.2),
                  template=CropConfig(16, 2.0, number=2))


@pytest.fixture(scope="module")
def got10k(tmp_path_factory):
    """A synthetic GOT-10k tree of 6 sequences of 25 frames of 160x120; shared: copy it (``broken``) to modify."""
    return make_synthetic_got10k(tmp_path_factory.mktemp("got10k") / "GOT-10k", sequences=6, frames=25,
                                 size=(160, 120), seed=0)


@pytest.fixture
def broken(got10k, tmp_path):
    """A private copy of the tree, to break; returns its root."""
    return shutil.copytree(got10k, tmp_path / "GOT-10k")


def _lines(path):
    return path.read_text().splitlines()


def _bright_box(frame_path, threshold=130):
    """x, y, w, h of the pixels brighter than ``threshold`` (the synthetic objects), or None."""
    luma = read_image(frame_path).astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    rows, cols = np.nonzero(luma > threshold)
    if rows.size == 0:
        return None
    return np.array([cols.min(), rows.min(), cols.max() + 1 - cols.min(), rows.max() + 1 - rows.min()])


def test_generator_writes_the_got10k_train_layout(got10k):
    train = got10k / "train"
    assert _lines(train / "list.txt") == NAMES
    assert sorted(p.name for p in train.iterdir()) == sorted(NAMES + ["list.txt"])
    seq = train / "GOT-10k_Train_000002"
    frames = [f"{i:08d}.jpg" for i in range(1, 26)]
    assert sorted(p.name for p in seq.iterdir()) == sorted(
        frames + ["groundtruth.txt", "absence.label", "cover.label", "meta_info.ini"])
    assert all(len(line.split(",")) == 4 for line in _lines(seq / "groundtruth.txt"))
    assert len(_lines(seq / "groundtruth.txt")) == 25
    assert len(_lines(seq / "absence.label")) == 25 and set(_lines(seq / "absence.label")) <= {"0", "1"}
    assert len(_lines(seq / "cover.label")) == 25 and {int(v) for v in _lines(seq / "cover.label")} <= set(range(9))
    assert "object_class: coin" in _lines(seq / "meta_info.ini")
    assert json.loads((got10k / "synthetic.json").read_text())["dataset"] == "got10k"


def test_generator_flags_out_of_view_in_absence_and_full_occlusion_in_cover(got10k):
    absent, occluded = 0, 0
    for name in NAMES:
        seq = got10k / "train" / name
        boxes = np.loadtxt(seq / "groundtruth.txt", delimiter=",")
        absence = np.loadtxt(seq / "absence.label", dtype=int)
        cover = np.loadtxt(seq / "cover.label", dtype=int)
        assert (boxes[absence == 1] == 0).all() and (cover[absence == 1] == 0).all()
        absent += int((absence == 1).sum())
        occluded += int(((absence == 0) & (cover == 0)).sum())
    assert absent > 0 and occluded > 0


def test_reader_returns_sequences_sorted_by_name_with_classes_boxes_and_frame_paths(got10k):
    sequences = load_got10k(got10k)
    assert [s.name for s in sequences] == NAMES
    assert [s.class_name for s in sequences] == list(SYNTHETIC_CLASSES)
    seq = sequences[1]
    assert len(seq) == 25 and seq.boxes.dtype == np.float32 and seq.boxes.shape == (25, 4)
    assert seq.visible.dtype == bool and seq.visible.shape == (25,)
    assert seq.frame_path(0) == got10k / "train" / "GOT-10k_Train_000002" / "00000001.jpg"
    assert seq.frame_path(24) == got10k / "train" / "GOT-10k_Train_000002" / "00000025.jpg"
    expected = np.loadtxt(got10k / "train" / "GOT-10k_Train_000002" / "groundtruth.txt", delimiter=",")
    np.testing.assert_array_equal(seq.boxes, expected.astype(np.float32))


def test_root_may_be_the_train_folder_itself(got10k):
    assert [s.name for s in load_got10k(got10k / "train")] == NAMES


def test_visible_boxes_are_the_drawn_object_within_a_pixel_and_hidden_frames_show_none(got10k):
    for seq in load_got10k(got10k):
        for i in range(len(seq)):
            found = _bright_box(seq.frame_path(i))
            if seq.visible[i]:
                assert found is not None and np.abs(found - seq.boxes[i]).max() <= 1, f"{seq.name} frame {i}"
            else:  # objects are drawn at luminance >= 170; the JPEG noise of a grey occluder stays below 140 here
                assert _bright_box(seq.frame_path(i), 150) is None, f"{seq.name} frame {i} is hidden but shows it"


def test_visible_means_present_not_fully_covered_and_a_nonempty_box(broken):
    seq_dir = broken / "train" / "GOT-10k_Train_000001"
    before = load_got10k(broken)[0].visible
    a, b, c, d = np.flatnonzero(before)[:4]
    absence, cover, boxes = _lines(seq_dir / "absence.label"), _lines(seq_dir / "cover.label"), \
        _lines(seq_dir / "groundtruth.txt")
    absence[a] = "1"
    cover[b] = "0"
    boxes[c] = "10.0000,10.0000,0.0000,12.0000"
    cover[d] = "3"  # three eighths visible: still visible
    for name, lines in (("absence.label", absence), ("cover.label", cover), ("groundtruth.txt", boxes)):
        (seq_dir / name).write_text("\n".join(lines) + "\n")
    expected = before.copy()
    expected[[a, b, c]] = False
    np.testing.assert_array_equal(load_got10k(broken)[0].visible, expected)


def test_vot_split_lists_have_the_originals_sizes_and_are_disjoint():
    train, val = split_indices("vottrain"), split_indices("votval")
    assert len(train) == len(set(train)) == 7086 and len(val) == len(set(val)) == 1249
    assert not set(train) & set(val)
    assert min(train + val) == 0 and max(train + val) < 9335


def test_vot_splits_select_list_indices_of_a_short_tree_with_a_warning(got10k, caplog):
    with caplog.at_level(logging.WARNING, logger="seqtrack_accel.data.got10k"):
        for split in ("vottrain", "votval"):
            expected = [NAMES[i] for i in sorted(set(split_indices(split)) & set(range(6)))]
            assert expected and [s.name for s in load_got10k(got10k, split=split)] == expected
    assert "lists 6 sequences, not the 9335" in caplog.text


def test_split_with_no_sequence_in_list_txt_is_an_error(broken):
    assert 0 not in split_indices("votval")
    (broken / "train" / "list.txt").write_text("GOT-10k_Train_000001\n")
    with pytest.raises(ValueError, match=r"list.txt lists 1 sequences, and none of them is in split 'votval'"):
        load_got10k(broken, split="votval")


def test_unknown_split_error_lists_the_splits(got10k):
    with pytest.raises(ValueError, match=r"train_full, vottrain, votval, val, test, got 'train'"):
        load_got10k(got10k, split="train")


def test_missing_list_file_error_says_where_it_looked(broken):
    (broken / "train" / "list.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"train/list.txt nor .*GOT-10k/list.txt exists"):
        load_got10k(broken)


def test_bad_groundtruth_line_is_rejected_naming_the_file_and_line(broken):
    path = broken / "train" / "GOT-10k_Train_000003" / "groundtruth.txt"
    lines = _lines(path)
    lines[6] = "1,2,3"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"GOT-10k_Train_000003/groundtruth.txt line 7: expected 4"):
        load_got10k(broken)


def test_absence_label_of_the_wrong_length_is_rejected_naming_it(broken):
    path = broken / "train" / "GOT-10k_Train_000004" / "absence.label"
    path.write_text("0\n" * 24)
    with pytest.raises(ValueError, match=r"GOT-10k_Train_000004/absence.label has 24 lines but groundtruth.txt has 25"):
        load_got10k(broken)


def test_cover_value_out_of_range_is_rejected_naming_the_file_and_line(broken):
    path = broken / "train" / "GOT-10k_Train_000002" / "cover.label"
    lines = _lines(path)
    lines[11] = "9"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"GOT-10k_Train_000002/cover.label line 12: expected integer 0..8"):
        load_got10k(broken)


def test_missing_sequence_folder_is_rejected_naming_its_list_line(broken):
    shutil.rmtree(broken / "train" / "GOT-10k_Train_000003")
    with pytest.raises(FileNotFoundError, match=r"GOT-10k_Train_000003 is missing \(.*list.txt line 3 lists it\)"):
        load_got10k(broken)


def test_missing_last_frame_is_rejected_naming_it(broken):
    (broken / "train" / "GOT-10k_Train_000005" / "00000025.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"GOT-10k_Train_000005/00000025.jpg is missing"):
        load_got10k(broken)


def test_frame_beyond_the_groundtruth_means_it_is_short(broken):
    seq = broken / "train" / "GOT-10k_Train_000001"
    shutil.copy(seq / "00000025.jpg", seq / "00000026.jpg")
    with pytest.raises(ValueError, match=r"GOT-10k_Train_000001/groundtruth.txt is short.*line 26"):
        load_got10k(broken)


def test_sequence_without_meta_info_has_no_class(broken):
    (broken / "train" / "GOT-10k_Train_000001" / "meta_info.ini").unlink()
    assert load_got10k(broken)[0].class_name == ""


def test_tracking_dataset_draws_samples_of_the_documented_shapes(got10k):
    sample = TrackingDataset(TINY, load_got10k(got10k), seed=0)[0]
    assert sample["template_images"].shape == (2, 3, 16, 16) and sample["search_images"].shape == (3, 32, 32)
    assert sample["search_anno"].shape == (4,)


def test_same_seed_writes_the_same_tree(tmp_path):
    a = make_synthetic_got10k(tmp_path / "a", sequences=1, frames=14, size=(48, 32), seed=3)
    b = make_synthetic_got10k(tmp_path / "b", sequences=1, frames=14, size=(48, 32), seed=3)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)


def test_the_val_split_reads_the_validation_set_beside_train(tmp_path):
    from seqtrack_accel.data.synthetic import make_synthetic_got10k

    root = make_synthetic_got10k(tmp_path / "GOT-10k", sequences=2, frames=25, size=(160, 120), val_sequences=2)
    assert [s.name for s in load_got10k(root, split="val")] == ["GOT-10k_Val_000001", "GOT-10k_Val_000002"]
    assert [s.name for s in load_got10k(root / "train", split="val")] == ["GOT-10k_Val_000001", "GOT-10k_Val_000002"]


# ---------------------------------------------------------------------------------------------------------------
# the test set: the first frame's box only

TEST_NAMES = ["GOT-10k_Test_000001", "GOT-10k_Test_000002"]


@pytest.fixture(scope="module")
def got10k_test(tmp_path_factory):
    """A synthetic GOT-10k tree with a test set of 2 sequences of 14 frames of 48x32; copy it to modify."""
    return make_synthetic_got10k(tmp_path_factory.mktemp("got10k_test") / "GOT-10k", sequences=1, frames=14,
                                 size=(48, 32), seed=0, test_sequences=2)


def test_generator_writes_the_got10k_test_layout(got10k_test):
    test = got10k_test / "test"
    assert _lines(test / "list.txt") == TEST_NAMES
    seq = test / "GOT-10k_Test_000002"
    assert sorted(p.name for p in seq.iterdir()) == sorted([f"{i:08d}.jpg" for i in range(1, 15)] + ["groundtruth.txt"])
    (line,) = _lines(seq / "groundtruth.txt")
    assert len(line.split(",")) == 4
    assert json.loads((got10k_test / "synthetic.json").read_text())["test_sequences"] == 2


def test_test_split_has_the_first_box_and_nan_beyond_it(got10k_test):
    sequences = load_got10k(got10k_test, split="test")
    assert [s.name for s in sequences] == TEST_NAMES
    seq = sequences[1]
    assert len(seq) == 14 and seq.boxes.dtype == np.float32
    given = np.array(_lines(got10k_test / "test" / seq.name / "groundtruth.txt")[0].split(","), dtype=np.float32)
    np.testing.assert_array_equal(seq.boxes[0], given)
    assert np.isnan(seq.boxes[1:]).all()
    np.testing.assert_array_equal(seq.visible, [True] + [False] * 13)
    assert seq.frame_path(13) == got10k_test / "test" / seq.name / "00000014.jpg"
    assert seq.class_name == ""


def test_test_split_counts_the_frames_of_the_folder(got10k_test, tmp_path):
    root = shutil.copytree(got10k_test, tmp_path / "GOT-10k")
    (root / "test" / "GOT-10k_Test_000001" / "00000014.jpg").unlink()
    assert [len(s) for s in load_got10k(root, split="test")] == [13, 14]


def test_test_split_is_found_beside_the_train_folder(got10k_test):
    assert [s.name for s in load_got10k(got10k_test / "train", split="test")] == TEST_NAMES


def test_a_gap_in_the_test_frames_is_rejected_naming_the_missing_frame(got10k_test, tmp_path):
    root = shutil.copytree(got10k_test, tmp_path / "GOT-10k")
    (root / "test" / "GOT-10k_Test_000002" / "00000005.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"GOT-10k_Test_000002/00000005.jpg is missing.*up to 00000014.jpg"):
        load_got10k(root, split="test")


def test_a_test_groundtruth_of_several_lines_is_rejected_naming_it(got10k_test, tmp_path):
    root = shutil.copytree(got10k_test, tmp_path / "GOT-10k")
    path = root / "test" / "GOT-10k_Test_000001" / "groundtruth.txt"
    path.write_text(path.read_text() * 2)
    with pytest.raises(ValueError, match=r"GOT-10k_Test_000001/groundtruth.txt has 2 lines; a test sequence's"):
        load_got10k(root, split="test")


def test_a_tree_without_a_test_set_is_rejected_saying_where_it_looked(got10k):
    with pytest.raises(FileNotFoundError, match=r"GOT-10k/test/list.txt does not exist; split test"):
        load_got10k(got10k, split="test")
