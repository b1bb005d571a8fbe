"""Readers of the one-pass-evaluation (OPE) test sets SeqTrack reports on: LaSOT_ext, TNL2K, UAV123, OTB100, NFS.

Each ``load_<benchmark>(root)`` returns the test sequences sorted by name. Layouts, as the official downloads are
extracted (and as pytracking's and SeqTrack's dataset classes read them)::

    LaSOT_ext  root/<class>/<class>-<n>/img/00000001.jpg, groundtruth.txt, full_occlusion.txt, out_of_view.txt
               (LaSOT's layout; the 15 extension classes, 10 sequences each, all of them test sequences)
    TNL2K      root/<sequence>/imgs/<frames>, groundtruth.txt, language.txt  (the test set's folder; frame names and
               extensions vary from sequence to sequence: they are taken in natural order, 2 before 10)
    UAV123     root/data_seq/UAV123/<folder>/000001.jpg ..., root/anno/UAV123/<sequence>.txt,
               root/anno/UAV123/att/<sequence>.txt (optional: 12 0/1 attribute flags)
    OTB100     root/<Folder>/img/0001.jpg ..., root/<Folder>/groundtruth_rect.txt (groundtruth_rect.1.txt / .2.txt
               where two targets share a folder: Jogging, Skating2; Human4 has only .2)
    NFS        root/sequences/<name>/00001.jpg ..., root/anno/nfs_<name>.txt  (pytracking's layout, see below)

UAV123, OTB100 and NFS sequences are rows of a table (``BenchmarkEntry``), shipped in ``splits/uav123.txt``,
``splits/otb100.txt`` and ``splits/nfs.txt``: copied as data from pytracking's ``uavdataset.py``, ``otbdataset.py`` and
``nfsdataset.py`` (the commit is in each file). A row names the frames' folder, the first and last frame number, the
annotation file and the class; several UAV123 sequences are frame ranges of one folder (bird1_1, bird1_2, bird1_3 of
``bird1``), OTB has its own ranges (David starts at frame 300, BlurCar1 at 247; Tiger1 skips its first 5 annotated
frames, ``init_omit``). Frame 0 of a sequence is the file numbered ``start_frame + init_omit``. Each reader takes an
optional ``table`` (a subset, or a small synthetic one), defaulting to the shipped one. UAV123 and NFS names drop
pytracking's ``uav_`` / ``nfs_`` prefixes: they are the names of the annotation files.

NFS: pytracking reads a converted copy of the 30 fps version, not the official download's layout. The official
download holds ``<name>/30/<name>/00001.jpg ...`` (the 30 fps frames) and ``<name>/30/<name>.txt`` (lines
``id xmin ymin xmax ymax frame lost occluded generated "label"``; the GOT-10k toolkit takes every 8th line where a file
holds about 8 times as many lines as frames, one per 240 fps frame). The layout read here is ``sequences/<name>/`` =
the official ``<name>/30/<name>/`` (moved or linked), and ``anno/nfs_<name>.txt`` = one ``x y w h`` line (tabs) per
frame of the table's range, converted from ``<name>/30/<name>.txt`` (w = xmax - xmin, h = ymax - ymin). (SeqTrack
reads the official folders with such converted lines in ``<name>/30/<name>_pytracking.txt``, commas.)

Annotations: one ``x,y,w,h`` line per frame (pixels, top-left origin); values may be separated by commas, tabs or
spaces (OTB mixes them). A line of NaN (UAV123 marks frames without the target so) is stored as ``0,0,0,0``. A frame is
visible when its box is finite with ``w > 0`` and ``h > 0`` (LaSOT_ext: and not fully occluded or out of view).

Attributes (``uav123_attributes``) are returned as ``{sequence name: attribute names}`` beside the sequences.

Checks per sequence: the annotation (parsed, its length against the table's range) and the frames by 2 stats, the
first and the last one of the range (TNL2K: one listing of ``imgs``, whose frame count must match the annotation).
"""

from __future__ import annotations

import functools
import importlib.resources
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..files import read_text
from .custom import natural_key
from .lasot import load_lasot
from .sequence import Sequence, box_file_lines, parse_box_rows

logger = logging.getLogger(__name__)

LASOT_EXT_CLASSES = ("atv", "badminton", "cosplay", "dancingshoe", "footbag", "frisbee", "jianzi", "lantern", "misc",
                     "opossum", "paddle", "raccoon", "rhino", "skatingshoe", "wingsuit")
# UAV123's attribute order: the 12 flags of anno/UAV123/att/<sequence>.txt, as in pytracking's UAV123_attributes.json.
UAV123_ATTRIBUTES = ("Scale Variation", "Aspect Ratio Change", "Low Resolution", "Fast Motion", "Full Occlusion",
                     "Partial Occlusion", "Out-of-View", "Background Clutter", "Illumination Variation",
                     "Viewpoint Change", "Camera Motion", "Similar Object")
