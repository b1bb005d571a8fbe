"""The LaSOT reader: parsing, loud errors on malformed files, class filter and protocol split."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest

from seqtrack_accel.data.lasot import load_lasot, protocol_test_sequences


@pytest.fixture
def one_sequence(synthetic_lasot, tmp_path):
    """A private copy of book-1 under tmp_path/root, to break; returns (root, sequence folder)."""
    seq = tmp_path / "root" / "book" / "book-1"
    shutil.copytree(synthetic_lasot / "book" / "book-1", seq)
    return tmp_path / "root", seq


def test_reader_parses_the_tree_without_a_config(synthetic_lasot):
    sequences = load_lasot(synthetic_lasot, split="all")
    assert [s.name for s in sequences] == [f"{c}-{i}" for c in ("book", "coin") for i in range(1, 5)]
    seq = sequences[0]
    assert seq.class_name == "book" and len(seq) == 25
    assert seq.boxes.dtype == np.float32 and seq.boxes.shape == (25, 4)
    assert seq.visible.dtype == bool and seq.visible.shape == (25,)
    assert seq.frame_path(0) == synthetic_lasot / "book" / "book-1" / "img" / "00000001.jpg"
    first = (synthetic_lasot / "book" / "book-1" / "groundtruth.txt").read_text().splitlines()[0]
    np.testing.assert_array_equal(seq.boxes[0], np.array(first.split(","), dtype=np.float32))


def test_visibility_is_boxes_nonempty_and_neither_flag(synthetic_lasot):
    seq_dir = synthetic_lasot / "coin" / "coin-2"
    (seq,) = [s for s in load_lasot(synthetic_lasot, split="all") if s.name == "coin-2"]
    occluded = np.array((seq_dir / "full_occlusion.txt").read_text().split(","), dtype=int) == 1
    out_of_view = np.array((seq_dir / "out_of_view.txt").read_text().split(","), dtype=int) == 1
    expected = (seq.boxes[:, 2] > 0) & (seq.boxes[:, 3] > 0) & ~occluded & ~out_of_view
    np.testing.assert_array_equal(seq.visible, expected)


def test_missing_groundtruth_is_rejected_naming_the_file(one_sequence):
    root, seq = one_sequence
    (seq / "groundtruth.txt").unlink()
    with pytest.raises(FileNotFoundError, match="book-1/groundtruth.txt"):
        load_lasot(root, split="all")


def test_short_groundtruth_is_rejected_naming_the_file_and_line(one_sequence):
    root, seq = one_sequence
    lines = (seq / "groundtruth.txt").read_text().splitlines()
    (seq / "groundtruth.txt").write_text("\n".join(lines[:20]) + "\n")
    with pytest.raises(ValueError, match=r"book-1/groundtruth.txt is short.*line 21"):
        load_lasot(root, split="all")


def test_wrong_column_count_is_rejected_naming_the_file_and_line(one_sequence):
    root, seq = one_sequence
    lines = (seq / "groundtruth.txt").read_text().splitlines()
    lines[6] = "1,2,3"
    (seq / "groundtruth.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"book-1/groundtruth.txt line 7: expected 4"):
        load_lasot(root, split="all")


def test_nan_is_rejected_naming_the_file_and_line(one_sequence):
    root, seq = one_sequence
    lines = (seq / "groundtruth.txt").read_text().splitlines()
    lines[9] = "10,NaN,5,5"
    (seq / "groundtruth.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"book-1/groundtruth.txt line 10: NaN"):
        load_lasot(root, split="all")


@pytest.mark.parametrize("flag_file", ["full_occlusion.txt", "out_of_view.txt"])
def test_flag_file_of_the_wrong_length_is_rejected_naming_it(one_sequence, flag_file):
    root, seq = one_sequence
    (seq / flag_file).write_text(",".join(["0"] * 24))
    with pytest.raises(ValueError, match=rf"book-1/{flag_file} holds 24 values"):
        load_lasot(root, split="all")


def test_a_missing_last_frame_is_rejected_naming_it(one_sequence):
    root, seq = one_sequence
    (seq / "img" / "00000025.jpg").unlink()  # the first and the last frame are looked for, not every frame
    with pytest.raises(FileNotFoundError, match=r"book-1/img/00000025.jpg is missing"):
        load_lasot(root, split="all")


def test_class_filter_keeps_only_those_classes_and_logs_each(synthetic_lasot, caplog):
    with caplog.at_level(logging.INFO, logger="seqtrack_accel.data.lasot"):
        sequences = load_lasot(synthetic_lasot, classes=["coin"], split="all")
    assert {s.class_name for s in sequences} == {"coin"} and len(sequences) == 4
    assert "class coin contributes 4 sequences, 100 frames" in caplog.text


def test_filter_matching_nothing_lists_the_classes_found(synthetic_lasot):
    with pytest.raises(ValueError, match=r"dog not found.*classes found: book, coin"):
        load_lasot(synthetic_lasot, classes=["dog"], split="all")


def test_builtin_split_puts_book_3_and_coin_3_in_test(synthetic_lasot):
    test = load_lasot(synthetic_lasot, split="test")
    train = load_lasot(synthetic_lasot, split="train")
    assert [s.name for s in test] == ["book-3", "coin-3"]
    assert [s.name for s in train] == ["book-1", "book-2", "book-4", "coin-1", "coin-2", "coin-4"]


def test_split_all_needs_no_split_information(synthetic_lasot, tmp_path):
    shutil.copytree(synthetic_lasot / "book" / "book-1", tmp_path / "cat" / "cat-1")
    assert [s.name for s in load_lasot(tmp_path, split="all")] == ["cat-1"]


def test_split_of_a_class_that_is_not_lasots_says_to_pass_a_split_file(synthetic_lasot, tmp_path):
    shutil.copytree(synthetic_lasot / "book" / "book-1", tmp_path / "widget" / "widget-1")
    with pytest.raises(ValueError, match=r"class 'widget' is not one of LaSOT's 70 classes.*split_file"):
        load_lasot(tmp_path, split="train")


def test_the_protocol_split_holds_4_test_sequences_of_each_of_the_70_classes():
    split = protocol_test_sequences()
    assert len(split) == 70 and {len(names) for names in split.values()} == {4}
    assert split["book"] == {"book-3", "book-10", "book-11", "book-19"}
    assert split["coin"] == {"coin-3", "coin-6", "coin-7", "coin-18"}


def test_any_lasot_class_takes_the_protocol_split(synthetic_lasot, tmp_path):
    for index in (1, 3):  # the protocol's test sequences of cat are cat-1, cat-3, cat-18 and cat-20
        shutil.copytree(synthetic_lasot / "book" / "book-1", tmp_path / "cat" / f"cat-{index}")
    shutil.copytree(synthetic_lasot / "book" / "book-1", tmp_path / "cat" / "cat-2")
    assert [s.name for s in load_lasot(tmp_path, split="train")] == ["cat-2"]
    assert [s.name for s in load_lasot(tmp_path, split="test")] == ["cat-1", "cat-3"]


def test_split_file_decides_the_split_of_any_class(synthetic_lasot, tmp_path):
    for i in (1, 2):
        shutil.copytree(synthetic_lasot / "book" / "book-1", tmp_path / "root" / "cat" / f"cat-{i}")
    split_file = tmp_path / "testing_set.txt"
    split_file.write_text("cat-2\nbook-3\n")
    assert [s.name for s in load_lasot(tmp_path / "root", split="test", split_file=split_file)] == ["cat-2"]
    assert [s.name for s in load_lasot(tmp_path / "root", split="train", split_file=split_file)] == ["cat-1"]


def test_requested_class_without_sequences_is_an_error_naming_it(one_sequence):
    root, _ = one_sequence
    (root / "coin").mkdir()
    with pytest.raises(ValueError, match=r"class 'coin' has no sequence in split 'all' under .*root: .*coin "
                                         r"holds no sequence folder"):
        load_lasot(root, classes=["book", "coin"], split="all")


def test_requested_class_with_every_sequence_in_the_other_split_is_an_error(synthetic_lasot, tmp_path):
    shutil.copytree(synthetic_lasot / "coin" / "coin-3", tmp_path / "coin" / "coin-3")  # a test sequence
    with pytest.raises(ValueError, match=r"class 'coin' has no sequence in split 'train'.*all in the test split"):
        load_lasot(tmp_path, classes=["coin"], split="train")


def test_class_without_sequences_that_was_not_requested_is_a_warning(one_sequence, caplog):
    root, _ = one_sequence
    (root / "coin").mkdir()
    with caplog.at_level(logging.WARNING, logger="seqtrack_accel.data.lasot"):
        sequences = load_lasot(root, split="all")
    assert [s.name for s in sequences] == ["book-1"]
    assert "class 'coin' has no sequence" in caplog.text
