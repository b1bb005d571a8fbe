"""The reader of a folder of one's own sequences ("custom") and its synthetic generator."""

from __future__ import annotations

import shutil
import zlib

import cv2
import numpy as np
import pytest

from seqtrack_accel.config import CropConfig, DataConfig
from seqtrack_accel.data.custom import load_custom
from seqtrack_accel.data.dataset import TrackingDataset
from seqtrack_accel.data.image import read_image
from seqtrack_accel.data.synthetic import make_synthetic_custom

FRAMES = 24


@pytest.fixture(scope="module")
def synthetic_custom(tmp_path_factory):
    """Classes cat and dog, 3 sequences each of 24 frames of 96x72, in class folders. Do not modify."""
    return make_synthetic_custom(tmp_path_factory.mktemp("custom") / "custom", ("cat", "dog"), sequences_per_class=3,
                                 frames=FRAMES, size=(96, 72), seed=0)


@pytest.fixture
def one_sequence(synthetic_custom, tmp_path):
    """A private copy of cat-1 (frames in the folder, empty lines) under tmp_path/root; returns (root, folder)."""
    seq = tmp_path / "root" / "cat-1"
    shutil.copytree(synthetic_custom / "cat" / "cat-1", seq)
    return tmp_path / "root", seq


def _hand_made(root, groundtruth, absence=None):
    """A sequence ``root/s`` of dark 32x32 frames 1.png .. with these groundtruth lines (and absence.label)."""
    seq = root / "s"
    seq.mkdir(parents=True)
    for t in range(len(groundtruth)):
        cv2.imwrite(str(seq / f"{t + 1}.png"), np.zeros((32, 32, 3), dtype=np.uint8))
    (seq / "groundtruth.txt").write_text("".join(f"{line}\n" for line in groundtruth))
    if absence is not None:
        (seq / "absence.label").write_text("".join(f"{v}\n" for v in absence))
    return seq


def _names(sequences):
    return [s.name for s in sequences]


def test_tree_has_the_custom_layout(synthetic_custom):
    assert sorted(p.name for p in synthetic_custom.iterdir() if p.is_dir()) == ["cat", "dog"]
    cat = synthetic_custom / "cat"
    assert {p.name for p in (cat / "cat-1").iterdir()} == {"groundtruth.txt"} | {f"{t}.jpg" for t in range(1, 25)}
    assert {p.name for p in (cat / "cat-2").iterdir()} == {"groundtruth.txt", "absence.label", "img"}
    assert {p.name for p in (cat / "cat-2" / "img").iterdir()} == {f"{t}.jpg" for t in range(1, 25)}
    assert {p.name for p in (cat / "cat-3").iterdir()} == {"groundtruth.txt"} | {f"{t}.png" for t in range(1, 25)}
    empty_lines = (cat / "cat-1" / "groundtruth.txt").read_text().split("\n")[:FRAMES]
    assert "" in empty_lines and all(len(line.split(",")) == 4 for line in empty_lines if line)
    absent = (cat / "cat-2" / "absence.label").read_text().splitlines()
    assert len(absent) == FRAMES and set(absent) == {"0", "1"}


def test_reader_gives_classes_names_and_frames_in_natural_order(synthetic_custom):
    sequences = load_custom(synthetic_custom, split="all")
    assert _names(sequences) == ["cat-1", "cat-2", "cat-3", "dog-1", "dog-2", "dog-3"]
    assert [s.class_name for s in sequences] == ["cat"] * 3 + ["dog"] * 3
    cat1, cat2 = sequences[:2]
    assert cat1.frame_files == tuple(f"{t}.jpg" for t in range(1, 25))  # 2.jpg before 10.jpg
    assert cat1.frame_path(9) == synthetic_custom / "cat" / "cat-1" / "10.jpg"
    assert cat2.frame_path(0) == synthetic_custom / "cat" / "cat-2" / "img" / "1.jpg"
    assert all(s.boxes.shape == (FRAMES, 4) and s.boxes.dtype == np.float32 and s.visible.shape == (FRAMES,)
               for s in sequences)
    assert not any(s.still for s in sequences)


