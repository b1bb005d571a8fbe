"""The GOT-10k reader: the train, val and test sets' sequences with boxes and visibility, the original's splits,
loud checks.

Layout, as GOT-10k is distributed (``root`` may also be the ``train`` folder itself, as the original expects)::

    root/train/list.txt                                  one sequence folder name per line
    root/train/GOT-10k_Train_000001/00000001.jpg ...     1-based, 8 digits
    root/train/GOT-10k_Train_000001/groundtruth.txt      one "x,y,w,h" line per frame (pixels, top-left origin)
    root/train/GOT-10k_Train_000001/absence.label        one 0/1 line per frame: 1 = the target is not in the frame
    root/train/GOT-10k_Train_000001/cover.label          one 0..8 line per frame: the visible fraction in eighths
    root/train/GOT-10k_Train_000001/meta_info.ini        "object_class: ..." names the class

    root/val/...                                         the same layout, GOT-10k_Val_000001 ... (split val)
    root/test/list.txt, root/test/GOT-10k_Test_000001/00000001.jpg ...
    root/test/GOT-10k_Test_000001/groundtruth.txt        ONE "x,y,w,h" line: the first frame's box (split test)

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

The test set's ground truth is withheld (results go to the evaluation server, ``tracking.submission``): its
sequences have N = the number of ``????????.jpg`` frames, which must be ``00000001.jpg`` ... N without a gap (the
folder is listed, since there is no groundtruth line per frame to count), ``boxes[0]`` the given box and the other
rows NaN, ``visible[0]`` True (the box has an area) and the rest False. It has no label files; ``meta_info.ini``
is optional as above.
"""

from __future__ import annotations

import ast
import functools
import logging
import os
import re
from importlib import resources
from pathlib import Path

import numpy as np

from ..files import read_text
from .annotations import read_boxes
from .index import SequenceIndex
from .index_cache import cached_index
from .sequence import Sequence, check_frames, first_box_only

logger = logging.getLogger(__name__)

# val and test: GOT-10k's own validation and test sets, the val/ and test/ folders
SPLITS = ("train_full", "vottrain", "votval", "val", "test")
TRAIN_SEQUENCES = 9335  # sequences in the real train set's list.txt
_SPLIT_FILES = {"vottrain": "got10k_vot_train_split.txt", "votval": "got10k_vot_val_split.txt"}
_FRAME_FILE = re.compile(r"(\d{8})\.jpg")
ANNOTATION_FILES = ("groundtruth.txt", "absence.label", "cover.label", "meta_info.ini")
READER_VERSION = 1  # of what load_got10k returns for the same files (the index cache's key)


@functools.cache
def split_indices(split: str) -> tuple[int, ...]:
    """The 0-based ``list.txt`` indices of ``split`` (``vottrain`` or ``votval``), in the file's order."""
    if split not in _SPLIT_FILES:
        raise ValueError(f"GOT-10k split {split!r} has no index list; lists exist for {', '.join(_SPLIT_FILES)}")
    text = resources.files(__package__).joinpath("splits", _SPLIT_FILES[split]).read_text()
    return tuple(int(line) for line in text.split())


def load_got10k(root: str | os.PathLike, *, split: str = "train_full") -> SequenceIndex:
    """Read the sequences of ``split`` of GOT-10k under ``root``.

    Args:
        root: the GOT-10k folder holding ``train/`` (and ``val/``, ``test/``), or that ``train`` folder itself.
        split: ``train_full``, ``vottrain`` or ``votval`` of the train set (see the module docstring); ``val``,
            GOT-10k's validation set (180 sequences, none of them in the train set); or ``test``, its test set
            (180 sequences, the first frame's box only).
    Returns:
        Sequences sorted by name, as an index (``index.SequenceIndex``; but for the test set, cached by
        ``index_cache``); ``class_name`` from ``meta_info.ini``; frames ``00000001.jpg`` ... in the sequence
        folder; visible = ``w > 0 and h > 0``, ``absence.label`` 0 and ``cover.label`` > 0 (the original's rule).
        Test sequences: boxes NaN but for frame 0, visible only at frame 0 (see the module docstring).
    Raises:
        FileNotFoundError: root, ``list.txt``, a listed sequence folder, a label file or a frame is missing.
        ValueError: an unknown split, or a malformed file (the message names the file and line).
    """
    if split not in SPLITS:
        raise ValueError(f"GOT-10k split must be one of {', '.join(SPLITS)}, got {split!r}")
    set_dir = _subset_dir(Path(root), split) if split in ("val", "test") else _train_dir(Path(root))
    list_file = set_dir / "list.txt"
    entries = _read_list(list_file)
    if split in _SPLIT_FILES:
        entries = _select(entries, split, list_file)
    if split == "test":  # the frames are counted by listing each folder: no annotation file fingerprints them
        return SequenceIndex.from_sequences(_read(set_dir, entries, list_file, split))

    def inputs() -> list[Path]:
        return [list_file] + [set_dir / name / f for _, name in entries for f in ANNOTATION_FILES]

    return cached_index("got10k", READER_VERSION, set_dir, {"split": split}, inputs=inputs,
                        build=lambda: _read(set_dir, entries, list_file, split))


def _read(set_dir: Path, entries: list[tuple[int, str]], list_file: Path, split: str) -> list[Sequence]:
    read = _read_test_sequence if split == "test" else _read_sequence
    sequences = [read(set_dir / name, name, list_file, line) for line, name in entries]
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


