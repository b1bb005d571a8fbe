"""The OPE benchmark readers (LaSOT_ext, TNL2K, UAV123, OTB100, NFS) on synthetic trees in their real layouts: names,
frame ranges, visibility, attributes, the shipped tables and loud errors."""

from __future__ import annotations

import os
import re
import shutil

import numpy as np
import pytest

from seqtrack_accel.data.benchmarks import (
    LASOT_EXT_CLASSES,
    UAV123_ATTRIBUTES,
    load_lasot_ext,
    load_nfs,
    load_otb100,
    load_tnl2k,
    load_uav123,
    nfs_table,
    otb100_table,
    read_benchmark_table,
    read_nfs_annotation,
    uav123_attributes,
    uav123_table,
)
from seqtrack_accel.data.image import read_image
from seqtrack_accel.data.synthetic_benchmarks import (
    NFS_LAYOUTS,
    SYNTHETIC_NFS_TABLE,
    SYNTHETIC_OTB100_TABLE,
    SYNTHETIC_UAV123_TABLE,
    make_synthetic_lasot_ext,
    make_synthetic_nfs,
    make_synthetic_otb100,
    make_synthetic_tnl2k,
    make_synthetic_uav123,
)

SIZE = (64, 48)


def _box(line: str) -> np.ndarray:
    return np.array(re.split(r"[,\s]+", line.strip()), dtype=np.float32)


def _replace_line(path, index, text):
    lines = path.read_text().splitlines()
    lines[index] = text
    path.write_text("\n".join(lines) + "\n")


def _copy(root, tmp_path):
    """A private copy of a shared tree, to break."""
    return shutil.copytree(root, tmp_path / root.name)


@pytest.fixture(scope="module")
def lasot_ext(tmp_path_factory):
    return make_synthetic_lasot_ext(tmp_path_factory.mktemp("b") / "LaSOT_ext", sequences_per_class=1, frames=8,
                                    size=SIZE)


@pytest.fixture(scope="module")
def tnl2k(tmp_path_factory):
    return make_synthetic_tnl2k(tmp_path_factory.mktemp("b") / "TNL2K", sequences=3, frames=12, size=SIZE)


@pytest.fixture(scope="module")
def uav123(tmp_path_factory):
    return make_synthetic_uav123(tmp_path_factory.mktemp("b") / "UAV123", size=SIZE)


@pytest.fixture(scope="module")
def otb100(tmp_path_factory):
    return make_synthetic_otb100(tmp_path_factory.mktemp("b") / "OTB100", size=SIZE)


@pytest.fixture(scope="module")
def nfs(tmp_path_factory):
    return make_synthetic_nfs(tmp_path_factory.mktemp("b") / "NFS", size=SIZE)


# ---------------------------------------------------------------------------------------------------------------
# the shipped tables


@pytest.mark.parametrize("table, count", [(uav123_table, 123), (otb100_table, 100), (nfs_table, 100)])
def test_shipped_tables_have_their_benchmark_size_with_unique_names(table, count):
    names = [entry.name for entry in table()]
    assert len(names) == count and len(set(names)) == count


def test_uav123_table_splits_long_folders_into_frame_ranges():
    bird1 = [(e.name, e.start_frame, e.end_frame) for e in uav123_table() if e.frames_dir == "data_seq/UAV123/bird1"]
    assert bird1 == [("bird1_1", 1, 253), ("bird1_2", 775, 1477), ("bird1_3", 1573, 2437)]


def test_otb100_table_keeps_pytrackings_special_cases():
    table = {entry.name: entry for entry in otb100_table()}
    assert (table["David"].first_frame, table["David"].end_frame) == (300, 770)
    assert (table["Tiger1"].first_frame, table["Tiger1"].init_omit) == (6, 5)
    assert table["Jogging_1"].frames_dir == table["Jogging_2"].frames_dir == "Jogging/img"
    assert table["Jogging_2"].anno_file == "Jogging/groundtruth_rect.2.txt"
    assert table["Human4_2"].anno_file == "Human4/groundtruth_rect.2.txt"
    assert table["Board"].digits == 5 and table["KiteSurf"].ext == "png"


