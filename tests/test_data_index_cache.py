"""The index cache: a dataset's index is built once, read back memory-mapped, rebuilt when an annotation file
changes or the cache file is damaged, and built by one process when several start at once."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from seqtrack_accel.data import lasot, load_coco, load_lasot, make_synthetic_coco
from seqtrack_accel.data.index_cache import CACHE_VARIABLE, FOLDER, read_index


@pytest.fixture
def tree(synthetic_lasot, tmp_path, monkeypatch):
    """A copy of the synthetic LaSOT tree (the tests change it) with its own cache folder."""
    monkeypatch.setenv(CACHE_VARIABLE, str(tmp_path / "cache"))
    return shutil.copytree(synthetic_lasot, tmp_path / "LaSOT")


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """The names of the sequences the LaSOT reader parses."""
    names = []
    read = lasot._read_sequence

    def counted(seq_dir, name, class_name):
        names.append(name)
        return read(seq_dir, name, class_name)

    monkeypatch.setattr(lasot, "_read_sequence", counted)
    return names


def test_the_index_is_built_once_and_then_read_from_the_cache(tree, reads):
    first = load_lasot(tree, split="all")
    assert len(reads) == 8
    again = load_lasot(tree, split="all")
    assert len(reads) == 8  # nothing parsed the second time
    assert isinstance(again.columns["boxes"], np.memmap)
    assert [s.name for s in again] == [s.name for s in first]
    assert all(np.array_equal(a.boxes, b.boxes) and np.array_equal(a.visible, b.visible) for a, b in zip(first, again))


def test_a_changed_annotation_file_rebuilds_the_index_and_says_so(tree, reads, caplog):
    load_lasot(tree, split="all")
    groundtruth = tree / "coin" / "coin-2" / "groundtruth.txt"
    lines = groundtruth.read_text().splitlines()
    lines[0] = "1,2,30,40"
    groundtruth.write_text("\n".join(lines) + "\n")
    with caplog.at_level(logging.INFO, logger="seqtrack_accel.data.index_cache"):
        index = load_lasot(tree, split="all")
    assert "rebuilding the stale index cache" in caplog.text and "annotation files changed" in caplog.text
    assert len(reads) == 16
    assert index[index.names.index("coin-2")].boxes[0].tolist() == [1, 2, 30, 40]


@pytest.mark.parametrize("damage", ["cut short", "garbage"])
def test_a_damaged_cache_is_rebuilt_with_a_warning(tree, reads, caplog, damage):
    expected = [s.boxes.tolist() for s in load_lasot(tree, split="all")]
    (path,) = (tree.parent / "cache").glob("lasot-*.idx")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "cut short" else b"\0" * len(data))
    with caplog.at_level(logging.WARNING, logger="seqtrack_accel.data.index_cache"):
        index = load_lasot(tree, split="all")
    assert f"the index cache {path} is damaged" in caplog.text
    assert [s.boxes.tolist() for s in index] == expected and len(reads) == 16


def test_the_cache_sits_beside_the_data_by_default(tree, monkeypatch):
    monkeypatch.delenv(CACHE_VARIABLE)
    load_lasot(tree, split="all")
    assert len(list((tree / FOLDER).glob("lasot-*.idx"))) == 1
    assert [s.name for s in load_lasot(tree, split="all")][:2] == ["book-1", "book-2"]  # the folder is no class


def test_coco_is_parsed_once_for_every_selection_of_classes(tmp_path, monkeypatch):
    from seqtrack_accel.data import coco

    monkeypatch.setenv(CACHE_VARIABLE, str(tmp_path / "cache"))
    root = make_synthetic_coco(tmp_path / "coco", classes=("cat", "dog"), images=4, objects_per_image=2, seed=0)
    parsed = []
    parse = coco._read_annotations
    monkeypatch.setattr(coco, "_read_annotations", lambda path: parsed.append(path) or parse(path))
    everything = load_coco(root)
    cats = load_coco(root, classes=["cat"])
    assert len(parsed) == 1
    assert {s.class_name for s in cats} == {"cat"} and 0 < len(cats) < len(everything)


CHILD = textwrap.dedent("""
    import sys, time
    from seqtrack_accel.data import lasot
    read = lasot._read
    def slow(*args, **kwargs):  # hold the lock long enough for the other process to wait on it
        print("built", flush=True)
        time.sleep(1.0)
        return read(*args, **kwargs)
    lasot._read = slow
    index = lasot.load_lasot(sys.argv[1], split="all")
    print(len(index), float(index.columns["boxes"].sum()))
""")


def test_processes_started_at_once_build_the_index_once_and_share_one_cache(tree):
    env_cache = tree.parent / "cache"
    children = [subprocess.Popen([sys.executable, "-c", CHILD, str(tree)], stdout=subprocess.PIPE, text=True,
                                 env={**os.environ, CACHE_VARIABLE: str(env_cache)}) for _ in range(2)]
    outputs = [child.communicate(timeout=120)[0].split("\n") for child in children]
    assert all(child.returncode == 0 for child in children)
    assert sum(line == "built" for out in outputs for line in out) == 1
    assert len({[line for line in out if line and line != "built"][0] for out in outputs}) == 1
    assert len(list(env_cache.glob("*.idx"))) == 1 and not list(env_cache.glob("*.tmp"))


def test_the_cache_file_names_what_it_was_built_from(tree):
    load_lasot(tree, classes=["coin"], split="train")
    (path,) = (tree.parent / "cache").glob("lasot-*.idx")
    header, _ = read_index(path)
    assert header["key"]["root"] == str(tree.resolve()) and header["key"]["arguments"]["classes"] == ["coin"]