def _subset_dir(root: Path, subset: str) -> Path:
    """GOT-10k's validation or test set: ``root/<subset>``, or ``<subset>`` beside the train folder when ``root`` is
    ``train``."""
    what = {"val": "validation", "test": "test"}[subset]
    for candidate in (root / subset, root.parent / subset if root.name == "train" else root / subset):
        if (candidate / "list.txt").is_file():
            return candidate
    raise FileNotFoundError(f"{root / subset / 'list.txt'} does not exist; split {subset} reads GOT-10k's {what} "
                            f"set: extract {subset}/ (with its list.txt) next to train/")


def _read_list(path: Path) -> list[tuple[int, str]]:
    """(1-based line number, folder name) of each line of ``list.txt``."""
    lines = read_text(path).splitlines()
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
        raise ValueError(f"{path} is empty; it should list the set's sequence folders, one per line")
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
    boxes, _ = read_boxes(groundtruth, "GOT-10k sequence")
    n = boxes.shape[0]
    check_frames(seq_dir, groundtruth, n)  # before the labels, so a short groundtruth is reported as such
    absent = _read_labels(seq_dir / "absence.label", n, 1, "0 or 1 (1: the target is absent)")
    cover = _read_labels(seq_dir / "cover.label", n, 8, "integer 0..8 (visible eighths)")
    visible = (boxes[:, 2] > 0) & (boxes[:, 3] > 0) & (absent == 0) & (cover > 0)
    boxes.setflags(write=False)
    visible.setflags(write=False)
    return Sequence(name=name, class_name=_read_class(seq_dir / "meta_info.ini"), frames_dir=seq_dir, boxes=boxes,
                    visible=visible)


def _read_test_sequence(seq_dir: Path, name: str, list_file: Path, line: int) -> Sequence:
    """A test sequence: the first frame's box, NaN for the others, frames counted by listing the folder."""
    if not seq_dir.is_dir():
        raise FileNotFoundError(f"{seq_dir} is missing ({list_file} line {line} lists it); extract the test set again")
    groundtruth = seq_dir / "groundtruth.txt"
    given, _ = read_boxes(groundtruth, "GOT-10k test sequence")
    if given.shape[0] != 1:
        raise ValueError(f"{groundtruth} has {given.shape[0]} lines; a test sequence's groundtruth.txt holds one, the "
                         "first frame's box (for annotated sequences use split val)")
    return first_box_only(name, _read_class(seq_dir / "meta_info.ini"), seq_dir, given[0], _count_frames(seq_dir))


def _count_frames(seq_dir: Path) -> int:
    """N of frames 00000001.jpg ... N, listed; a gap or a stray name is an error that names it."""
    numbers = sorted(int(m.group(1)) for e in os.scandir(seq_dir) if (m := _FRAME_FILE.fullmatch(e.name)))
    if not numbers:
        raise FileNotFoundError(f"{seq_dir} holds no frame 00000001.jpg ...; extract the sequence again")
    if numbers[0] == 0:
        raise ValueError(f"{seq_dir / '00000000.jpg'}: frames are numbered from 00000001.jpg; extract the sequence "
                         "again")
    if len(numbers) != numbers[-1]:
        present = set(numbers)
        missing = next(i for i in range(1, numbers[-1]) if i not in present)
        raise FileNotFoundError(f"{seq_dir / f'{missing:08d}.jpg'} is missing, but {seq_dir} holds frames up to "
                                f"{numbers[-1]:08d}.jpg; extract the sequence again")
    return len(numbers)


def read_cover(seq_dir: str | os.PathLike) -> np.ndarray:
    """int64 (N,) ``cover.label`` of a GOT-10k sequence folder: the target's visible fraction in eighths, 0..8.

    GOT-10k's toolkit scores a frame only where it is > 0 (``tracking.got10k_metrics``).
    """
    return _read_labels(Path(seq_dir) / "cover.label", None, 8, "integer 0..8 (visible eighths)")


def read_resolution(seq_dir: str | os.PathLike) -> tuple[int, int]:
    """(width, height) in pixels from the ``resolution: (W, H)`` line of a sequence folder's ``meta_info.ini``.

    GOT-10k's toolkit clips boxes to it before the IoU (``tracking.got10k_metrics``).
    """
    path = Path(seq_dir) / "meta_info.ini"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; GOT-10k's scores need the frame size from its 'resolution: (W, "
                                "H)' line: re-extract the sequence, or pass the sizes (image_sizes=)")
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        key, _, value = line.partition(":")
        if key.strip() != "resolution":
            continue
        try:
            size = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            size = None
        if (not isinstance(size, tuple) or len(size) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)):
            raise ValueError(f"{path} line {number}: expected 'resolution: (width, height)' in whole pixels, got "
                             f"{line!r}; fix the file")
        return size
    raise ValueError(f"{path} has no 'resolution: (width, height)' line; GOT-10k's scores need the frame size: add "
                     "it, or pass the sizes (image_sizes=)")


def _read_labels(path: Path, n: int | None, high: int, meaning: str) -> np.ndarray:
    """int64 (n,) from a file of one integer in 0..high per line (absence.label, cover.label); n None: any length."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; it needs one {meaning} per line, one line per frame; "
                                "re-extract the sequence")
    lines = read_text(path).splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if n is not None and len(lines) != n:
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
        text = read_text(path)
    except FileNotFoundError:
        return ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "object_class":
            return value.strip()
    return ""
