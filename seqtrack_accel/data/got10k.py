"""The GOT-10k reader: the train set's sequences with boxes and visibility, the original's splits, loud checks.

Layout, as GOT-10k is distributed (``root`` may also be the ``train`` folder itself, as the original expects)::

    root/train/list.txt                                  one sequence folder name per line
    root/train/GOT-10k_Train_000001/00000001.jpg ...     1-based, 8 digits
    root/train/GOT-10k_Train_000001/groundtruth.txt      one "x,y,w,h" line per frame (pixels, top-left origin)
    root/train/GOT-10k_Train_000001/absence.label        one 0/1 line per frame: 1 = the target is not in the frame
    root/train/GOT-10k_Train_000001/cover.label          one 0..8 line per frame: the visible fraction in eighths
    root/train/GOT-10k_Train_000001/meta_info.ini        "object_class: ..." names the class

    sequences = load_got10k("/data/GOT-10k", split="vottrain")

Splits: ``train_full`` is every sequence of ``list.txt`` (9,335 in the real train set); ``vottrain`` (7,086) and
``votval`` (1,249) are the original's lists of the sequences VOT allows to train on, shipped in ``splits/``
byte for byte from microsoft/VideoX ``SeqTrack/lib/train/data_specs/got10k_vot_{train,val}_split.txt`` (commit
cbfe81548cbdee1ec4e0f8e1db611bc905010ea6, the same as pytracking's ``ltr/data_specs``). Each line is a 0-based index
into ``list.txt`` (GOT-10k_Train_000001 is 0), which is how the original reads them and how they are read here.
Note: read that way, 890 of the 1,000 sequences of the original's ``got10k_vot_exclude.txt`` are in one of the two
lists; read as 1-based sequence numbers they would exclude exactly those 1,000. The original's reading is kept.

Checks per sequence: the folder, the three label files (parsed, one line per frame), and the frames by 3 stats
(the first and the last frame named by ``groundtruth.txt`` exist, the one after does not), not by a listing.
``meta_info.ini`` is optional: without it, or without an ``object_class`` line, the class is ``""``.
"""

from __future__ import annotations

import functools
import logging
import os
from importlib import resources
from pathlib import Path

import numpy as np

from .sequence import Sequence, read_box_lines

logger = logging.getLogger(__name__)

SPLITS = ("train_full", "vottrain", "votval", "val")  # val: GOT-10k's own validation set, the val/ folder
TRAIN_SEQUENCES = 9335  # sequences in the real train set's list.txt
_SPLIT_FILES = {"vottrain": "got10k_vot_train_split.txt", "votval": "got10k_vot_val_split.txt"}


@functools.cache
def split_indices(split: str) -> tuple[int, ...]:
    """The 0-based ``list.txt`` indices of ``split`` (``vottrain`` or ``votval``), in the file's order."""
    if split not in _SPLIT_FILES:
        raise ValueError(f"GOT-10k split {split!r} has no index list; lists exist for {', '.join(_SPLIT_FILES)}")
    text = resources.files(__package__).joinpath("splits", _SPLIT_FILES[split]).read_text()
    return tuple(int(line) for line in text.split())


def load_got10k(root: str | os.PathLike, *, split: str = "train_full") -> list[Sequence]:
    """Read the sequences of ``split`` of the GOT-10k train set under ``root``.

    Args:
        root: the GOT-10k folder holding ``train/`` (and ``val/``), or that ``train`` folder itself.
        split: ``train_full``, ``vottrain`` or ``votval`` of the train set (see the module docstring), or ``val``,
            GOT-10k's validation set (180 sequences, none of them in the train set).
    Returns:
        Sequences sorted by name; ``class_name`` from ``meta_info.ini``; frames ``00000001.jpg`` ... in the sequence
        folder; visible = ``w > 0 and h > 0``, ``absence.label`` 0 and ``cover.label`` > 0 (the original's rule).
    Raises:
        FileNotFoundError: root, ``list.txt``, a listed sequence folder, a label file or a frame is missing.
        ValueError: an unknown split, or a malformed file (the message names the file and line).
    """
    if split not in SPLITS:
        raise ValueError(f"GOT-10k split must be one of {', '.join(SPLITS)}, got {split!r}")
    train_dir = _train_dir(Path(root)) if split != "val" else _val_dir(Path(root))
    list_file = train_dir / "list.txt"
    entries = _read_list(list_file)
    if split in _SPLIT_FILES:
        entries = _select(entries, split, list_file)
    sequences = [_read_sequence(train_dir / name, name, list_file, line) for line, name in entries]
    sequences.sort(key=lambda s: s.name)
    logger.info("GOT-10k %s: %d sequences, %d frames", split, len(sequences), sum(len(s) for s in sequences))
    return sequences


def _train_dir(root: Path) -> Path:
    """``root/train`` when it holds list.txt, else ``root`` when it does (the original points at ``train``)."""
    if not root.is_dir():
        raise FileNotFoundError(f"GOT-10k root {root.resolve()} does not exist or is not a folder")
    for candidate in (root / "train", root):
        if (candidate / "list.txt").is_file():
            return candidate
    raise FileNotFoundError(
        f"neither {root / 'train' / 'list.txt'} nor {root / 'list.txt'} exists; point the GOT-10k root at the folder "
        "holding train/ (or at train/ itself), extracted with its list.txt of sequence folder names")