TNL2K_FRAME_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
_SEPARATORS = re.compile(r"[,\s]+")
_FRAME_EXTENSIONS = ("jpg", "png")  # a table's ext, or the other one (copies of OTB's KiteSurf differ)


@dataclass(frozen=True)
class BenchmarkEntry:
    """One sequence of a benchmark table (UAV123, OTB100, NFS); paths are relative to the benchmark's root.

    Attributes:
        name: the sequence's name, unique in the table.
        frames_dir: the folder of its frames, e.g. ``data_seq/UAV123/bird1``.
        start_frame, end_frame: the numbers of the first and last frame files the annotation covers (inclusive).
        digits: zero padding of the frame numbers (``{:0<digits>d}``).
        ext: frame file extension without the dot.
        anno_file: the annotation, one line per frame ``start_frame .. end_frame``.
        init_omit: annotated frames skipped at the start (OTB's Tiger1: 5).
        class_name: the object class.
    """

    name: str
    frames_dir: str
    start_frame: int
    end_frame: int
    digits: int
    ext: str
    anno_file: str
    init_omit: int
    class_name: str

    @property
    def first_frame(self) -> int:
        """The number of the file of frame 0."""
        return self.start_frame + self.init_omit


def read_benchmark_table(path: str | os.PathLike) -> tuple[BenchmarkEntry, ...]:
    """The rows of a table file: ``name,frames_dir,start_frame,end_frame,digits,ext,anno_file,init_omit,class`` per
    line; lines starting with ``#`` and blank lines are skipped. Errors name the file and line."""
    path = Path(path)
    return _parse_table(read_text(path), str(path))


def uav123_table() -> tuple[BenchmarkEntry, ...]:
    """UAV123's 123 sequences (``splits/uav123.txt``)."""
    return _shipped_table("uav123.txt")


def otb100_table() -> tuple[BenchmarkEntry, ...]:
    """OTB100's (OTB-2015's) 100 sequences (``splits/otb100.txt``)."""
    return _shipped_table("otb100.txt")


def nfs_table() -> tuple[BenchmarkEntry, ...]:
    """NFS's 100 sequences (``splits/nfs.txt``), 30 fps."""
    return _shipped_table("nfs.txt")


@functools.cache
def _shipped_table(file_name: str) -> tuple[BenchmarkEntry, ...]:
    resource = importlib.resources.files(__package__) / "splits" / file_name
    return _parse_table(resource.read_text(), f"seqtrack_accel/data/splits/{file_name}")


def _parse_table(text: str, where: str) -> tuple[BenchmarkEntry, ...]:
    entries: list[BenchmarkEntry] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 9:
            raise ValueError(f"{where} line {number}: expected 9 comma-separated fields name,frames_dir,start_frame,"
                             f"end_frame,digits,ext,anno_file,init_omit,class, got {len(fields)}: {line!r}")
        name, frames_dir, start, end, digits, ext, anno_file, init_omit, class_name = fields
        try:
            entry = BenchmarkEntry(name, frames_dir, int(start), int(end), int(digits), ext, anno_file,
                                   int(init_omit), class_name)
        except ValueError:
            raise ValueError(f"{where} line {number}: start_frame, end_frame, digits and init_omit must be integers, "
                             f"got {line!r}") from None
        if not 0 <= entry.first_frame <= entry.end_frame:
            raise ValueError(f"{where} line {number}: frames {entry.first_frame}..{entry.end_frame} are no range")
        if name in seen:
            raise ValueError(f"{where} line {number}: sequence {name} is listed twice")
        seen.add(name)
        entries.append(entry)
    if not entries:
        raise ValueError(f"{where} lists no sequence")
    return tuple(entries)


def read_boxes(path: Path, what: str) -> tuple[np.ndarray, np.ndarray]:
    """float32 (N, 4) boxes and bool (N,) "the box is known" from one ``x,y,w,h`` line per frame.

    Values are separated by commas, tabs or spaces. A line holding NaN or an infinity (a frame without the target)
    gives the box ``0, 0, 0, 0`` and False. Errors name the file and the 1-based line; ``what`` says what needs the
    file.
    """
    boxes = parse_box_rows(path, box_file_lines(path, what), lambda line: _SEPARATORS.split(line.strip()),
                           "4 values x,y,w,h (separated by commas, tabs or spaces)", "numbers (or NaN)")
    known = np.isfinite(boxes).all(axis=1)
    boxes[~known] = 0.0
    return boxes.astype(np.float32), known


