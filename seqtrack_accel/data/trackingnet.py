"""The TrackingNet reader: the sequences of chosen training chunks, with boxes and visibility, or of the test set;
loud checks.

Layout, as TrackingNet's devkit downloads and extracts it::

    root/TRAIN_<k>/anno/<seq>.txt            one "x,y,w,h" line per frame (pixels, top-left origin); k = 0 .. 11
    root/TRAIN_<k>/frames/<seq>/0.jpg ...    0-based, no zero padding
    root/TRAIN_<k>/zips/                     unused
    root/TEST/anno/<seq>.txt                 ONE "x,y,w,h" line: the first frame's box (the rest is withheld)
    root/TEST/frames/<seq>/0.jpg ...

    sequences = load_trackingnet("/data/TrackingNet", chunks=(0, 1, 2, 3))
    test = load_trackingnet("/data/TrackingNet", split="test")     # 511 sequences, packed by tracking.submission

TrackingNet has no visibility flags: a frame is visible when its box has ``w > 0`` and ``h > 0`` (the original's
rule). Its layout has no class either (the original reads one from a class map of 30,134 lines that this package
does not ship, and does not use it to sample), so ``class_name`` is ``""``.

Checks per sequence: the box file (parsed) and the frames by 2 stats: the first and the last frame named by the
box file exist. Frames past the last box line are not looked for, and unused, as in the original.

A test sequence has N = the number of ``<i>.jpg`` frames, which must be ``0.jpg`` ... ``<N-1>.jpg`` without a gap
(the folder is listed, as pytracking's TrackingNet test reader does), ``boxes[0]`` the given box and the other rows
NaN, ``visible[0]`` True (the box has an area) and the rest False.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path


from .annotations import read_boxes
from .index import SequenceIndex
from .index_cache import cached_index
from .sequence import Sequence, check_frames, first_box_only

logger = logging.getLogger(__name__)

CHUNK_PATTERN = re.compile(r"TRAIN_(\d+)")
SPLITS = ("train", "test")
TEST_FOLDER = "TEST"
READER_VERSION = 1  # of what load_trackingnet returns for the same files (the index cache's key)
_FRAME_FILE = re.compile(r"(0|[1-9]\d*)\.jpg")


def load_trackingnet(root: str | os.PathLike, *, chunks: tuple[int, ...] | list[int] | None = None,
                     split: str = "train") -> SequenceIndex:
    """Read every sequence of the ``TRAIN_<k>`` folders ``chunks`` under ``root``, or of its ``TEST`` folder.

    Args:
        root: the TrackingNet folder holding ``TRAIN_0`` ... ``TRAIN_11`` (and ``TEST``).
        chunks: chunk numbers k (the original trains on 0 .. 11); None: every ``TRAIN_<k>`` folder under ``root``.
        split: ``train``, the ``TRAIN_<k>`` chunks; or ``test``, the ``TEST`` folder (first-frame boxes only; no
            ``chunks``).
    Returns:
        An index (``index.SequenceIndex``; of the train split, cached by ``index_cache``) of the sequences sorted
        by chunk, then by name (the name is ``<seq>``, unique across chunks); frames
        ``<root>/TRAIN_<k>/frames/<seq>/0.jpg`` ... Test: sorted by name, boxes NaN but for frame 0, visible only at
        frame 0.
    Raises:
        FileNotFoundError: root, a chunk (the message lists those found), an ``anno`` or ``frames`` folder, a frame
            folder or a frame is missing.
        ValueError: an unknown split, chunks with split test, a malformed box file (the message names the file and
            line), a chunk holding no sequence, or a sequence name found in two chunks.
    """
    root = Path(root)
    if split not in SPLITS:
        raise ValueError(f"TrackingNet split must be one of {', '.join(SPLITS)}, got {split!r}")
    if not root.is_dir():
        raise FileNotFoundError(f"TrackingNet root {root.resolve()} does not exist or is not a folder")
    if split == "test":
        if chunks is not None:
            raise ValueError(f"TrackingNet chunks select TRAIN_<k> folders; split test reads {TEST_FOLDER} alone, so "
                             f"leave chunks out (got {list(chunks)!r})")
        return SequenceIndex.from_sequences(_read_test(root))
    found = sorted(int(m.group(1)) for e in os.scandir(root)
                   if (m := CHUNK_PATTERN.fullmatch(e.name)) and e.is_dir())
    if chunks is None:
        if not found:
            raise FileNotFoundError(f"{root} holds no TRAIN_<k> folder; point the TrackingNet root at the folder "
                                    "holding TRAIN_0 ... TRAIN_11 (folders found: "
                                    f"{_folders(root)})")
        chunks = found
    else:
        wrong = [k for k in chunks if isinstance(k, bool) or not isinstance(k, int)]
        if wrong or not chunks:
            raise ValueError(f"TrackingNet chunks must be a non-empty list of chunk numbers (k of TRAIN_k), got "
                             f"{list(chunks)!r}")
        missing = [k for k in chunks if k not in found]
        if missing:
            listed = ", ".join(f"TRAIN_{k}" for k in found) if found else f"none (folders found: {_folders(root)})"
            raise FileNotFoundError(f"chunk(s) {', '.join(f'TRAIN_{k}' for k in missing)} not found under {root}; "
                                    f"chunks found: {listed}")
        chunks = sorted(set(chunks))

    def inputs() -> list[Path]:
        return [root / f"TRAIN_{k}" / "anno" / e.name for k in chunks if (root / f"TRAIN_{k}" / "anno").is_dir()
                for e in os.scandir(root / f"TRAIN_{k}" / "anno") if e.name.endswith(".txt")]

    return cached_index("trackingnet", READER_VERSION, root, {"chunks": chunks}, inputs=inputs,
                        build=lambda: _read_chunks(root, chunks))


def _read_chunks(root: Path, chunks: list[int]) -> list[Sequence]:
    sequences: list[Sequence] = []
    first_seen: dict[str, Path] = {}
    for k in chunks:
        chunk_sequences = _read_chunk(root / f"TRAIN_{k}")
        for sequence in chunk_sequences:
            anno = root / f"TRAIN_{k}" / "anno" / f"{sequence.name}.txt"
            if sequence.name in first_seen:
                raise ValueError(f"sequence {sequence.name} is in two chunks: {first_seen[sequence.name]} and {anno}; "
                                 "remove one of them")
            first_seen[sequence.name] = anno
        logger.info("TrackingNet TRAIN_%d: %d sequences, %d frames", k, len(chunk_sequences),
                    sum(len(s) for s in chunk_sequences))
        sequences.extend(chunk_sequences)
    return sequences


def _read_chunk(chunk_dir: Path) -> list[Sequence]:
    anno_dir, frames_root = chunk_dir / "anno", chunk_dir / "frames"
    _check_folders(anno_dir, frames_root, "chunk")
    names = sorted(e.name[:-4] for e in os.scandir(anno_dir) if e.name.endswith(".txt") and e.is_file())
    if not names:
        raise ValueError(f"{anno_dir} holds no <seq>.txt box file; download the chunk's annotations")
    return [_read_sequence(anno_dir / f"{name}.txt", frames_root / name, name) for name in names]


def _read_sequence(anno: Path, frames_dir: Path, name: str) -> Sequence:
    boxes, _ = read_boxes(anno, "TrackingNet sequence")
    n = boxes.shape[0]
    if not frames_dir.is_dir():
        raise FileNotFoundError(f"{frames_dir} is missing; it must hold the frames 0.jpg ... {n - 1}.jpg of {anno} "
                                "(extract the sequence's zip)")
    check_frames(frames_dir, anno, n, "{:d}.jpg", 0, fix="extract the sequence's zip again", past_last=False)
    visible = (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
    boxes.setflags(write=False)
    visible.setflags(write=False)
    return Sequence(name=name, class_name="", frames_dir=frames_dir, boxes=boxes, visible=visible,
                    frame_name="{:d}.jpg", first_frame=0)


def _read_test(root: Path) -> list[Sequence]:
    test_dir = root / TEST_FOLDER
    if not test_dir.is_dir():
        raise FileNotFoundError(f"{test_dir} is missing; split test reads TrackingNet's test set there (download "
                                f"and extract it with TrackingNet's devkit; folders found: {_folders(root)})")
    anno_dir, frames_root = test_dir / "anno", test_dir / "frames"
    _check_folders(anno_dir, frames_root, "test set")
    names = sorted(e.name[:-4] for e in os.scandir(anno_dir) if e.name.endswith(".txt") and e.is_file())
    if not names:
        raise ValueError(f"{anno_dir} holds no <seq>.txt box file; download the test set's annotations")
    sequences = [_read_test_sequence(anno_dir / f"{name}.txt", frames_root / name, name) for name in names]
    logger.info("TrackingNet TEST: %d sequences, %d frames", len(sequences), sum(len(s) for s in sequences))
    return sequences


def _read_test_sequence(anno: Path, frames_dir: Path, name: str) -> Sequence:
    """A test sequence: the first frame's box, NaN for the others, frames counted by listing the folder."""
    given, _ = read_boxes(anno, "TrackingNet test sequence")
    if given.shape[0] != 1:
        raise ValueError(f"{anno} has {given.shape[0]} lines; a test sequence's box file holds one, the first "
                         "frame's box (annotated sequences are in the TRAIN_<k> chunks, split train)")
    if not frames_dir.is_dir():
        raise FileNotFoundError(f"{frames_dir} is missing; it must hold the frames 0.jpg ... of {anno} (extract the "
                                "sequence's zip)")
    numbers = sorted(int(m.group(1)) for e in os.scandir(frames_dir) if (m := _FRAME_FILE.fullmatch(e.name)))
    if not numbers:
        raise FileNotFoundError(f"{frames_dir} holds no frame 0.jpg ...; extract the sequence's zip again")
    if len(numbers) != numbers[-1] + 1:
        present = set(numbers)
        missing = next(i for i in range(numbers[-1]) if i not in present)
        raise FileNotFoundError(f"{frames_dir / f'{missing}.jpg'} is missing, but {frames_dir} holds frames up to "
                                f"{numbers[-1]}.jpg; extract the sequence's zip again")
    return first_box_only(name, "", frames_dir, given[0], len(numbers), frame_name="{:d}.jpg", first_frame=0)


def _check_folders(anno_dir: Path, frames_root: Path, what: str) -> None:
    for folder, holds in ((anno_dir, "<seq>.txt box files"), (frames_root, "<seq>/ frame folders")):
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is missing; it must hold the {what}'s {holds} (extract it with "
                                    "TrackingNet's devkit)")


def _folders(root: Path) -> str:
    names = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    return ", ".join(names[:20]) + (f", ... ({len(names)} in all)" if len(names) > 20 else "") if names else "none"
