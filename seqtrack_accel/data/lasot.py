"""The LaSOT reader: sequences with their boxes and visibility, the protocol split, loud checks of every file.

Layout, as LaSOT is distributed::

    root/<class>/<class>-<idx>/img/00000001.jpg ...   1-based, 8 digits
    root/<class>/<class>-<idx>/groundtruth.txt         one "x,y,w,h" line per frame (pixels, top-left origin)
    root/<class>/<class>-<idx>/full_occlusion.txt      one comma-separated line of 0/1, one value per frame
    root/<class>/<class>-<idx>/out_of_view.txt         same
    root/<class>/<class>-<idx>/nlp.txt                 unused

    sequences = load_lasot("/data/LaSOT", classes=("book", "coin"), split="train")
"""

from __future__ import annotations

import functools
import importlib.resources
import logging
import os
import re
from pathlib import Path

import numpy as np

from ..files import read_text
from .annotations import read_boxes, split_values
from .index import SequenceIndex
from .index_cache import cached_index
from .sequence import Sequence, check_frames

logger = logging.getLogger(__name__)

SPLITS = ("train", "test", "all")
ANNOTATION_FILES = ("groundtruth.txt", "full_occlusion.txt", "out_of_view.txt")
READER_VERSION = 1  # of what load_lasot returns for the same files (the index cache's key)  # the protocol split's two parts, or every sequence (custom folders: the same)


def protocol_test_sequences() -> dict[str, frozenset[str]]:
    """LaSOT's protocol split (Protocol II of the LaSOT paper): the 4 test sequences of each of the 70 classes, as
    LaSOT's ``testing_set.txt`` lists them (shipped as ``splits/lasot_testing_set.txt``; read when first asked for).
    The other 16 sequences of each class (1,120 in all) are the training split."""
    return _protocol_test_sequences()


@functools.lru_cache(maxsize=1)
def _protocol_test_sequences() -> dict[str, frozenset[str]]:
    text = (importlib.resources.files("seqtrack_accel.data") / "splits" / "lasot_testing_set.txt").read_text()
    by_class: dict[str, set[str]] = {}
    for name in text.split():
        by_class.setdefault(name.rsplit("-", 1)[0], set()).add(name)
    return {class_name: frozenset(names) for class_name, names in by_class.items()}


def read_split_file(path: str | os.PathLike) -> frozenset[str]:
    """Sequence names listed in LaSOT's ``testing_set.txt`` (one per line; blank lines ignored)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"split file {path} does not exist; data.split_file must point at LaSOT's "
                                "testing_set.txt (one test sequence name per line)")
    names = frozenset(line.strip() for line in read_text(path).splitlines() if line.strip())
    if not names:
        raise ValueError(f"split file {path} lists no sequences; it should hold one test sequence name per line")
    return names


def load_lasot(
    root: str | os.PathLike,
    classes: tuple[str, ...] | list[str] | None = None,
    split: str = "train",
    split_file: str | os.PathLike = "",
) -> SequenceIndex:
    """Read every sequence of ``classes`` (None: all classes found) in ``split`` under ``root``.

    Args:
        root: the LaSOT root folder (the one holding one folder per class).
        classes: class names to keep; every one must exist under ``root`` and have sequences in ``split``.
            (With None, a class folder without sequences in ``split`` is a warning.)
        split: ``"train"`` / ``"test"`` (the protocol split) or ``"all"``.
        split_file: a ``testing_set.txt``-like list of test sequences; needed for train / test of classes that
            are not LaSOT's. When given, it decides the split of every class.
    Returns:
        Sequences sorted by class, then by sequence number, as an index (``index.SequenceIndex``), cached
        (``index_cache``): the files are read once, and again only when an annotation file changes.
    Raises:
        FileNotFoundError: root, a sequence file or a frame is missing.
        ValueError: a file is malformed (the message names the file and line), a class is unknown, a class of
            ``classes`` has no sequence in ``split``, or the split of a class is not known.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"LaSOT root {root.resolve()} does not exist or is not a folder")
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if classes is None:
        wanted = found
    else:
        missing = [c for c in classes if c not in found]
        if missing:
            raise ValueError(
                f"class(es) {', '.join(missing)} not found under {root}; classes found: "
                f"{', '.join(found) if found else '(none)'}"
            )
        wanted = list(dict.fromkeys(classes))
    test_names = read_split_file(split_file) if split_file and split != "all" else None

    def inputs() -> list[Path]:
        files = [Path(split_file)] if test_names is not None else []
        for class_name in wanted:
            for name in _sequence_names(root / class_name, class_name, quiet=True):
                files.extend(root / class_name / name / f for f in ANNOTATION_FILES)
        return files

    arguments = {"classes": wanted, "requested": classes is not None, "split": split,
                 "split_file": str(Path(split_file).resolve()) if split_file else ""}
    index = cached_index("lasot", READER_VERSION, root, arguments, inputs=inputs,
                         build=lambda: _read(root, wanted, split, test_names, requested=classes is not None))
    class_ids = index.columns["class_ids"]
    for i, class_name in enumerate(index.classes):
        logger.info("LaSOT %s: class %s contributes %d sequences, %d frames", split, class_name,
                    int((class_ids == i).sum()), int(index.lengths[class_ids == i].sum()))
    return index


