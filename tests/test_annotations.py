"""The one annotation-line parser (``seqtrack_accel.data.annotations``) that every reader calls: its separators, line
ends, byte-order mark, and what a blank line or a NaN row means in each format."""

from __future__ import annotations

import numpy as np
import pytest

from seqtrack_accel.data.annotations import ABSENT, SKIP, parse_box, read_boxes, read_rows


def test_values_may_be_separated_by_commas_semicolons_tabs_or_spaces(tmp_path):
    path = tmp_path / "groundtruth.txt"
    path.write_text("1,2,3,4\n5\t6\t7\t8\n9 10  11 12\n13;14, 15\t16\n")
    boxes, known = read_boxes(path, "test sequence")
    np.testing.assert_array_equal(boxes, [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16]])
    assert known.all() and boxes.dtype == np.float32


def test_a_byte_order_mark_and_crlf_line_ends_read_as_plain_text(tmp_path):
    (tmp_path / "plain.txt").write_bytes(b"1,2,3,4\n5,6,7,8\n")
    (tmp_path / "windows.txt").write_bytes(b"\xef\xbb\xbf1,2,3,4\r\n5,6,7,8\r\n")  # Notepad's "UTF-8 with BOM"
    plain, _ = read_boxes(tmp_path / "plain.txt", "test sequence")
    windows, _ = read_boxes(tmp_path / "windows.txt", "test sequence")
    np.testing.assert_array_equal(windows, plain)


def test_trailing_blank_lines_are_a_line_end_not_rows(tmp_path):
    path = tmp_path / "groundtruth.txt"
    path.write_text("1,2,3,4\n\n\n")
    assert read_boxes(path, "test sequence")[0].shape == (1, 4)


def test_a_blank_line_inside_is_an_error_naming_the_file_and_line_by_default(tmp_path):
    path = tmp_path / "groundtruth.txt"
    path.write_text("1,2,3,4\n\n5,6,7,8\n")
    with pytest.raises(ValueError, match=r"groundtruth.txt line 2: a blank line"):
        read_boxes(path, "test sequence")


def test_a_blank_line_is_a_frame_without_the_target_where_the_format_says_so(tmp_path):
    path = tmp_path / "groundtruth.txt"
    path.write_text("1,2,3,4\n\n5,6,7,8\n")
    boxes, known = read_boxes(path, "custom sequence", blank=ABSENT)
    np.testing.assert_array_equal(boxes, [[1, 2, 3, 4], [0, 0, 0, 0], [5, 6, 7, 8]])
    np.testing.assert_array_equal(known, [True, False, True])


def test_blank_lines_are_skipped_where_the_format_says_so_keeping_line_numbers(tmp_path):
    path = tmp_path / "book-3.txt"
    path.write_text("1,2,3,4\n\n5,6,7,8\n")
    rows = read_rows(path, "result file", blank=SKIP)
    np.testing.assert_array_equal(rows.values, [[1, 2, 3, 4], [5, 6, 7, 8]])
    assert rows.lines.tolist() == [1, 3]


@pytest.mark.parametrize("value", ["NaN", "nan", "inf"])
def test_a_nan_row_is_an_error_by_default_and_an_absent_target_where_the_format_says_so(tmp_path, value):
    path = tmp_path / "groundtruth.txt"
    path.write_text(f"1,2,3,4\n{value},{value},{value},{value}\n")
    with pytest.raises(ValueError, match=r"groundtruth.txt line 2: NaN or infinite value"):
        read_boxes(path, "LaSOT sequence")
    boxes, known = read_boxes(path, "UAV123 sequence", nan=ABSENT)
    np.testing.assert_array_equal(boxes, [[1, 2, 3, 4], [0, 0, 0, 0]])
    np.testing.assert_array_equal(known, [True, False])


@pytest.mark.parametrize("line, message", [
    ("5,6,7", r"line 3: expected 4 values \(x,y,w,h\) separated by commas, semicolons, tabs or spaces, got 3"),
    ("5,6,7,8,9", r"line 3: expected 4 values .* got 5"),
    ("5,6,seven,8", r"line 3: values must be numbers"),
    ("5,,7,8", r"line 3: expected 4 values .* got 3"),  # a run of separators is one
])
def test_a_malformed_line_among_well_formed_ones_is_named(tmp_path, line, message):
    path = tmp_path / "groundtruth.txt"
    path.write_text("1,2,3,4\n1,2,3,4\n" + line + "\n1,2,3,4\n")
    with pytest.raises(ValueError, match=rf"groundtruth.txt {message}"):
        read_boxes(path, "test sequence")


def test_values_after_the_read_columns_are_allowed_only_where_the_format_has_them(tmp_path):
    path = tmp_path / "tracked.txt"
    path.write_text("1,2,3,4,nan\n5,6,7,8,0.75\n")  # x,y,w,h,confidence as seqtrack-track writes them
    rows = read_rows(path, "result file", extra=1)
    np.testing.assert_array_equal(rows.values, [[1, 2, 3, 4], [5, 6, 7, 8]])
    with pytest.raises(ValueError, match=r"tracked.txt line 1: expected 4 values"):
        read_rows(path, "result file")


def test_a_missing_or_empty_file_is_an_error_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothere.txt is missing"):
        read_boxes(tmp_path / "nothere.txt", "test sequence")
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(ValueError, match=r"empty.txt is empty"):
        read_boxes(tmp_path / "empty.txt", "test sequence")


@pytest.mark.parametrize("text", ["10,20,30,40", "10 20 30 40", "10, 20, 30, 40", "10\t20;30 40"])
def test_a_box_option_takes_the_same_separators(text):
    np.testing.assert_array_equal(parse_box(text), [10, 20, 30, 40])


@pytest.mark.parametrize("text, message", [("1,2,3", "not four finite numbers"), ("1,2,a,4", "not four numbers"),
                                           ("1,2,0,4", "has no area")])
def test_a_bad_box_option_says_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        parse_box(text)