def test_malformed_table_line_is_rejected_naming_the_file_and_line(tmp_path):
    path = tmp_path / "table.txt"
    path.write_text("# a comment\nbike1,data_seq/UAV123/bike1,1,8,6,jpg,anno/UAV123/bike1.txt,0,vehicle\n"
                    "bike2,data_seq/UAV123/bike2,one,8,6,jpg,anno/UAV123/bike2.txt,0,vehicle\n")
    with pytest.raises(ValueError, match=r"table.txt line 3: start_frame.*must be integers"):
        read_benchmark_table(path)


# ---------------------------------------------------------------------------------------------------------------
# roots


@pytest.mark.parametrize("load", [load_lasot_ext, load_tnl2k, load_uav123, load_otb100, load_nfs])
def test_missing_root_is_rejected_naming_it(load, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"root .*nowhere does not exist"):
        load(tmp_path / "nowhere")


# ---------------------------------------------------------------------------------------------------------------
# LaSOT_ext


def test_lasot_ext_reads_the_15_extension_classes(lasot_ext):
    sequences = load_lasot_ext(lasot_ext)
    assert [s.name for s in sequences] == [f"{c}-1" for c in LASOT_EXT_CLASSES]
    seq = sequences[0]
    assert seq.class_name == "atv" and len(seq) == 8
    assert seq.frame_path(0) == lasot_ext / "atv" / "atv-1" / "img" / "00000001.jpg"
    assert read_image(seq.frame_path(7)).shape == (48, 64, 3)
    first = (lasot_ext / "atv" / "atv-1" / "groundtruth.txt").read_text().splitlines()[0]
    np.testing.assert_array_equal(seq.boxes[0], _box(first))


def test_lasot_ext_frames_fully_occluded_or_out_of_view_are_invisible(lasot_ext, tmp_path):
    root = _copy(lasot_ext, tmp_path)
    (root / "atv" / "atv-1" / "full_occlusion.txt").write_text("0,0,1,0,0,0,0,0")
    (root / "atv" / "atv-1" / "out_of_view.txt").write_text("0,0,0,0,0,1,0,0")
    (seq,) = load_lasot_ext(root, classes=("atv",))
    assert seq.visible.tolist() == [True, True, False, True, True, False, True, True]


def test_lasot_ext_rejects_a_class_that_is_not_an_extension_class(lasot_ext):
    with pytest.raises(ValueError, match=r"book are not LaSOT_ext classes"):
        load_lasot_ext(lasot_ext, classes=("atv", "book"))


def test_lasot_ext_root_with_some_classes_reads_them_warning_how_many_sequences_are_missing(tmp_path, caplog):
    root = make_synthetic_lasot_ext(tmp_path / "LaSOT_ext", classes=("atv", "misc"), sequences_per_class=2, frames=2,
                                    size=SIZE)
    sequences = load_lasot_ext(root)
    assert [s.name for s in sequences] == ["atv-1", "atv-2", "misc-1", "misc-2"]
    assert "LaSOT_ext at" in caplog.text and "146 of its 150 sequences are missing (atv-3, atv-4" in caplog.text


def test_lasot_ext_class_asked_for_and_missing_is_rejected_naming_it(tmp_path):
    root = make_synthetic_lasot_ext(tmp_path / "LaSOT_ext", classes=("atv",), sequences_per_class=1, frames=2,
                                    size=SIZE)
    with pytest.raises(ValueError, match=r"rhino not found under"):
        load_lasot_ext(root, classes=("atv", "rhino"))


def test_lasot_ext_root_without_any_extension_class_is_rejected(tmp_path):
    (tmp_path / "LaSOT_ext" / "book").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"LaSOT_ext holds none of the 15 LaSOT_ext class folders"):
        load_lasot_ext(tmp_path / "LaSOT_ext")


# ---------------------------------------------------------------------------------------------------------------
# TNL2K


def test_tnl2k_reads_every_sequence_folder(tnl2k):
    sequences = load_tnl2k(tnl2k)
    assert [s.name for s in sequences] == ["book_video_01", "coin_video_02", "cup_video_03"]
    assert [len(s) for s in sequences] == [12, 12, 12] and {s.class_name for s in sequences} == {""}
    first = (tnl2k / "coin_video_02" / "groundtruth.txt").read_text().splitlines()[0]
    np.testing.assert_array_equal(sequences[1].boxes[0], _box(first))
    for seq in sequences:
        assert read_image(seq.frame_path(0)).shape == (48, 64, 3)


