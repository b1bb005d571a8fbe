"""The reader of a folder of your own sequences ("custom"): one folder of frames and a groundtruth.txt per sequence.

Layout::

    root/<sequence>/groundtruth.txt          one "x,y,w,h" line per frame (pixels, top-left origin; commas, tabs
                                             or spaces); an empty line or 0,0,0,0 for a frame without the target
    root/<sequence>/1.jpg 2.jpg ... 10.jpg   the frames (.jpg, .jpeg, .png), in natural name order (2 before 10),
                                             directly in the sequence folder or in its img/ subfolder
    root/<sequence>/absence.label            optional: one 0/1 line per frame, 1 where the target is absent
    root/<class>/<sequence>/...              sequences may be grouped in class folders

    sequences = load_custom("/data/my_objects", split="train", test_ratio=0.2)

A folder holding a ``groundtruth.txt`` is a sequence, any other folder under ``root`` a class folder of sequences;
names starting with "." are ignored. A sequence's class is its class folder's name, ``""`` for a sequence directly
under ``root``. Sequence folder names must be unique across classes: they name the result files of tracking.

Split: the test sequences are those named in ``split_file`` (one name per line), or else, in each class (the
sequences directly under ``root`` form one group), the ``ceil(test_ratio * n)`` sequences with the smallest CRC-32 of
their name, leaving at least one for training: the same on every machine and for any order of the folders, and
unlike the last ones by name, not all of one recording session when names follow the sessions.
"""

from __future__ import annotations

import logging
import math
import os
import re
import zlib
from pathlib import Path

import numpy as np

from ..files import read_text
from .annotations import ABSENT, parse_rows
from .lasot import SPLITS
from .sequence import Sequence

logger = logging.getLogger(__name__)

GROUNDTRUTH = "groundtruth.txt"
ABSENCE = "absence.label"
FRAMES_SUBDIR = "img"
FRAME_EXTENSIONS = (".jpg", ".jpeg", ".png")
_DIGITS = re.compile(r"([0-9]+)")


def natural_key(name: str) -> tuple[list, str]:
    """Sort key putting ``2.jpg`` before ``10.jpg``: digit runs compare as numbers (ties: the plain name)."""
    return [int(part) if i % 2 else part for i, part in enumerate(_DIGITS.split(name))], name


