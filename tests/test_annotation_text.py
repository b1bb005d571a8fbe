"""Annotation files saved on Windows: a UTF-8 byte-order mark (BOM) at the start of a file is read as nothing, as a
CRLF line end is read as a line end, by every reader of annotation files: the training datasets' (LaSOT, GOT-10k,
TrackingNet, custom folders), the benchmarks' and the result folders that seqtrack-evaluate scores."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from seqtrack_accel.data import benchmarks, synthetic_benchmarks
from seqtrack_accel.data.custom import load_custom
from seqtrack_accel.data.got10k import load_got10k
from seqtrack_accel.data.lasot import load_lasot
from seqtrack_accel.data.annotations import read_boxes
from seqtrack_accel.data.index import SequenceIndex
from seqtrack_accel.data.sequence import Sequence
from seqtrack_accel.data.synthetic import (make_synthetic_custom, make_synthetic_got10k, make_synthetic_lasot,
                                           make_synthetic_trackingnet)
from seqtrack_accel.data.trackingnet import load_trackingnet
from seqtrack_accel.tracking.evaluate import evaluate_results, read_times, times_file, write_boxes, write_times

SIZE = (64, 48)
BOM = b"\xef\xbb\xbf"
TEXT_SUFFIXES = (".txt", ".label", ".ini")  # annotations, labels, lists, meta_info.ini: what the readers parse

# name: (write the tree at a path, read everything its readers read from the root)
TREES = {
    "lasot": (lambda out: make_synthetic_lasot(out, ("book",), 2, 6, SIZE),
              lambda root: load_lasot(root, split="all")),
    "got10k": (lambda out: make_synthetic_got10k(out, sequences=2, frames=6, size=SIZE, val_sequences=1,
                                                 test_sequences=1),
               lambda root: [load_got10k(root, split=split) for split in ("train_full", "val", "test")]),
    "trackingnet": (lambda out: make_synthetic_trackingnet(out, chunks=1, sequences_per_chunk=2, frames=6, size=SIZE,
                                                           test_sequences=1),
                    lambda root: [load_trackingnet(root), load_trackingnet(root, split="test")]),
    "custom": (lambda out: make_synthetic_custom(out, sequences_per_class=2, frames=6, size=SIZE),
               lambda root: load_custom(root, split="all")),
    "lasot_ext": (lambda out: synthetic_benchmarks.make_synthetic_lasot_ext(out, ("atv",), 1, 6, SIZE),
                  lambda root: benchmarks.load_lasot_ext(root, ("atv",))),
    "tnl2k": (lambda out: synthetic_benchmarks.make_synthetic_tnl2k(out, 2, 6, SIZE), benchmarks.load_tnl2k),
    "uav123": (lambda out: synthetic_benchmarks.make_synthetic_uav123(out, size=SIZE),
               lambda root: [benchmarks.load_uav123(root, synthetic_benchmarks.SYNTHETIC_UAV123_TABLE),
                             benchmarks.uav123_attributes(root, synthetic_benchmarks.SYNTHETIC_UAV123_TABLE)]),
    "otb100": (lambda out: synthetic_benchmarks.make_synthetic_otb100(out, size=SIZE),
               lambda root: benchmarks.load_otb100(root, synthetic_benchmarks.SYNTHETIC_OTB100_TABLE)),
    **{f"nfs {layout}": (lambda out, layout=layout: synthetic_benchmarks.make_synthetic_nfs(out, size=SIZE,
                                                                                          layout=layout),
                         lambda root: benchmarks.load_nfs(root, synthetic_benchmarks.SYNTHETIC_NFS_TABLE))
       for layout in synthetic_benchmarks.NFS_LAYOUTS},
}
SAVED_AS = {  # how a Windows editor may have saved the file
    "bom": lambda data: BOM + data,
    "crlf": lambda data: data.replace(b"\n", b"\r\n"),
    "bom and crlf": lambda data: BOM + data.replace(b"\n", b"\r\n"),
}


def _resave(root, saved_as) -> int:
    """Rewrite every text file under ``root`` as ``saved_as`` does; returns how many there were."""
    paths = [p for p in root.rglob("*") if p.suffix in TEXT_SUFFIXES]
    for path in paths:
        path.write_bytes(SAVED_AS[saved_as](path.read_bytes()))
    return len(paths)


def _contents(read, root):
    """What a reader gave, as plain data without the root's path: sequences by name, class, boxes, visibility."""
    def plain(value):
        if isinstance(value, Sequence):
            boxes = np.nan_to_num(value.boxes, nan=-1.0).tolist()  # test sets' unknown boxes (NaN) compare equal
            return (value.name, value.class_name, boxes, value.visible.tolist(),
                    str(value.frame_path(len(value) - 1).relative_to(root)))
        if isinstance(value, (list, SequenceIndex)):
            return [plain(v) for v in value]
        return value
    return plain(read(root))


@pytest.mark.parametrize("saved_as", list(SAVED_AS))
@pytest.mark.parametrize("tree", list(TREES))
def test_a_byte_order_mark_is_read_as_a_crlf_file_is(tree, saved_as, tmp_path):
    make, read = TREES[tree]
    plain = make(tmp_path / "plain")
    resaved = shutil.copytree(plain, tmp_path / "resaved")
    assert _resave(resaved, saved_as) > 0
    assert _contents(read, resaved) == _contents(read, plain)


@pytest.mark.parametrize("saved_as", list(SAVED_AS))
def test_result_files_with_a_byte_order_mark_score_as_plain_ones(synthetic_lasot, saved_as, tmp_path):
    sequences = load_lasot(synthetic_lasot, split="test")
    scores = {}
    for name in ("plain", saved_as):
        folder = tmp_path / name
        for k, sequence in enumerate(sequences):  # boxes a few pixels off the truth, so the scores are not trivial
            write_boxes(folder / f"{sequence.name}.txt", sequence.boxes + k + 1)
            write_times(times_file(folder, sequence.name), np.full(len(sequence), 0.01))
        if name != "plain":
            assert _resave(folder, saved_as) == 2 * len(sequences)
        scores[name] = evaluate_results(folder, sequences)
        assert read_times(times_file(folder, sequences[0].name)).tolist() == [0.01] * len(sequences[0])
    assert scores[saved_as]["overall"] == scores["plain"]["overall"]
    assert scores[saved_as]["speed"] == scores["plain"]["speed"]


def test_an_annotation_file_that_is_not_utf8_is_an_error_naming_it(tmp_path):
    path = tmp_path / "groundtruth.txt"
    path.write_text("1,2,3,4\n", encoding="utf-16")  # Notepad's "Unicode"
    with pytest.raises(ValueError, match=rf"{path} is not UTF-8 text .*save it as UTF-8"):
        read_boxes(path, "LaSOT sequence")
