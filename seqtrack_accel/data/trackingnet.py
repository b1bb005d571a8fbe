"""The TrackingNet reader: the sequences of chosen training chunks, with boxes and visibility, loud checks.

Layout, as TrackingNet's devkit downloads and extracts it::

    root/TRAIN_<k>/anno/<seq>.txt            one "x,y,w,h" line per frame (pixels, top-left origin); k = 0 .. 11
    root/TRAIN_<k>/frames/<seq>/0.jpg ...    0-based, no zero padding
    root/TRAIN_<k>/zips/                     unused

    sequences = load_trackingnet("/data/TrackingNet", chunks=(0, 1, 2, 3))

TrackingNet has no visibility flags: a frame is visible when its box has ``w > 0`` and ``h > 0`` (the original's
rule). Its layout has no class either (the original reads one from a class map of 30,134 lines that this package
does not ship, and does not use it to sample), so ``class_name`` is ``""``.

Checks per sequence: the box file (parsed) and the frames by 2 stats: the first and the last frame named by the
box file exist. Frames past the last box line are not looked for, and unused, as in the original.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from .sequence import Sequence, read_box_lines

logger = logging.getLogger(__name__)

CHUNK_PATTERN = re.compile(r"TRAIN_(\d+)")


def load_trackingnet(root: str | os.PathLike, *,
                     chunks: tuple[int, ...] | list[int] | None = None) -> list[Sequence]:
    """Read every sequence of the ``TRAIN_<k>`` folders ``chunks`` under ``root``.

    Args:
        root: the TrackingNet folder holding ``TRAIN_0`` ... ``TRAIN_11``.
        chunks: chunk numbers k (the original trains on 0 .. 11); None: every ``TRAIN_<k>`` folder under ``root``.
    Returns:
        Sequences sorted by chunk, then by name (the name is ``<seq>``, unique across chunks); frames
        ``<root>/TRAIN_<k>/frames/<seq>/0.jpg`` ...
    Raises:
        FileNotFoundError: root, a chunk (the message lists those found), an ``anno`` or ``frames`` folder, a frame
            folder or a frame is missing.
        ValueError: a malformed box file (the message names the file and line), a chunk holding no sequence, or a
            sequence name found in two chunks.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"TrackingNet root {root.resolve()} does not exist or is not a folder")
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
    for folder, what in ((anno_dir, "<seq>.txt box files"), (frames_root, "<seq>/ frame folders")):
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is missing; it must hold the chunk's {what} (extract the chunk with "
                                    "TrackingNet's devkit)")
    names = sorted(e.name[:-4] for e in os.scandir(anno_dir) if e.name.endswith(".txt") and e.is_file())
    if not names:
        raise ValueError(f"{anno_dir} holds no <seq>.txt box file; download the chunk's annotations")
    return [_read_sequence(anno_dir / f"{name}.txt", frames_root / name, name) for name in names]


def _read_sequence(anno: Path, frames_dir: Path, name: str) -> Sequence:
    boxes = read_box_lines(anno, "TrackingNet sequence")
    n = boxes.shape[0]
    if not frames_dir.is_dir():
        raise FileNotFoundError(f"{frames_dir} is missing; it must hold the frames 0.jpg ... {n - 1}.jpg of {anno} "
                                "(extract the sequence's zip)")
    for i in (0, n - 1):
        if not (frames_dir / f"{i}.jpg").is_file():
            raise FileNotFoundError(f"{frames_dir / f'{i}.jpg'} is missing ({anno} has {n} lines, one per frame "
                                    "0.jpg ...); extract the sequence's zip again")
    visible = (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
    boxes.setflags(write=False)
    visible.setflags(write=False)
    return Sequence(name=name, class_name="", frames_dir=frames_dir, boxes=boxes, visible=visible,
                    frame_name="{:d}.jpg", first_frame=0)


def _folders(root: Path) -> str:
    names = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    return ", ".join(names[:20]) + (f", ... ({len(names)} in all)" if len(names) > 20 else "") if names else "none"