def _read(root: Path, wanted: list[str], split: str, test_names: frozenset[str] | None,
          requested: bool) -> list[Sequence]:
    sequences: list[Sequence] = []
    for class_name in wanted:
        names = all_names = _sequence_names(root / class_name, class_name)
        if split != "all":
            if test_names is not None:
                tests = test_names
            elif class_name in protocol_test_sequences():
                tests = protocol_test_sequences()[class_name]
            else:
                raise ValueError(
                    f"class {class_name!r} is not one of LaSOT's 70 classes, so its {split} split is not known; "
                    "give the source a split_file (data.datasets[i].split_file=/path/to/testing_set.txt: one test "
                    "sequence name per line), or use split all"
                )
            names = [n for n in names if (n in tests) == (split == "test")]
        if not names:
            _no_sequences(root, class_name, split, all_names, requested=requested)
        sequences.extend(_read_sequence(root / class_name / n, n, class_name) for n in names)
    return sequences


def _no_sequences(root: Path, class_name: str, split: str, all_names: list[str], requested: bool) -> None:
    """A class with no sequence in ``split``: an error when it was asked for, else a warning."""
    if all_names:
        other = "test" if split == "train" else "train"
        why = f"its {len(all_names)} sequences are all in the {other} split"
        fix = f"choose a split that holds some (split all, or a split_file that puts some in {split})"
    else:
        why = f"{root / class_name} holds no sequence folder named {class_name}-<number>"
        fix = "extract the class's sequences there"
    message = f"class {class_name!r} has no sequence in split {split!r} under {root}: {why}"
    if requested:
        raise ValueError(f"{message}; {fix}, or leave the class out (the source's classes; --classes when "
                         "evaluating)")
    logger.warning("%s; it is left out", message)


def _sequence_names(class_dir: Path, class_name: str, quiet: bool = False) -> list[str]:
    pattern = re.compile(rf"{re.escape(class_name)}-(\d+)")
    numbered = []
    for entry in os.scandir(class_dir):
        match = pattern.fullmatch(entry.name)
        if match and entry.is_dir():
            numbered.append((int(match.group(1)), entry.name))
        elif not entry.name.startswith(".") and not quiet:
            logger.warning("ignoring %s: not a sequence folder named %s-<number>", entry.path, class_name)
    return [name for _, name in sorted(numbered)]


def _read_sequence(seq_dir: Path, name: str, class_name: str) -> Sequence:
    boxes, _ = read_boxes(seq_dir / "groundtruth.txt", "LaSOT sequence")
    n = boxes.shape[0]
    frames_dir = seq_dir / "img"
    if not frames_dir.is_dir():
        raise FileNotFoundError(f"{frames_dir} is missing; it must hold the sequence's frames 00000001.jpg ...")
    check_frames(frames_dir, seq_dir / "groundtruth.txt", n)  # before the flags: a short groundtruth is named so
    occluded = _read_flags(seq_dir / "full_occlusion.txt", n)
    out_of_view = _read_flags(seq_dir / "out_of_view.txt", n)
    visible = (boxes[:, 2] > 0) & (boxes[:, 3] > 0) & ~occluded & ~out_of_view
    boxes.setflags(write=False)
    visible.setflags(write=False)
    return Sequence(name=name, class_name=class_name, frames_dir=frames_dir, boxes=boxes, visible=visible)


def _read_flags(path: Path, n: int) -> np.ndarray:
    """bool (n,) from a one-line comma-separated 0/1 file."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; it needs one comma-separated line of 0/1, one per frame")
    fields = split_values(read_text(path))
    if len(fields) != n:
        raise ValueError(f"{path} holds {len(fields)} values but groundtruth.txt has {n} lines; "
                         "they must match one to one")
    if not all(f in ("0", "1") for f in fields):
        index = next(i for i, f in enumerate(fields) if f not in ("0", "1"))
        raise ValueError(f"{path} line 1, value {index + 1}: expected 0 or 1, got {fields[index]!r}")
    return np.array(fields) == "1"