def load_custom(
    root: str | os.PathLike,
    *,
    split: str = "train",
    classes: tuple[str, ...] | list[str] | None = None,
    split_file: str | os.PathLike = "",
    test_ratio: float = 0.2,
) -> list[Sequence]:
    """Read the sequences of ``classes`` (None: all, and the sequences directly under root) in ``split``.

    Args:
        root: the folder holding the sequence folders (or class folders of sequence folders).
        split: ``"train"``, ``"test"`` or ``"all"``.
        classes: class folder names to keep; each must exist and have sequences in ``split``.
        split_file: a text file naming the test sequences, one folder name per line (blank lines ignored); when
            given, ``test_ratio`` is not used.
        test_ratio: the share of each class's sequences in the test split when there is no ``split_file``.
    Returns:
        Sequences sorted by class, then by name in natural order; ``frame_files`` lists the frames.
    Raises:
        FileNotFoundError: root, a groundtruth.txt or the split file is missing.
        ValueError: a file is malformed or does not match the frames (the message names the file and line), a
            folder holds no frames, two sequences share a name, a class is unknown or has no sequence in ``split``.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if not 0.0 <= test_ratio < 1.0:
        raise ValueError(f"test_ratio must be in [0, 1), got {test_ratio}")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"custom dataset root {root.resolve()} does not exist or is not a folder")
    if (root / GROUNDTRUTH).is_file():
        raise ValueError(f"{root} is itself a sequence folder (it holds {GROUNDTRUTH}); point the root at the folder "
                         "above it, which holds one folder per sequence")
    found = _find_sequences(root)  # class -> {name: folder}
    found_classes = [c for c in found if c]
    if classes is None:
        wanted = list(found)
    else:
        missing = [c for c in classes if c not in found_classes]
        if missing:
            raise ValueError(f"class(es) {', '.join(missing)} not found under {root}; class folders found: "
                             f"{', '.join(found_classes) or '(none: the sequences are directly under the root)'}")
        wanted = list(dict.fromkeys(classes))

    if split == "all":
        tests: set[str] = set()
    elif split_file:
        tests = _read_split_file(Path(split_file), {n for names in found.values() for n in names}, root)
    else:
        tests = {n for names in found.values() for n in _ratio_test_names(list(names), test_ratio)}

    sequences: list[Sequence] = []
    for class_name in wanted:
        names = [n for n in found[class_name] if split == "all" or (n in tests) == (split == "test")]
        if not names:
            rule = f"the split file {split_file}" if split_file else f"test_ratio {test_ratio}"
            _no_sequences(root, class_name, split, rule, requested=classes is not None)
            continue
        class_sequences = [_read_sequence(found[class_name][n], n, class_name) for n in names]
        logger.info("custom %s: %s contributes %d sequences, %d frames", split,
                    f"class {class_name}" if class_name else "the root", len(class_sequences),
                    sum(len(s) for s in class_sequences))
        sequences.extend(class_sequences)
    if not sequences:
        raise ValueError(f"no sequence of {root} is in split {split!r}; the warnings above say why")
    return sequences


def _find_sequences(root: Path) -> dict[str, dict[str, Path]]:
    """Class ("" for the root) -> sequence name -> folder, both in natural order; sequence names unique."""
    found: dict[str, dict[str, Path]] = {}
    where: dict[str, Path] = {}
    for folder in _subfolders(root):
        if (folder / GROUNDTRUTH).is_file():
            class_name, seq_dirs = "", [folder]
        else:
            _check_class_folder(folder)
            class_name, seq_dirs = folder.name, _subfolders(folder)
        for seq_dir in seq_dirs:
            if seq_dir.name in where:
                raise ValueError(f"two sequences are named {seq_dir.name!r}: {where[seq_dir.name]} and {seq_dir}; "
                                 "sequence folder names must be unique (they name the tracking results): rename one")
            where[seq_dir.name] = seq_dir
            found.setdefault(class_name, {})[seq_dir.name] = seq_dir
    if not found:
        raise ValueError(f"{root} holds no sequence folder; each sequence is a folder with its frames and a "
                         f"{GROUNDTRUTH} (see the README's custom dataset section)")
    return dict(sorted(found.items(), key=lambda item: natural_key(item[0])))


def _check_class_folder(folder: Path) -> None:
    """A folder without a groundtruth.txt must be a class folder: only sequence folders, at least one."""
    subfolders = _subfolders(folder)
    if _frame_names(folder) or (folder / FRAMES_SUBDIR).is_dir():
        raise FileNotFoundError(f"{folder / GROUNDTRUTH} is missing; every sequence folder needs one, with one "
                                "x,y,w,h line per frame")
    if not subfolders:
        raise ValueError(f"{folder} holds neither a {GROUNDTRUTH} nor sequence folders; a folder under the root is a "
                         "sequence (frames and a groundtruth.txt) or a class folder of sequences: complete it or move "
                         "it out of the root")
    for seq_dir in subfolders:
        if not (seq_dir / GROUNDTRUTH).is_file():
            raise FileNotFoundError(f"{seq_dir / GROUNDTRUTH} is missing; {folder} is a class folder (it has no "
                                    f"{GROUNDTRUTH}), so each folder in it is a sequence and needs one x,y,w,h line "
                                    "per frame")


def _subfolders(folder: Path) -> list[Path]:
    entries = [e for e in os.scandir(folder) if e.is_dir() and not e.name.startswith(".")]
    return [folder / e.name for e in sorted(entries, key=lambda e: natural_key(e.name))]


def _frame_names(folder: Path) -> list[str]:
    """Frame files of ``folder`` in natural order (one listing, no stat per file)."""
    names = [e.name for e in os.scandir(folder)
             if e.name.lower().endswith(FRAME_EXTENSIONS) and not e.name.startswith(".") and e.is_file()]
    return sorted(names, key=natural_key)


def _ratio_test_names(names: list[str], test_ratio: float) -> list[str]:
    """The ``ceil(test_ratio * n)`` names with the smallest CRC-32, at most n - 1 (a class keeps a training one)."""
    count = min(math.ceil(round(test_ratio * len(names), 9)), len(names) - 1)
    return sorted(names, key=lambda n: (zlib.crc32(n.encode()), n))[:count]


def _read_split_file(path: Path, known: set[str], root: Path) -> set[str]:
    if not path.is_file():
        raise FileNotFoundError(f"split file {path} does not exist; it must list the test sequences of {root}, one "
                                "folder name per line")
    names = set()
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        name = line.strip()
        if name and name not in known:
            raise ValueError(f"{path} line {number}: no sequence folder named {name!r} under {root}; list the test "
                             "sequences by folder name, one per line")
        if name:
            names.add(name)
    if not names:
        raise ValueError(f"split file {path} lists no sequence; it should hold one test sequence name per line")
    return names


def _no_sequences(root: Path, class_name: str, split: str, rule: str, requested: bool) -> None:
    """A class without sequences in ``split``: an error when it was asked for, else a warning."""
    what = f"class {class_name!r}" if class_name else "the sequences directly under the root"
    message = f"{what} of {root} has no sequence in split {split!r} by {rule}"
    if requested:
        raise ValueError(f"{message}; use split all, list some of its sequences in a split file, or leave the class "
                         "out")
    logger.warning("%s; it is left out", message)


def _read_sequence(seq_dir: Path, name: str, class_name: str) -> Sequence:
    frames_dir = seq_dir / FRAMES_SUBDIR if (seq_dir / FRAMES_SUBDIR).is_dir() else seq_dir
    frames = _frame_names(frames_dir)
    if frames_dir != seq_dir and _frame_names(seq_dir):
        raise ValueError(f"{seq_dir} holds frames both in itself and in {FRAMES_SUBDIR}/; keep them in one place")
    if not frames:
        raise ValueError(f"{frames_dir} holds no frames ({', '.join(FRAME_EXTENSIONS)} files); put the sequence's "
                         f"frames there or in an {FRAMES_SUBDIR}/ subfolder")
    boxes, empty = _read_groundtruth(seq_dir / GROUNDTRUTH, len(frames), frames_dir)
    visible = (boxes[:, 2] > 0) & (boxes[:, 3] > 0) & ~empty
    if (seq_dir / ABSENCE).is_file():
        visible &= ~_read_absence(seq_dir / ABSENCE, len(frames))
    boxes.setflags(write=False)
    visible.setflags(write=False)
    return Sequence(name=name, class_name=class_name, frames_dir=frames_dir, boxes=boxes, visible=visible,
                    frame_files=tuple(frames))


def _lines(path: Path, n: int) -> list[str]:
    """The lines of ``path``; blank lines after the n-th are a trailing newline, not frames."""
    lines = read_text(path).splitlines()
    while len(lines) > n and not lines[-1].strip():
        lines.pop()
    return lines


def _read_groundtruth(path: Path, n: int, frames_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """float32 (n, 4) boxes (0 where a line is empty) and bool (n,): the line is empty."""
    lines = _lines(path, n)
    if len(lines) != n:
        where = f"line {len(lines) + 1} onwards missing" if len(lines) < n else f"lines {n + 1}-{len(lines)} extra"
        raise ValueError(f"{path} has {len(lines)} lines but {frames_dir} holds {n} frames ({where}); it needs one "
                         "x,y,w,h line per frame, an empty line or 0,0,0,0 where the target is absent")
    rows = parse_rows(path, lines, blank=ABSENT, names="x,y,w,h, or an empty line")
    negative = np.flatnonzero((rows.values[:, 2:] < 0).any(axis=1))
    if negative.size:
        number = int(rows.lines[negative[0]])
        raise ValueError(f"{path} line {number}: negative width or height in {lines[number - 1]!r}; a box is x,y,w,h "
                         "with the top-left corner first")
    boxes = np.where(rows.present[:, None], rows.values, 0.0).astype(np.float32)
    return boxes, ~rows.present


def _read_absence(path: Path, n: int) -> np.ndarray:
    """bool (n,) from one 0/1 line per frame."""
    lines = _lines(path, n)
    if len(lines) != n:
        raise ValueError(f"{path} has {len(lines)} lines for {n} frames; it needs one 0/1 line per frame")
    values = [line.strip() for line in lines]
    bad = next((i for i, v in enumerate(values) if v not in ("0", "1")), None)
    if bad is not None:
        raise ValueError(f"{path} line {bad + 1}: expected 0 or 1, got {lines[bad]!r}")
    return np.array(values) == "1"