def test_boxes_are_within_a_pixel_of_the_drawn_object(synthetic_custom):
    for sequence in load_custom(synthetic_custom, split="all"):
        for t in np.flatnonzero(sequence.visible)[::5]:
            luma = read_image(sequence.frame_path(t)).astype(np.float32) @ np.array([0.299, 0.587, 0.114])
            rows, cols = np.nonzero(luma > 130)
            x, y, w, h = sequence.boxes[t]
            found = [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
            assert np.abs(np.array(found) - [x, y, x + w, y + h]).max() <= 1, f"{sequence.name} frame {t}"


def test_generated_sequences_have_frames_without_the_target_in_both_styles(synthetic_custom):
    sequences = {s.name: s for s in load_custom(synthetic_custom, split="all")}
    cat1, cat2 = sequences["cat-1"], sequences["cat-2"]
    assert not cat1.visible.all() and (cat1.boxes[~cat1.visible] == 0).all()  # empty groundtruth lines
    assert (~cat2.visible & (cat2.boxes[:, 2] > 0)).any()  # occluded: a box, and 1 in absence.label


def test_empty_and_zero_lines_make_frames_invisible(tmp_path):
    _hand_made(tmp_path, ["1,2,4,5", "", "0,0,0,0", "3,3,6,6"])
    (sequence,) = load_custom(tmp_path, split="all")
    assert sequence.visible.tolist() == [True, False, False, True]
    np.testing.assert_array_equal(sequence.boxes[[0, 1, 3]], [[1, 2, 4, 5], [0, 0, 0, 0], [3, 3, 6, 6]])


def test_absence_label_makes_frames_invisible_even_with_a_box(tmp_path):
    _hand_made(tmp_path, ["1,2,4,5", "2,2,4,5", "3,2,4,5"], absence=[0, 1, 0])
    (sequence,) = load_custom(tmp_path, split="all")
    assert sequence.visible.tolist() == [True, False, True]


def test_a_trailing_empty_line_is_the_last_frame_when_the_frame_count_says_so(tmp_path):
    _hand_made(tmp_path, ["1,2,4,5", "1,2,4,5", ""])  # 3 frames: the third has no target
    (sequence,) = load_custom(tmp_path, split="all")
    assert sequence.visible.tolist() == [True, True, False]


def test_sequences_directly_under_the_root_have_no_class(tmp_path):
    root = make_synthetic_custom(tmp_path / "flat", ("cat",), sequences_per_class=2, frames=3, size=(32, 32),
                                 class_folders=False)
    sequences = load_custom(root, split="all")
    assert _names(sequences) == ["cat-1", "cat-2"] and [s.class_name for s in sequences] == ["", ""]


def test_class_filter_keeps_only_those_classes(synthetic_custom):
    assert {s.class_name for s in load_custom(synthetic_custom, split="all", classes=["dog"])} == {"dog"}


def test_unknown_class_is_an_error_listing_the_classes_found(synthetic_custom):
    with pytest.raises(ValueError, match=r"class\(es\) bird not found .*class folders found: cat, dog"):
        load_custom(synthetic_custom, classes=["bird"])


def test_split_file_decides_the_test_sequences(synthetic_custom, tmp_path):
    split_file = tmp_path / "test.txt"
    split_file.write_text("cat-3\n\ndog-1\n")
    assert _names(load_custom(synthetic_custom, split="test", split_file=split_file)) == ["cat-3", "dog-1"]
    assert _names(load_custom(synthetic_custom, split="train", split_file=split_file)) == [
        "cat-1", "cat-2", "dog-2", "dog-3"]


def test_split_file_naming_an_unknown_sequence_is_an_error_naming_its_line(synthetic_custom, tmp_path):
    split_file = tmp_path / "test.txt"
    split_file.write_text("cat-3\ncat-9\n")
    with pytest.raises(ValueError, match=r"test.txt line 2: no sequence folder named 'cat-9'"):
        load_custom(synthetic_custom, split="test", split_file=split_file)


def test_ratio_split_is_disjoint_complete_and_chosen_by_the_crc_of_the_names(synthetic_custom):
    train = _names(load_custom(synthetic_custom, split="train", test_ratio=0.34))
    test = _names(load_custom(synthetic_custom, split="test", test_ratio=0.34))
    assert sorted(train + test) == _names(load_custom(synthetic_custom, split="all"))
    # ceil(0.34 * 3) = 2 of each class: those with the smallest CRC-32, whatever the machine
    expected = [n for c in ("cat", "dog")
                for n in sorted(sorted((f"{c}-{k}" for k in (1, 2, 3)), key=lambda n: zlib.crc32(n.encode()))[:2])]
    assert test == expected


def test_ratio_leaves_a_class_of_one_sequence_in_train(tmp_path):
    root = make_synthetic_custom(tmp_path / "one", ("cat",), sequences_per_class=1, frames=3, size=(32, 32))
    assert _names(load_custom(root, split="train", test_ratio=0.5)) == ["cat-1"]
    with pytest.raises(ValueError, match=r"class 'cat' of .* has no sequence in split 'test' by test_ratio 0.5"):
        load_custom(root, split="test", classes=["cat"], test_ratio=0.5)


@pytest.mark.parametrize("line, message", [
    ("1,2,3", r"line 7: expected 4 values \(x,y,w,h, or an empty line\) separated by commas, semicolons, tabs or "
              r"spaces, got 3"),
    ("1,2,three,4", r"line 7: values must be numbers"),
    ("1,nan,3,4", r"line 7: NaN or infinite value"),
    ("1,2,-3,4", r"line 7: negative width or height"),
])
def test_malformed_groundtruth_line_is_an_error_naming_the_file_and_line(one_sequence, line, message):
    root, seq = one_sequence
    lines = (seq / "groundtruth.txt").read_text().split("\n")
    lines[6] = line
    (seq / "groundtruth.txt").write_text("\n".join(lines))
    with pytest.raises(ValueError, match=rf"cat-1/groundtruth.txt {message}"):
        load_custom(root, split="all")


def test_short_groundtruth_is_an_error_naming_the_missing_lines(one_sequence):
    root, seq = one_sequence
    (seq / "groundtruth.txt").write_text("1,2,3,4\n" * 20)
    with pytest.raises(ValueError, match=r"cat-1/groundtruth.txt has 20 lines but .*cat-1 holds 24 frames \(line 21 "
                                         r"onwards missing\)"):
        load_custom(root, split="all")


def test_groundtruth_longer_than_the_frames_is_an_error_naming_the_extra_lines(one_sequence):
    root, seq = one_sequence
    (seq / "groundtruth.txt").write_text("1,2,3,4\n" * 26)
    with pytest.raises(ValueError, match=r"cat-1/groundtruth.txt has 26 lines but .* holds 24 frames \(lines 25-26 "
                                         r"extra\)"):
        load_custom(root, split="all")


def test_malformed_absence_label_is_an_error_naming_the_file_and_line(tmp_path):
    _hand_made(tmp_path, ["1,2,4,5"] * 3, absence=[0, "yes", 0])
    with pytest.raises(ValueError, match=r"s/absence.label line 2: expected 0 or 1, got 'yes'"):
        load_custom(tmp_path, split="all")


def test_absence_label_of_the_wrong_length_is_an_error_naming_it(tmp_path):
    _hand_made(tmp_path, ["1,2,4,5"] * 3, absence=[0, 0])
    with pytest.raises(ValueError, match=r"s/absence.label has 2 lines for 3 frames"):
        load_custom(tmp_path, split="all")


def test_sequence_without_frames_is_an_error_naming_the_folder(one_sequence):
    root, seq = one_sequence
    for frame in seq.glob("*.jpg"):
        frame.unlink()
    with pytest.raises(ValueError, match=r"cat-1 holds no frames \(.jpg, .jpeg, .png files\)"):
        load_custom(root, split="all")


def test_sequence_folder_without_groundtruth_is_an_error_naming_the_file(one_sequence):
    root, seq = one_sequence
    (seq / "groundtruth.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"cat-1/groundtruth.txt is missing"):
        load_custom(root, split="all")


def test_class_folder_member_without_groundtruth_is_an_error_naming_the_file(synthetic_custom, tmp_path):
    shutil.copytree(synthetic_custom / "dog", tmp_path / "dog")
    (tmp_path / "dog" / "dog-2" / "groundtruth.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"dog/dog-2/groundtruth.txt is missing; .*dog is a class folder"):
        load_custom(tmp_path, split="all")


def test_folder_that_is_neither_a_sequence_nor_a_class_folder_is_an_error_naming_it(one_sequence):
    root, _ = one_sequence
    (root / "notes").mkdir()
    with pytest.raises(ValueError, match=r"root/notes holds neither a groundtruth.txt nor sequence folders"):
        load_custom(root, split="all")


def test_two_sequences_of_one_name_are_an_error_naming_both(synthetic_custom, tmp_path):
    shutil.copytree(synthetic_custom / "cat" / "cat-1", tmp_path / "cat" / "x")
    shutil.copytree(synthetic_custom / "dog" / "dog-1", tmp_path / "dog" / "x")
    with pytest.raises(ValueError, match=r"two sequences are named 'x': .*cat/x and .*dog/x"):
        load_custom(tmp_path, split="all")


def test_root_pointing_at_a_sequence_is_an_error_saying_to_point_above(one_sequence):
    _, seq = one_sequence
    with pytest.raises(ValueError, match=r"cat-1 is itself a sequence folder .*point the root at the folder above"):
        load_custom(seq, split="all")


def test_tracking_dataset_draws_crops_whose_box_is_the_drawn_object(synthetic_custom):
    cfg = DataConfig(samples_per_epoch=12, max_sample_interval=10, search=CropConfig(32, 4.0),
                     template=CropConfig(16, 2.0, number=2), grayscale_prob=0.0, brightness_jitter=0.0)
    dataset = TrackingDataset(cfg, load_custom(synthetic_custom, split="all"), seed=0)
    for i in range(12):
        sample = dataset[i]
        rgb = sample["search_images"].float()
        bright = ((0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]) > 130).numpy()
        cols, rows = np.flatnonzero(bright.any(axis=0)), np.flatnonzero(bright.any(axis=1))
        found = np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1])
        x, y, w, h = (sample["search_anno"] * 32).tolist()
        # pixel-centre coordinates: pixel u spans [u - 0.5, u + 0.5] (see test_data_dataset.py)
        assert np.abs(found - (np.array([x, y, x + w, y + h]) + 0.5)).max() <= 1.0, f"sample {i}"


def test_same_seed_writes_the_same_bytes(tmp_path):
    a = make_synthetic_custom(tmp_path / "a", ("cat",), sequences_per_class=3, frames=14, size=(32, 32), seed=3)
    b = make_synthetic_custom(tmp_path / "b", ("cat",), sequences_per_class=3, frames=14, size=(32, 32), seed=3)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