def test_tnl2k_frames_are_in_natural_order(tnl2k):
    seq = load_tnl2k(tnl2k)[1]
    assert seq.frame_path(1) == tnl2k / "coin_video_02" / "imgs" / "2.jpg"
    assert seq.frame_path(9) == tnl2k / "coin_video_02" / "imgs" / "10.jpg"


def test_tnl2k_empty_and_nan_boxes_are_invisible(tnl2k, tmp_path):
    root = _copy(tnl2k, tmp_path)
    _replace_line(root / "book_video_01" / "groundtruth.txt", 3, "0,0,0,0")
    _replace_line(root / "book_video_01" / "groundtruth.txt", 4, "nan,nan,nan,nan")
    seq = load_tnl2k(root)[0]
    assert not seq.visible[3] and not seq.visible[4] and seq.visible[5] == (seq.boxes[5, 2:] > 0).all()
    np.testing.assert_array_equal(seq.boxes[4], [0, 0, 0, 0])


def test_tnl2k_fewer_frames_than_lines_is_rejected_naming_both(tnl2k, tmp_path):
    root = _copy(tnl2k, tmp_path)
    (root / "cup_video_03" / "imgs" / "00012.png").unlink()
    with pytest.raises(ValueError, match=r"cup_video_03/imgs holds 11 frames but .*cup_video_03/groundtruth.txt has "
                                         r"12 lines"):
        load_tnl2k(root)


