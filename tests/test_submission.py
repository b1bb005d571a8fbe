"""Evaluation-server archives: GOT-10k test and TrackingNet test, checked entry by entry."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from seqtrack_accel.config import Config
from seqtrack_accel.data.got10k import load_got10k
from seqtrack_accel.data.sequence import Sequence
from seqtrack_accel.data.synthetic import make_synthetic_got10k, make_synthetic_trackingnet
from seqtrack_accel.data.trackingnet import load_trackingnet
from seqtrack_accel.tracking.evaluate import results_record, run_tracker_on_sequences, write_boxes, write_times
from seqtrack_accel.tracking.submission import SubmissionError, check_submission, write_submission
from seqtrack_accel.tracking.tracker import FirstBoxTracker

BOXES = {"seq_a": [[1, 2, 30.5, 40], [1.25, 2.5, 30, 39.9996], [0.001, -2, 31, 40]],
         "seq_b": [[5, 6, 7, 8], [9, 10, 11, 12]]}
SECONDS = {"seq_a": [0.5, 0.0123456789, 0.02], "seq_b": [0.25, 1e-9]}


def _sequences(lengths=None):
    lengths = lengths or {name: len(boxes) for name, boxes in BOXES.items()}
    return [Sequence(name=name, class_name="", frames_dir=Path("/nonexistent") / name,
                     boxes=np.full((n, 4), np.nan, dtype=np.float32), visible=np.arange(n) == 0)
            for name, n in lengths.items()]


@pytest.fixture
def results(tmp_path):
    """A result folder as run_tracker_on_sequences writes it: <seq>.txt and <seq>_time.txt."""
    folder = tmp_path / "results"
    for name, boxes in BOXES.items():
        write_times(folder / f"{name}_time.txt", np.array(SECONDS[name]))
        write_boxes(folder / f"{name}.txt", np.array(boxes))
    return folder


def _entries(path):
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name).decode() for name in archive.namelist()}


def test_got10k_archive_holds_a_folder_per_sequence_with_its_boxes_and_times(results, tmp_path):
    path, manifest = write_submission(results, _sequences(), tmp_path / "out" / "got10k.zip", "got10k_test")
    assert path == tmp_path / "out" / "got10k.zip"
    assert _entries(path) == {
        "seq_a/": "",
        "seq_a/seq_a_001.txt": "1.000,2.000,30.500,40.000\n1.250,2.500,30.000,40.000\n0.001,-2.000,31.000,40.000\n",
        "seq_a/seq_a_time.txt": "0.50000000\n0.01234568\n0.02000000\n",
        "seq_b/": "",
        "seq_b/seq_b_001.txt": "5.000,6.000,7.000,8.000\n9.000,10.000,11.000,12.000\n",
        "seq_b/seq_b_time.txt": "0.25000000\n0.00000000\n",
    }
    assert manifest == {"benchmark": "got10k_test", "archive": str(path), "results_dir": str(results),
                        "sequences": 2, "frames": 5, "files": 6, "produced_by": None}
    assert check_submission(path, _sequences(), "got10k_test") == {"benchmark": "got10k_test", "sequences": 2,
                                                                   "frames": 5, "files": 6}


def test_trackingnet_archive_holds_one_box_file_per_sequence_at_its_root(results, tmp_path):
    path, manifest = write_submission(results, _sequences(), tmp_path / "trackingnet.zip", "trackingnet")
    assert _entries(path) == {
        "seq_a.txt": "1.00,2.00,30.50,40.00\n1.25,2.50,30.00,40.00\n0.00,-2.00,31.00,40.00\n",
        "seq_b.txt": "5.00,6.00,7.00,8.00\n9.00,10.00,11.00,12.00\n",
    }
    assert manifest["files"] == 2 and manifest["frames"] == 5
    check_submission(path, _sequences(), "trackingnet")


def test_same_results_give_the_same_archive_bytes(results, tmp_path):
    a, _ = write_submission(results, _sequences(), tmp_path / "a.zip", "got10k_test")
    b, _ = write_submission(results, _sequences(), tmp_path / "b.zip", "got10k_test")
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize("benchmark", ["got10k_test", "trackingnet"])
def test_a_sequence_without_results_is_named_and_nothing_is_written(results, tmp_path, benchmark):
    sequences = _sequences({**{name: len(b) for name, b in BOXES.items()}, "seq_c": 4})
    with pytest.raises(SubmissionError, match=r"1 of the 3 .* sequences have no complete result: seq_c \(seq_c.txt"):
        write_submission(results, sequences, tmp_path / "out.zip", benchmark)
    assert not (tmp_path / "out.zip").exists()


def test_a_short_result_is_named_with_its_line_count(results, tmp_path):
    sequences = _sequences({"seq_a": 3, "seq_b": 5})
    with pytest.raises(SubmissionError, match=r"seq_b \(seq_b.txt has 2 lines, seq_b_time.txt has 2 lines for 5 "
                                              r"frames\)"):
        write_submission(results, sequences, tmp_path / "out.zip", "got10k_test")
    assert not (tmp_path / "out.zip").exists()


def test_got10k_needs_the_time_files_and_trackingnet_does_not(results, tmp_path):
    (results / "seq_a_time.txt").unlink()
    with pytest.raises(SubmissionError, match=r"seq_a \(seq_a_time.txt missing\)"):
        write_submission(results, _sequences(), tmp_path / "out.zip", "got10k_test")
    write_submission(results, _sequences(), tmp_path / "out.zip", "trackingnet")


def test_a_failure_while_writing_leaves_neither_the_archive_nor_a_temporary_file(results, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    written = []

    def failing_writestr(self, info, data, *args, **kwargs):
        if written:
            raise OSError("disk full")
        written.append(info)
        return original(self, info, data, *args, **kwargs)

    original = zipfile.ZipFile.writestr
    monkeypatch.setattr(zipfile.ZipFile, "writestr", failing_writestr)
    with pytest.raises(OSError, match="disk full"):
        write_submission(results, _sequences(), out / "got10k.zip", "got10k_test")
    assert written and list(out.iterdir()) == []


def test_an_unknown_benchmark_is_an_error_listing_the_known_ones(results, tmp_path):
    with pytest.raises(SubmissionError, match=r"benchmark 'lasot'; known: got10k_test, trackingnet"):
        write_submission(results, _sequences(), tmp_path / "out.zip", "lasot")


def _zip(path, entries):
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in entries.items():
            archive.writestr(name, text)
    return path


def test_check_submission_names_a_missing_or_unexpected_entry(tmp_path):
    good = {"seq_a.txt": "1,2,3,4\n" * 3, "seq_b.txt": "1,2,3,4\n" * 2}
    check_submission(_zip(tmp_path / "good.zip", good), _sequences(), "trackingnet")
    with pytest.raises(SubmissionError, match=r"1 entries missing, e.g. \['seq_b.txt'\]"):
        check_submission(_zip(tmp_path / "a.zip", {"seq_a.txt": good["seq_a.txt"]}), _sequences(), "trackingnet")
    with pytest.raises(SubmissionError, match=r"unexpected entries \['results/seq_a.txt'\]"):
        check_submission(_zip(tmp_path / "b.zip", {**good, "results/seq_a.txt": "1,2,3,4\n"}), _sequences(),
                         "trackingnet")


def test_check_submission_names_an_entry_with_another_line_count(tmp_path):
    entries = {"seq_a.txt": "1,2,3,4\n" * 3, "seq_b.txt": "1,2,3,4\n" * 3}
    with pytest.raises(SubmissionError, match=r"seq_b.txt has 3 lines for the sequence's 2 frames"):
        check_submission(_zip(tmp_path / "a.zip", entries), _sequences(), "trackingnet")


@pytest.mark.parametrize("line", ["1 2 3 4", "1,2,3", "1,2,nan,4", "1,2,x,4"])
def test_check_submission_names_a_line_that_is_not_four_finite_comma_separated_numbers(tmp_path, line):
    entries = {"seq_a.txt": f"1,2,3,4\n{line}\n1,2,3,4\n", "seq_b.txt": "1,2,3,4\n" * 2}
    with pytest.raises(SubmissionError, match=r"seq_a.txt line 2: expected x,y,w,h: 4 finite numbers"):
        check_submission(_zip(tmp_path / "a.zip", entries), _sequences(), "trackingnet")


def test_check_submission_names_a_negative_time(results, tmp_path):
    path, _ = write_submission(results, _sequences(), tmp_path / "got10k.zip", "got10k_test")
    entries = _entries(path)
    entries["seq_b/seq_b_time.txt"] = "0.1\n-0.2\n"
    with pytest.raises(SubmissionError, match=r"seq_b/seq_b_time.txt line 2: expected seconds: a number >= 0"):
        check_submission(_zip(tmp_path / "bad.zip", entries), _sequences(), "got10k_test")


def test_check_submission_refuses_a_file_that_is_no_zip(tmp_path):
    (tmp_path / "not.zip").write_text("x")
    with pytest.raises(SubmissionError, match=r"not.zip is not a readable zip archive"):
        check_submission(tmp_path / "not.zip", _sequences(), "trackingnet")


def test_synthetic_test_sets_tracked_by_a_baseline_pack_into_valid_archives(tmp_path):
    got10k = make_synthetic_got10k(tmp_path / "GOT-10k", sequences=1, frames=12, size=(32, 24), test_sequences=2)
    trackingnet = make_synthetic_trackingnet(tmp_path / "TrackingNet", chunks=1, sequences_per_chunk=1, frames=12,
                                             size=(32, 24), test_sequences=2)
    for benchmark, sequences in (("got10k_test", load_got10k(got10k, split="test")),
                                 ("trackingnet", load_trackingnet(trackingnet, split="test"))):
        folder = tmp_path / benchmark
        run_tracker_on_sequences(FirstBoxTracker, Config(), sequences, folder, record=results_record("first-box", {}))
        path, manifest = write_submission(folder, sequences, tmp_path / f"{benchmark}.zip", benchmark)
        assert check_submission(path, sequences, benchmark)["frames"] == 24
        assert manifest["produced_by"]["tracker"] == "first-box"
