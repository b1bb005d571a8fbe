"""The synthetic LaSOT generator and synthetic sources: generated where missing, checked where made, read as they are
where they hold no manifest."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

from seqtrack_accel.config import ConfigError, SourceConfig, SyntheticConfig
from seqtrack_accel.data.image import read_image
from seqtrack_accel.data.sources import load_source, resolve_root
from seqtrack_accel.data.synthetic import MANIFEST_FILE, make_synthetic_lasot


def _tree_bytes(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_tree_has_the_lasot_layout(synthetic_lasot):
    seq = synthetic_lasot / "book" / "book-2"
    frames = sorted(p.name for p in (seq / "img").iterdir())
    assert frames == [f"{i:08d}.jpg" for i in range(1, 26)]
    gt_lines = (seq / "groundtruth.txt").read_text().splitlines()
    assert len(gt_lines) == 25 and all(len(line.split(",")) == 4 for line in gt_lines)
    assert all(v.lstrip("-").isdigit() for line in gt_lines for v in line.split(","))
    for flag_file in ("full_occlusion.txt", "out_of_view.txt"):
        lines = (seq / flag_file).read_text().splitlines()
        assert len(lines) == 1 and len(lines[0].split(",")) == 25 and set(lines[0].split(",")) <= {"0", "1"}
    assert (seq / "nlp.txt").read_text().strip()
    assert sorted(p.name for p in synthetic_lasot.iterdir() if p.is_dir()) == ["book", "coin"]


def test_groundtruth_box_is_where_the_bright_object_was_drawn(synthetic_lasot):
    seq = synthetic_lasot / "coin" / "coin-1"
    x, y, w, h = (int(v) for v in (seq / "groundtruth.txt").read_text().splitlines()[0].split(","))
    image = read_image(seq / "img" / "00000001.jpg").astype(np.float32)
    luma = image @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    rows, cols = np.nonzero(luma > 130)
    assert (cols.min(), rows.min(), cols.max() + 1 - cols.min(), rows.max() + 1 - rows.min()) == (x, y, w, h)


def test_some_frames_are_flagged_occluded_or_out_of_view(synthetic_lasot):
    flags = []
    for seq in sorted(synthetic_lasot.glob("*/*-*")):
        for name in ("full_occlusion.txt", "out_of_view.txt"):
            flags.append(np.array((seq / name).read_text().split(","), dtype=int))
    assert np.concatenate(flags).any()


def test_same_seed_writes_the_same_bytes(tmp_path):
    a = make_synthetic_lasot(tmp_path / "a", ("book",), 1, 14, (48, 32), seed=3)
    b = make_synthetic_lasot(tmp_path / "b", ("book",), 1, 14, (48, 32), seed=3)
    assert _tree_bytes(a) == _tree_bytes(b)


def test_different_seeds_write_different_frames(tmp_path):
    a = make_synthetic_lasot(tmp_path / "a", ("book",), 1, 3, (48, 32), seed=3)
    b = make_synthetic_lasot(tmp_path / "b", ("book",), 1, 3, (48, 32), seed=4)
    assert _tree_bytes(a) != _tree_bytes(b)


def test_existing_output_folder_is_refused(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(FileExistsError, match="out"):
        make_synthetic_lasot(tmp_path / "out", ("book",), 1, 2, (32, 32))


def test_generation_leaves_no_temporary_folder(tmp_path):
    make_synthetic_lasot(tmp_path / "out", ("book",), 1, 2, (32, 32))
    assert os.listdir(tmp_path) == ["out"]


def _source(root, frames=3, **changes) -> SourceConfig:
    return SourceConfig("lasot", root=str(root), split="all", synthetic=SyntheticConfig(
        classes=("coin",), sequences_per_class=1, frames=frames, width=32, height=32), **changes)


def test_a_synthetic_source_is_generated_where_its_root_is_missing(tmp_path):
    root = resolve_root(_source(tmp_path / "gen"), "data.datasets[0]")
    assert root == (tmp_path / "gen").resolve()
    assert len(list((root / "coin" / "coin-1" / "img").iterdir())) == 3


def test_a_tree_made_with_other_generator_settings_is_refused_naming_the_difference_and_the_way_out(tmp_path):
    resolve_root(_source(tmp_path / "gen", frames=3), "data.datasets[0]")
    assert resolve_root(_source(tmp_path / "gen", frames=3), "data.datasets[0]") == (tmp_path / "gen").resolve()
    with pytest.raises(FileExistsError, match=r"frames 3 there, 4 in data.datasets\[0\].synthetic.*delete .*or set "
                                              r"data.datasets\[0\].synthetic=null to read the tree as it is"):
        resolve_root(_source(tmp_path / "gen", frames=4), "data.datasets[0]")


def test_a_folder_without_the_generators_manifest_is_read_as_the_real_dataset_it_is(tmp_path):
    real = make_synthetic_lasot(tmp_path / "mine", ("book",), 1, 4, (32, 32))
    (real / MANIFEST_FILE).unlink()  # as a real LaSOT download: no synthetic.json
    sequences = load_source(_source(real, frames=60), "data.datasets[0]")  # the settings differ: not looked at
    assert [s.name for s in sequences] == ["book-1"] and len(sequences[0]) == 4


def test_a_synthetic_tree_of_a_kind_without_a_generator_is_refused(tmp_path):
    source = dataclasses.replace(_source(tmp_path / "gen"), name="got10k", split="")
    with pytest.raises(ConfigError, match=r"data.datasets\[0\].synthetic.*lasot, custom sources, not 'got10k'"):
        resolve_root(source, "data.datasets[0]")


def test_missing_real_root_error_says_where_it_looked_and_how_to_set_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as info:
        resolve_root(SourceConfig("lasot", root="nowhere/LaSOT"), "data.datasets[0]")
    message = str(info.value)
    assert str(tmp_path.resolve() / "nowhere" / "LaSOT") in message
    assert "data.datasets[0].root=" in message and "LASOT_ROOT" in message


def test_cli_writes_the_requested_tree(tmp_path, capsys):
    from seqtrack_accel.cli.make_synthetic_lasot import main

    assert main(["--out", str(tmp_path / "tree"), "--classes", "cat", "--sequences_per_class", "2", "--frames", "3",
                 "--size", "40x30", "--seed", "1"]) == 0
    assert sorted(p.name for p in (tmp_path / "tree" / "cat").iterdir()) == ["cat-1", "cat-2"]
    assert read_image(tmp_path / "tree" / "cat" / "cat-2" / "img" / "00000003.jpg").shape == (30, 40, 3)
    assert str(tmp_path / "tree") in capsys.readouterr().out


@pytest.mark.parametrize("layout, args, reader", [
    ("got10k", ["--sequences", "2", "--val_sequences", "1"], "load_got10k"),
    ("trackingnet", ["--chunks", "1", "--sequences_per_chunk", "2"], "load_trackingnet"),
    ("coco17", ["--images", "2", "--objects_per_image", "2"], "load_coco"),
    ("custom", ["--classes", "cup", "--sequences_per_class", "2"], "load_custom"),
])
def test_cli_writes_every_layout_its_reader_reads(tmp_path, layout, args, reader):
    import seqtrack_accel.data as data
    from seqtrack_accel.cli.make_synthetic_lasot import main

    assert main(["--layout", layout, "--out", str(tmp_path / "tree"), "--frames", "20", "--size", "64x48", *args]) == 0
    read = getattr(data, reader)
    sequences = read(tmp_path / "tree", split="all") if layout == "custom" else read(tmp_path / "tree")
    assert len(sequences) >= 2


@pytest.mark.parametrize("layout, args, dataset, count", [
    ("got10k", ["--sequences", "1", "--val_sequences", "2", "--test_sequences", "3"], "got10k_test", 3),
    ("trackingnet", ["--chunks", "1", "--sequences_per_chunk", "1", "--test_sequences", "2"], "trackingnet", 2),
    ("tnl2k", ["--sequences", "2"], "tnl2k", 2),
    ("lasot_ext", ["--classes", "atv", "rhino", "--sequences_per_class", "1"], None, 2),
])
def test_cli_writes_every_benchmark_layout_its_reader_reads(tmp_path, layout, args, dataset, count):
    from seqtrack_accel.cli.make_synthetic_lasot import main
    from seqtrack_accel.data.benchmarks import load_lasot_ext
    from seqtrack_accel.tracking.benchmarks import BENCHMARKS

    assert main(["--layout", layout, "--out", str(tmp_path / "tree"), "--frames", "5", "--size", "64x48", *args]) == 0
    root = tmp_path / "tree"
    sequences = BENCHMARKS[dataset].load(root) if dataset else load_lasot_ext(root, classes=("atv", "rhino"))
    assert len(sequences) == count