def test_tnl2k_missing_groundtruth_is_rejected_naming_it(tnl2k, tmp_path):
    root = _copy(tnl2k, tmp_path)
    (root / "coin_video_02" / "groundtruth.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"coin_video_02/groundtruth.txt is missing"):
        load_tnl2k(root)


# ---------------------------------------------------------------------------------------------------------------
# UAV123


def test_uav123_reads_the_tables_sequences(uav123):
    sequences = load_uav123(uav123, SYNTHETIC_UAV123_TABLE)
    assert [s.name for s in sequences] == ["bike1", "bird1_1", "bird1_2"]
    assert [len(s) for s in sequences] == [8, 8, 8] and sequences[1].class_name == "bird"
    first = (uav123 / "anno" / "UAV123" / "bike1.txt").read_text().splitlines()[0]
    np.testing.assert_array_equal(sequences[0].boxes[0], _box(first))


def test_uav123_range_sequence_starts_at_its_start_frame_in_the_shared_folder(uav123):
    bird1_2 = load_uav123(uav123, SYNTHETIC_UAV123_TABLE)[2]
    folder = uav123 / "data_seq" / "UAV123" / "bird1"
    assert bird1_2.frame_path(0) == folder / "000013.jpg" and bird1_2.frame_path(7) == folder / "000020.jpg"
    assert read_image(bird1_2.frame_path(7)).shape == (48, 64, 3)


def test_uav123_nan_lines_are_invisible_zero_boxes(uav123, tmp_path):
    root = _copy(uav123, tmp_path)
    _replace_line(root / "anno" / "UAV123" / "bike1.txt", 2, "NaN,NaN,NaN,NaN")
    bike1 = load_uav123(root, SYNTHETIC_UAV123_TABLE)[0]
    assert not bike1.visible[2] and bike1.visible[[0, 1, 3]].all()
    np.testing.assert_array_equal(bike1.boxes[2], [0, 0, 0, 0])


def test_uav123_attributes_are_named_in_uav123s_order(uav123, tmp_path):
    root = _copy(uav123, tmp_path)
    (root / "anno" / "UAV123" / "att" / "bike1.txt").write_text("1,0,0,1,0,0,0,0,0,0,0,1\n")
    (root / "anno" / "UAV123" / "att" / "bird1_2.txt").unlink()
    attributes = uav123_attributes(root, SYNTHETIC_UAV123_TABLE)
    assert attributes["bike1"] == ("Scale Variation", "Fast Motion", "Similar Object")
    assert set(attributes) == {"bike1", "bird1_1"}
    assert set(attributes["bird1_1"]) <= set(UAV123_ATTRIBUTES)


def test_uav123_malformed_attribute_file_is_rejected_naming_it(uav123, tmp_path):
    root = _copy(uav123, tmp_path)
    (root / "anno" / "UAV123" / "att" / "bird1_1.txt").write_text("1,0,1\n")
    with pytest.raises(ValueError, match=r"att/bird1_1.txt must hold 12 flags"):
        uav123_attributes(root, SYNTHETIC_UAV123_TABLE)


def test_uav123_annotation_longer_than_the_range_is_rejected_naming_it(uav123, tmp_path):
    root = _copy(uav123, tmp_path)
    anno = root / "anno" / "UAV123" / "bird1_1.txt"
    anno.write_text(anno.read_text() + "1,2,3,4\n")
    with pytest.raises(ValueError, match=r"bird1_1.txt has 9 lines but UAV123 sequence bird1_1 has 8 frames"):
        load_uav123(root, SYNTHETIC_UAV123_TABLE)


def test_uav123_folder_with_fewer_frames_than_the_annotation_is_rejected(uav123, tmp_path):
    root = _copy(uav123, tmp_path)
    (root / "data_seq" / "UAV123" / "bird1" / "000020.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"bird1/000020.jpg is missing: .*bird1_2.txt has a line per frame "
                                                r"13..20"):
        load_uav123(root, SYNTHETIC_UAV123_TABLE)


def test_uav123_malformed_line_is_rejected_naming_the_file_and_line(uav123, tmp_path):
    root = _copy(uav123, tmp_path)
    _replace_line(root / "anno" / "UAV123" / "bike1.txt", 4, "1,2,x,4")
    with pytest.raises(ValueError, match=r"bike1.txt line 5: values must be numbers"):
        load_uav123(root, SYNTHETIC_UAV123_TABLE)


def test_uav123_missing_annotation_is_rejected_naming_it(uav123, tmp_path):
    root = _copy(uav123, tmp_path)
    (root / "anno" / "UAV123" / "bird1_2.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"anno/UAV123/bird1_2.txt is missing"):
        load_uav123(root, SYNTHETIC_UAV123_TABLE)


# ---------------------------------------------------------------------------------------------------------------
# OTB100


def test_otb100_reads_the_tables_sequences_sorted_by_name(otb100):
    sequences = load_otb100(otb100, SYNTHETIC_OTB100_TABLE)
    assert [s.name for s in sequences] == ["Board", "David", "Jogging_1", "Jogging_2", "KiteSurf", "Tiger1"]
    assert {len(s) for s in sequences} == {8}
    for seq in sequences:
        assert read_image(seq.frame_path(0)).shape == (48, 64, 3)


def test_otb100_frame_numbers_follow_the_table(otb100):
    seqs = {s.name: s for s in load_otb100(otb100, SYNTHETIC_OTB100_TABLE)}
    assert seqs["David"].frame_path(0) == otb100 / "David" / "img" / "0005.jpg"
    assert seqs["Board"].frame_path(0) == otb100 / "Board" / "img" / "00001.jpg"
    assert seqs["KiteSurf"].frame_path(0) == otb100 / "KiteSurf" / "img" / "0001.png"


def test_otb100_skipped_first_frames_drop_their_annotation_lines(otb100):
    tiger1 = {s.name: s for s in load_otb100(otb100, SYNTHETIC_OTB100_TABLE)}["Tiger1"]
    assert tiger1.frame_path(0) == otb100 / "Tiger1" / "img" / "0006.jpg"
    sixth = (otb100 / "Tiger1" / "groundtruth_rect.txt").read_text().splitlines()[5]
    np.testing.assert_array_equal(tiger1.boxes[0], _box(sixth))


def test_otb100_targets_sharing_a_folder_read_their_own_annotation(otb100, tmp_path):
    root = _copy(otb100, tmp_path)
    _replace_line(root / "Jogging" / "groundtruth_rect.2.txt", 0, "1,2,3,4")
    seqs = {s.name: s for s in load_otb100(root, SYNTHETIC_OTB100_TABLE)}
    assert seqs["Jogging_1"].frames_dir == seqs["Jogging_2"].frames_dir == root / "Jogging" / "img"
    np.testing.assert_array_equal(seqs["Jogging_2"].boxes[0], [1, 2, 3, 4])
    first = (root / "Jogging" / "groundtruth_rect.1.txt").read_text().splitlines()[0]
    np.testing.assert_array_equal(seqs["Jogging_1"].boxes[0], _box(first))


def test_otb100_frames_with_the_other_extension_are_found(otb100, tmp_path):
    root = _copy(otb100, tmp_path)
    for frame in (root / "KiteSurf" / "img").iterdir():
        frame.rename(frame.with_suffix(".jpg"))
    kitesurf = {s.name: s for s in load_otb100(root, SYNTHETIC_OTB100_TABLE)}["KiteSurf"]
    assert kitesurf.frame_path(0) == root / "KiteSurf" / "img" / "0001.jpg"


def test_otb100_missing_first_frame_is_rejected_naming_it(otb100, tmp_path):
    root = _copy(otb100, tmp_path)
    (root / "David" / "img" / "0005.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"David/img/0005.jpg is missing \(the first frame of sequence David"):
        load_otb100(root, SYNTHETIC_OTB100_TABLE)


# ---------------------------------------------------------------------------------------------------------------
# NFS


def test_nfs_reads_pytrackings_layout(nfs):
    sequences = load_nfs(nfs, SYNTHETIC_NFS_TABLE)
    assert [s.name for s in sequences] == ["Gymnastics", "bee", "book"] and {len(s) for s in sequences} == {8}
    bee = sequences[1]
    assert bee.frame_path(0) == nfs / "sequences" / "bee" / "00001.jpg" and bee.class_name == "insect"
    assert read_image(bee.frame_path(7)).shape == (48, 64, 3)
    first = (nfs / "anno" / "nfs_bee.txt").read_text().splitlines()[0]
    assert "\t" in first
    np.testing.assert_array_equal(bee.boxes[0], _box(first))


@pytest.fixture(scope="module")
def nfs_layouts(tmp_path_factory):
    """The same synthetic NFS sequences in each layout: layout -> root."""
    base = tmp_path_factory.mktemp("nfs")
    return {layout: make_synthetic_nfs(base / layout, size=SIZE, layout=layout) for layout in NFS_LAYOUTS}


def test_nfs_reads_the_official_download_seqtracks_and_pytrackings_layouts_alike(nfs_layouts):
    read = {layout: load_nfs(root, SYNTHETIC_NFS_TABLE) for layout, root in nfs_layouts.items()}
    official = nfs_layouts["official"]
    assert (official / "bee" / "30" / "bee.txt").is_file() and not (official / "anno").exists()
    assert (nfs_layouts["seqtrack"] / "bee" / "30" / "bee_pytracking.txt").is_file()
    for layout in ("official", "seqtrack"):
        bee = read[layout][1]
        assert bee.frame_path(7) == nfs_layouts[layout] / "bee" / "30" / "bee" / "00008.jpg"
        assert read_image(bee.frame_path(7)).shape == (48, 64, 3)
    for layout in ("official", "seqtrack"):
        for sequence, reference in zip(read[layout], read["pytracking"], strict=True):
            assert (sequence.name, sequence.class_name, len(sequence)) == (reference.name, reference.class_name, 8)
            np.testing.assert_array_equal(sequence.boxes, reference.boxes)
            np.testing.assert_array_equal(sequence.visible, reference.visible)


def test_nfs_official_annotation_gives_frame_k_line_8k_minus_7_as_the_got10k_toolkit_does(tmp_path):
    path = tmp_path / "ball.txt"
    lines = [f'1 {10 + i} {20 + i} {30 + 2 * i} {60 + 3 * i} {i + 1} 0 0 {int(i % 8 > 0)} "ball"' for i in range(16)]
    path.write_text("\n".join(lines) + "\n")
    boxes, known = read_nfs_annotation(path, 2)  # 240 fps lines 1 and 9: xmin, ymin, xmax - xmin, ymax - ymin
    np.testing.assert_array_equal(boxes, [[10, 20, 20, 40], [18, 28, 28, 56]])
    assert known.tolist() == [True, True]


def test_nfs_official_annotation_of_one_line_per_frame_is_read_line_by_line(tmp_path):
    path = tmp_path / "ball.txt"
    path.write_text('1 10 20 30 60 1 0 0 0 "ball"\n1 11 21 41 51 2 1 0 0 "ball"\n')
    boxes, _ = read_nfs_annotation(path, 2)
    np.testing.assert_array_equal(boxes, [[10, 20, 20, 40], [11, 21, 30, 30]])


@pytest.mark.parametrize("lines, frames, kept", [(17, 2, 2), (3, 2, 2)])
def test_nfs_official_annotation_ignores_one_line_to_spare_as_the_got10k_toolkit_does(tmp_path, lines, frames, kept):
    path = tmp_path / "ball.txt"
    path.write_text("".join(f'1 1 2 {3 + i} 4 {i + 1} 0 0 0 "ball"\n' for i in range(lines)))
    assert len(read_nfs_annotation(path, frames)[0]) == kept


def test_nfs_official_annotation_too_short_is_rejected_naming_the_counts(tmp_path):
    path = tmp_path / "ball.txt"
    path.write_text("".join(f'1 1 2 3 4 {i + 1} 0 0 0 "ball"\n' for i in range(24)))
    with pytest.raises(ValueError, match=r"ball.txt has 24 lines for the 4 frames of the sequence at 30 fps"):
        read_nfs_annotation(path, 4)


def test_nfs_official_annotation_line_without_numbers_is_rejected_naming_the_file_and_line(nfs_layouts, tmp_path):
    root = _copy(nfs_layouts["official"], tmp_path)
    _replace_line(root / "bee" / "30" / "bee.txt", 2, '1 10 20 x 60 3 0 0 1 "insect"')
    with pytest.raises(ValueError, match=r"bee/30/bee.txt line 3: values must be numbers"):
        load_nfs(root, SYNTHETIC_NFS_TABLE)


def test_nfs_takes_seqtracks_converted_annotation_before_the_official_one(nfs_layouts, tmp_path):
    root = _copy(nfs_layouts["official"], tmp_path)
    (root / "bee" / "30" / "bee_pytracking.txt").write_text("5,6,7,8\n" * 8)
    bee = load_nfs(root, SYNTHETIC_NFS_TABLE)[1]
    np.testing.assert_array_equal(bee.boxes, [[5, 6, 7, 8]] * 8)


# ---------------------------------------------------------------------------------------------------------------
# part of a benchmark


@pytest.mark.parametrize("benchmark, load, table, missing, remove", [
    ("UAV123", load_uav123, SYNTHETIC_UAV123_TABLE, "bike1", ["data_seq/UAV123/bike1"]),
    ("OTB100", load_otb100, SYNTHETIC_OTB100_TABLE, "Board", ["Board"]),
    ("NFS", load_nfs, SYNTHETIC_NFS_TABLE, "book", ["sequences/book", "anno/nfs_book.txt"]),
])
def test_a_table_benchmark_with_part_of_its_sequences_reads_those_present_and_warns(
        request, benchmark, load, table, missing, remove, tmp_path, caplog):
    root = _copy(request.getfixturevalue(benchmark.lower()), tmp_path)
    for path in remove:
        (shutil.rmtree if (root / path).is_dir() else os.remove)(root / path)
    sequences = load(root, table)
    assert sorted(s.name for s in sequences) == sorted(e.name for e in table if e.name != missing)
    assert f"{benchmark} at {root}: 1 of its {len(table)} sequences are missing ({missing})" in caplog.text


def test_an_nfs_folder_of_the_official_download_missing_a_sequence_reads_the_others(nfs_layouts, tmp_path, caplog):
    root = _copy(nfs_layouts["official"], tmp_path)
    shutil.rmtree(root / "Gymnastics")
    assert [s.name for s in load_nfs(root, SYNTHETIC_NFS_TABLE)] == ["bee", "book"]
    assert "1 of its 3 sequences are missing (Gymnastics)" in caplog.text


@pytest.mark.parametrize("load", [load_uav123, load_otb100, load_nfs])
def test_a_table_benchmark_root_holding_none_of_its_sequences_is_rejected(load, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"holds none of the \d+ \w+ sequences of its table"):
        load(tmp_path)


def test_a_present_sequence_without_its_annotation_is_still_rejected_naming_it(nfs, tmp_path):
    root = _copy(nfs, tmp_path)
    (root / "anno" / "nfs_book.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"anno/nfs_book.txt is missing"):
        load_nfs(root, SYNTHETIC_NFS_TABLE)