def _val_dir(root: Path) -> Path:
    """GOT-10k's validation set: ``root/val``, or ``val`` beside the train folder when ``root`` is ``train``."""
    for candidate in (root / "val", root.parent / "val" if root.name == "train" else root / "val"):
        if (candidate / "list.txt").is_file():
            return candidate
    raise FileNotFoundError(f"{root / 'val' / 'list.txt'} does not exist; split val reads GOT-10k's validation set: "
                            "extract val/ (with its list.txt) next to train/")


def _read_list(path: Path) -> list[tuple[int, str]]:
    """(1-based line number, folder name) of each line of ``list.txt``."""
    lines = path.read_text().splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    names = []
    for number, line in enumerate(lines, start=1):
        name = line.strip()
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"{path} line {number}: expected a sequence folder name, got {line!r}; one name per line "
                             "(the split lists index this file's lines, so it must not skip any)")
        names.append((number, name))
    if not names:
        raise ValueError(f"{path} is empty; it should list the train set's sequence folders, one per line")
    return names


def _select(names: list[tuple[int, str]], split: str, list_file: Path) -> list[tuple[int, str]]:
    """The entries of ``names`` (list.txt's lines) whose 0-based index is in ``split``'s list."""
    indices = split_indices(split)
    kept = [names[i] for i in indices if i < len(names)]
    if len(kept) < len(indices):
        if not kept:
            raise ValueError(f"{list_file} lists {len(names)} sequences, and none of them is in split {split!r}, whose "
                             f"indices run to {max(indices)} (the real train set lists {TRAIN_SEQUENCES}); use split "
                             "train_full, or a complete train set")
        logger.warning("%s lists %d sequences, not the %d of the real train set: split %s keeps the %d of its %d "
                       "sequences among them", list_file, len(names), TRAIN_SEQUENCES, split, len(kept), len(indices))
    return kept


def _read_sequence(seq_dir: Path, name: str, list_file: Path, line: int) -> Sequence:
    if not seq_dir.is_dir():
        raise FileNotFoundError(f"{seq_dir} is missing ({list_file} line {line} lists it); extract the sequence, or "
                                "take it out of list.txt and use split train_full")
    groundtruth = seq_dir / "groundtruth.txt"
    boxes = read_box_lines(groundtruth, "GOT-10k sequence")
    n = boxes.shape[0]
    _check_frames(seq_dir, n)  # before the labels, so a short groundtruth is reported as such
    absent = _read_labels(seq_dir / "absence.label", n, 1, "0 or 1 (1: the target is absent)")
    cover = _read_labels(seq_dir / "cover.label", n, 8, "integer 0..8 (visible eighths)")
    visible = (boxes[:, 2] > 0) & (boxes[:, 3] > 0) & (absent == 0) & (cover > 0)
    boxes.setflags(write=False)
    visible.setflags(write=False)
    return Sequence(name=name, class_name=_read_class(seq_dir / "meta_info.ini"), frames_dir=seq_dir, boxes=boxes,
                    visible=visible)


def _check_frames(seq_dir: Path, n: int) -> None:
    """Frames 00000001.jpg and n exist, n + 1 does not: 3 stats instead of listing the folder."""
    for i in (1, n):
        frame = seq_dir / f"{i:08d}.jpg"
        if not frame.is_file():
            raise FileNotFoundError(f"{frame} is missing ({seq_dir / 'groundtruth.txt'} has {n} lines, one per frame "
                                    "00000001.jpg ...); re-extract the sequence")
    if (seq_dir / f"{n + 1:08d}.jpg").exists():
        raise ValueError(f"{seq_dir / 'groundtruth.txt'} is short: it has {n} lines but frame {n + 1:08d}.jpg exists "
                         f"(line {n + 1} onwards missing); re-extract the sequence")


def _read_labels(path: Path, n: int, high: int, meaning: str) -> np.ndarray:
    """int64 (n,) from a file of one integer in 0..high per line (absence.label, cover.label)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; it needs one {meaning} per line, one line per frame; "
                                "re-extract the sequence")
    lines = path.read_text().splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) != n:
        raise ValueError(f"{path} has {len(lines)} lines but groundtruth.txt has {n}; they must match one to one "
                         "(re-extract the sequence)")
    try:
        values = np.array(lines, dtype=np.int64)
    except ValueError:  # slow path, only taken for a malformed file: -1 marks the lines that are no integer
        values = np.array([int(line) if line.strip().isdigit() else -1 for line in lines], dtype=np.int64)
    bad = np.flatnonzero((values < 0) | (values > high))
    if bad.size:
        number = int(bad[0]) + 1
        raise ValueError(f"{path} line {number}: expected {meaning}, got {lines[number - 1]!r}; fix the annotation")
    return values


def _read_class(path: Path) -> str:
    """The ``object_class`` of ``meta_info.ini``; ``""`` without the file or the line (the class is not needed to
    train, and the original tolerates its absence too)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "object_class":
            return value.strip()
    return ""