def _sequence(name: str, class_name: str, frames_dir: Path, boxes: np.ndarray, known: np.ndarray,
              **frames) -> Sequence:
    visible = known & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
    boxes.setflags(write=False)
    visible.setflags(write=False)
    return Sequence(name=name, class_name=class_name, frames_dir=frames_dir, boxes=boxes, visible=visible, **frames)


def _root(root: str | os.PathLike, title: str) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{title} root {root.resolve()} does not exist or is not a folder")
    return root


# ---------------------------------------------------------------------------------------------------------------
# LaSOT_ext and TNL2K: sequences found on disk


def load_lasot_ext(root: str | os.PathLike,
                   classes: tuple[str, ...] | list[str] = LASOT_EXT_CLASSES) -> list[Sequence]:
    """The LaSOT extension subset (LaSOT_ext): every sequence of ``classes`` under ``root``, read as LaSOT is.

    Args:
        root: the folder holding one folder per extension class.
        classes: extension classes to read (all 15 by default; every one must exist under ``root``).
    Returns:
        Sequences sorted by class, then by number (atv-1, atv-2, ..., atv-10).
    Raises:
        ValueError: a class is not one of the 15 extension classes, or is missing under ``root``.
        FileNotFoundError, ValueError: as ``load_lasot``.
    """
    unknown = [c for c in classes if c not in LASOT_EXT_CLASSES]
    if unknown:
        raise ValueError(f"class(es) {', '.join(unknown)} are not LaSOT_ext classes; its 15 classes are "
                         f"{', '.join(LASOT_EXT_CLASSES)} (LaSOT's own 70 are read by load_lasot)")
    return load_lasot(_root(root, "LaSOT_ext"), classes=tuple(sorted(classes)), split="all")


def load_tnl2k(root: str | os.PathLike) -> list[Sequence]:
    """The TNL2K test set: every sequence folder under ``root``.

    Args:
        root: the test set's folder, holding one folder per sequence (names starting with "." are ignored).
    Returns:
        Sequences sorted by name, class ``""``; ``frame_files`` lists the frames of ``imgs/`` in natural order.
    Raises:
        FileNotFoundError: root, a ``groundtruth.txt`` or an ``imgs`` folder is missing, or root holds no sequence.
        ValueError: a malformed ``groundtruth.txt`` (the message names the file and line), or a frame count that
            differs from its number of lines.
    """
    root = _root(root, "TNL2K")
    folders = sorted((e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith(".")))
    if not folders:
        raise FileNotFoundError(f"{root} holds no sequence folder; point the TNL2K root at the test set's folder, "
                                "which holds one folder per sequence (<sequence>/imgs, groundtruth.txt)")
    sequences = [_read_tnl2k_sequence(root / name) for name in folders]
    logger.info("TNL2K: %d sequences, %d frames", len(sequences), sum(len(s) for s in sequences))
    return sequences


def _read_tnl2k_sequence(seq_dir: Path) -> Sequence:
    groundtruth = seq_dir / "groundtruth.txt"
    boxes, known = read_boxes(groundtruth, "TNL2K sequence")
    frames_dir = seq_dir / "imgs"
    if not frames_dir.is_dir():
        raise FileNotFoundError(f"{frames_dir} is missing; it must hold the sequence's frames; re-extract the "
                                "sequence")
    frame_files = sorted((e.name for e in os.scandir(frames_dir)
                          if e.name.lower().endswith(TNL2K_FRAME_EXTENSIONS) and not e.name.startswith(".")),
                         key=natural_key)
    if len(frame_files) != len(boxes):
        raise ValueError(f"{frames_dir} holds {len(frame_files)} frames but {groundtruth} has {len(boxes)} lines, one "
                         "per frame; re-extract the sequence (or take the annotation from TNL2K's revised ones)")
    return _sequence(seq_dir.name, "", frames_dir, boxes, known, frame_files=tuple(frame_files))


# ---------------------------------------------------------------------------------------------------------------
# UAV123, OTB100, NFS: sequences listed in a table


def load_uav123(root: str | os.PathLike, table: tuple[BenchmarkEntry, ...] | None = None) -> list[Sequence]:
    """UAV123's sequences (``table``, default ``uav123_table()``) under ``root``.

    Args:
        root: the folder holding ``data_seq/`` and ``anno/``.
        table: the sequences to read.
    Returns:
        Sequences sorted by name; NaN annotation lines are invisible frames with box ``0, 0, 0, 0``.
    Raises:
        FileNotFoundError: root, a frame folder, an annotation or a frame of a sequence's range is missing.
        ValueError: a malformed annotation (the message names the file and line), or one whose length is not the
            table's range.
    """
    return _load_table(_root(root, "UAV123"), uav123_table() if table is None else table, "UAV123")


def load_otb100(root: str | os.PathLike, table: tuple[BenchmarkEntry, ...] | None = None) -> list[Sequence]:
    """OTB100's (OTB-2015's) sequences (``table``, default ``otb100_table()``) under ``root``, the folder holding one
    folder per video (``Basketball/``, ...). Returns and raises as ``load_uav123``."""
    return _load_table(_root(root, "OTB100"), otb100_table() if table is None else table, "OTB100")


def load_nfs(root: str | os.PathLike, table: tuple[BenchmarkEntry, ...] | None = None) -> list[Sequence]:
    """NFS's 30 fps sequences (``table``, default ``nfs_table()``) under ``root``, the folder holding ``sequences/``
    and ``anno/`` in pytracking's layout (the module docstring maps the official download to it). Returns and raises
    as ``load_uav123``."""
    return _load_table(_root(root, "NFS"), nfs_table() if table is None else table, "NFS")


def uav123_attributes(root: str | os.PathLike,
                      table: tuple[BenchmarkEntry, ...] | None = None) -> dict[str, tuple[str, ...]]:
    """Sequence name -> the names (``UAV123_ATTRIBUTES``) of its attributes, from ``anno/UAV123/att/<name>.txt``.

    Sequences without an attribute file are left out. A file holds 12 0/1 flags (commas or whitespace between them)
    in UAV123's order: ``UAV123_ATTRIBUTES``.

    Raises:
        ValueError: a file does not hold 12 flags of 0 or 1 (the message names it).
    """
    root = _root(root, "UAV123")
    attributes = {}
    for entry in uav123_table() if table is None else table:
        anno = Path(entry.anno_file)
        path = root / anno.parent / "att" / anno.name
        if not path.is_file():
            continue
        text = read_text(path).strip()
        flags = _SEPARATORS.split(text)
        if len(flags) != len(UAV123_ATTRIBUTES) or not all(f in ("0", "1") for f in flags):
            raise ValueError(f"{path} must hold {len(UAV123_ATTRIBUTES)} flags of 0 or 1 (one per attribute: "
                             f"{', '.join(UAV123_ATTRIBUTES)}), got {text!r}; re-extract it or "
                             "delete it")
        attributes[entry.name] = tuple(a for a, f in zip(UAV123_ATTRIBUTES, flags) if f == "1")
    return attributes


def _load_table(root: Path, table: tuple[BenchmarkEntry, ...], title: str) -> list[Sequence]:
    sequences = sorted((_read_entry(root, entry, title) for entry in table), key=lambda s: s.name)
    logger.info("%s: %d sequences, %d frames", title, len(sequences), sum(len(s) for s in sequences))
    return sequences


def _read_entry(root: Path, entry: BenchmarkEntry, title: str) -> Sequence:
    anno = root / entry.anno_file
    boxes, known = read_boxes(anno, f"{title} sequence")
    annotated = entry.end_frame - entry.start_frame + 1
    if len(boxes) != annotated:
        raise ValueError(f"{anno} has {len(boxes)} lines but {title} sequence {entry.name} has {annotated} frames "
                         f"({entry.start_frame}..{entry.end_frame} of {entry.frames_dir}): they must match one to one; "
                         "re-extract the annotation")
    frames_dir = root / entry.frames_dir
    ext = _frame_extension(frames_dir, entry)
    last = frames_dir / f"{entry.end_frame:0{entry.digits}d}.{ext}"
    if not last.is_file():
        raise FileNotFoundError(f"{last} is missing: {anno} has a line per frame {entry.start_frame}.."
                                f"{entry.end_frame} of {frames_dir}, but the folder holds fewer frames; re-extract "
                                "the sequence")
    omit = entry.init_omit
    return _sequence(entry.name, entry.class_name, frames_dir, boxes[omit:].copy(), known[omit:],
                     frame_name=f"{{:0{entry.digits}d}}.{ext}", first_frame=entry.first_frame)


def _frame_extension(frames_dir: Path, entry: BenchmarkEntry) -> str:
    """The table's extension, or the other one of jpg / png when only that has the first frame."""
    candidates = [entry.ext] + [e for e in _FRAME_EXTENSIONS if e != entry.ext]
    for ext in candidates:
        if (frames_dir / f"{entry.first_frame:0{entry.digits}d}.{ext}").is_file():
            return ext
    first = frames_dir / f"{entry.first_frame:0{entry.digits}d}.{entry.ext}"
    if not frames_dir.is_dir():
        raise FileNotFoundError(f"{frames_dir} is missing; sequence {entry.name} reads its frames there: extract the "
                                "benchmark's frames under its root")
    raise FileNotFoundError(f"{first} is missing (the first frame of sequence {entry.name}); re-extract the sequence")
