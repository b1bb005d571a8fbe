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
    NFS        root/<name>/30/<name>/00001.jpg ..., root/<name>/30/<name>.txt  (the official download), or SeqTrack's
               or pytracking's copy of it (see below)

UAV123, OTB100 and NFS sequences are rows of a table (``BenchmarkEntry``), shipped in ``splits/uav123.txt``,
``splits/otb100.txt`` and ``splits/nfs.txt``: copied as data from pytracking's ``uavdataset.py``, ``otbdataset.py`` and
``nfsdataset.py`` (the commit is in each file). A row names the frames' folder, the first and last frame number, the
annotation file and the class; several UAV123 sequences are frame ranges of one folder (bird1_1, bird1_2, bird1_3 of
``bird1``), OTB has its own ranges (David starts at frame 300, BlurCar1 at 247; Tiger1 skips its first 5 annotated
frames, ``init_omit``). Frame 0 of a sequence is the file numbered ``start_frame + init_omit``. Each reader takes an
optional ``table`` (a subset, or a small synthetic one), defaulting to the shipped one. UAV123 and NFS names drop
pytracking's ``uav_`` / ``nfs_`` prefixes: they are the names of the annotation files.

NFS (30 fps) is read in any of three layouts, tried in this order for each sequence of the table:

- pytracking's converted copy, which ``nfsdataset.py`` of visionml/pytracking reads: ``sequences/<name>/00001.jpg ...``
  and ``anno/nfs_<name>.txt``, one tab-separated ``x y w h`` line per frame of the table's range;
- the original SeqTrack's (microsoft/VideoX ``SeqTrack/lib/test/evaluation/nfsdataset.py``): the official folders
  ``<name>/30/<name>/00001.jpg ...`` with such converted lines, comma-separated, in ``<name>/30/<name>_pytracking.txt``;
- the official download: ``<name>/30/<name>/00001.jpg ...`` and ``<name>/30/<name>.txt`` (``read_nfs_annotation``).

A sequence is missing when the folder of its frames is missing in every layout it may have (``<Folder>/img`` of OTB100,
``data_seq/UAV123/<folder>`` of UAV123, and LaSOT_ext's ``<class>/<class>-<n>``): the readers read the sequences that
are present, and a warning says how many of the benchmark's are missing. A root holding none of them is an error.

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..files import read_text
from .custom import natural_key
from .lasot import load_lasot
from .annotations import ABSENT, read_boxes, read_rows, split_values
from .sequence import Sequence

logger = logging.getLogger(__name__)

LASOT_EXT_SEQUENCES_PER_CLASS = 10  # <class>-1 .. <class>-10
LASOT_EXT_CLASSES = ("atv", "badminton", "cosplay", "dancingshoe", "footbag", "frisbee", "jianzi", "lantern", "misc",
                     "opossum", "paddle", "raccoon", "rhino", "skatingshoe", "wingsuit")
# UAV123's attribute order: the 12 flags of anno/UAV123/att/<sequence>.txt, as in pytracking's UAV123_attributes.json.
UAV123_ATTRIBUTES = ("Scale Variation", "Aspect Ratio Change", "Low Resolution", "Fast Motion", "Full Occlusion",
                     "Partial Occlusion", "Out-of-View", "Background Clutter", "Illumination Variation",
                     "Viewpoint Change", "Camera Motion", "Similar Object")
TNL2K_FRAME_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
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


def lasot_ext_test_set() -> dict[str, frozenset[str]]:
    """Class -> the names of LaSOT_ext's sequences: 10 of each of the 15 classes, ``atv-1`` .. ``atv-10``."""
    return {c: frozenset(f"{c}-{n}" for n in range(1, LASOT_EXT_SEQUENCES_PER_CLASS + 1)) for c in LASOT_EXT_CLASSES}


def uav123_test_set() -> dict[str, frozenset[str]]:
    """Class -> the names of UAV123's sequences (``uav123_table``)."""
    return _by_class(uav123_table())


def otb100_test_set() -> dict[str, frozenset[str]]:
    """Class -> the names of OTB100's sequences (``otb100_table``)."""
    return _by_class(otb100_table())


def nfs_test_set() -> dict[str, frozenset[str]]:
    """Class -> the names of NFS's sequences (``nfs_table``)."""
    return _by_class(nfs_table())


def _by_class(table: tuple[BenchmarkEntry, ...]) -> dict[str, frozenset[str]]:
    classes: dict[str, set[str]] = {}
    for entry in table:
        classes.setdefault(entry.class_name, set()).add(entry.name)
    return {c: frozenset(names) for c, names in classes.items()}


def some_names(names: Iterable[str], shown: int = 5) -> str:
    """``a-1, a-2, a-10, b-1, c-1 and 7 more``: the first ``shown`` of ``names`` in natural order, for messages."""
    names = sorted(names, key=natural_key)
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


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


def read_nfs_annotation(path: Path, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """float32 (frames, 4) boxes and bool (frames,) "the box is known" of the 30 fps frames 1 .. ``frames`` from the
    official NfS download's ``<name>/30/<name>.txt``.

    Its lines are ``id xmin ymin xmax ymax frame lost occluded generated "label"`` (whitespace-separated): the box is
    ``xmin, ymin, xmax - xmin, ymax - ymin``; the flags are not read, as the GOT-10k toolkit reads none. The file is
    annotated at 240 fps: where it holds about 8 times as many lines as there are frames, frame k (1-based) is line
    ``8 (k - 1) + 1`` (lines 1, 9, 17, ...), else line k; one line to spare is ignored. This is how the GOT-10k
    toolkit's ``NfS`` dataset (got10k/datasets/nfs.py: ``anno[:, 1:5]``, then ``anno[0::8]`` when
    ``abs(len(anno) / len(img_files) - 8) < 1``, then both cut to the shorter when they differ by one) aligns them.

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: a line without five values or with a value that is not a number (the message names the file and
            line), or a number of lines (of every 8th at 240 fps) other than ``frames`` or ``frames + 1``.
    """
    rows = read_rows(path, "NFS sequence", first=1, extra=None, nan=ABSENT,
                     names="id, then xmin ymin xmax ymax, then frame lost occluded generated label")
    lines = len(rows.values)
    step = 8 if abs(lines / frames - 8) < 1 else 1
    corners = rows.values[::step]
    if not frames <= len(corners) <= frames + 1:
        taken = f"{len(corners)} of its {lines} lines (every 8th, for its 240 fps)" if step == 8 else \
            f"{lines} lines"
        raise ValueError(f"{path} has {taken} for the {frames} frames of the sequence at 30 fps: they must match one "
                         "to one; re-extract the sequence")
    boxes = np.concatenate([corners[:frames, :2], corners[:frames, 2:] - corners[:frames, :2]], axis=1)
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


def load_lasot_ext(root: str | os.PathLike, classes: tuple[str, ...] | list[str] | None = None) -> list[Sequence]:
    """The LaSOT extension subset (LaSOT_ext): the sequences under ``root``, read as LaSOT is.

    Args:
        root: the folder holding one folder per extension class.
        classes: extension classes to read, every one of which must be under ``root``; None: those of the 15 that
            are, with a warning naming how many of the 150 sequences are missing.
    Returns:
        Sequences sorted by class, then by number (atv-1, atv-2, ..., atv-10).
    Raises:
        ValueError: a class is not one of the 15 extension classes, or a class of ``classes`` is missing.
        FileNotFoundError: ``root`` holds none of the 15 classes; else as ``load_lasot``.
    """
    root = _root(root, "LaSOT_ext")
    unknown = [c for c in classes or () if c not in LASOT_EXT_CLASSES]
    if unknown:
        raise ValueError(f"class(es) {', '.join(unknown)} are not LaSOT_ext classes; its 15 classes are "
                         f"{', '.join(LASOT_EXT_CLASSES)} (LaSOT's own 70 are read by load_lasot)")
    if classes is not None:
        return load_lasot(root, classes=tuple(sorted(classes)), split="all")
    present = [c for c in LASOT_EXT_CLASSES if (root / c).is_dir()]
    if not present:
        raise FileNotFoundError(f"{root} holds none of the 15 LaSOT_ext class folders ({some_names(LASOT_EXT_CLASSES)})"
                                "; point the LaSOT_ext root at the folder that holds <class>/<class>-<n>/")
    sequences = load_lasot(root, classes=tuple(present), split="all")
    test_set = lasot_ext_test_set()
    _warn_missing(root, "LaSOT_ext", {n for names in test_set.values() for n in names} - {s.name for s in sequences},
                  len(sequences))
    return sequences


def _warn_missing(root: Path, title: str, missing: set[str], present: int) -> None:
    if missing:
        logger.warning("%s at %s: %d of its %d sequences are missing (%s); reading the %d present", title, root,
                       len(missing), len(missing) + present, some_names(missing), present)


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
    boxes, known = read_boxes(groundtruth, "TNL2K sequence", nan=ABSENT)
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
        The sequences whose frame folder is present, sorted by name (a warning names how many of the table's are
        missing); NaN annotation lines are invisible frames with box ``0, 0, 0, 0``.
    Raises:
        FileNotFoundError: root, an annotation or a frame of a present sequence's range is missing, or no sequence
            of the table is present.
        ValueError: a malformed annotation (the message names the file and line), or one whose length is not the
            table's range.
    """
    return _load_table(_root(root, "UAV123"), uav123_table() if table is None else table, "UAV123", _as_listed)


def load_otb100(root: str | os.PathLike, table: tuple[BenchmarkEntry, ...] | None = None) -> list[Sequence]:
    """OTB100's (OTB-2015's) sequences (``table``, default ``otb100_table()``) under ``root``, the folder holding one
    folder per video (``Basketball/``, ...). Returns and raises as ``load_uav123``."""
    return _load_table(_root(root, "OTB100"), otb100_table() if table is None else table, "OTB100", _as_listed)


def load_nfs(root: str | os.PathLike, table: tuple[BenchmarkEntry, ...] | None = None) -> list[Sequence]:
    """NFS's 30 fps sequences (``table``, default ``nfs_table()``) under ``root``, in any of the three layouts of the
    module docstring (the official download, SeqTrack's, pytracking's), each sequence in the first of them that holds
    its frames and annotation. Returns and raises as ``load_uav123``."""
    return _load_table(_root(root, "NFS"), nfs_table() if table is None else table, "NFS", _nfs_layouts)


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
        flags = split_values(text)
        if len(flags) != len(UAV123_ATTRIBUTES) or not all(f in ("0", "1") for f in flags):
            raise ValueError(f"{path} must hold {len(UAV123_ATTRIBUTES)} flags of 0 or 1 (one per attribute: "
                             f"{', '.join(UAV123_ATTRIBUTES)}), got {text!r}; re-extract it or "
                             "delete it")
        attributes[entry.name] = tuple(a for a, f in zip(UAV123_ATTRIBUTES, flags) if f == "1")
    return attributes


# The reader of a row's annotation: (file, row, title) -> the boxes and "known" flags of frames start_frame ..
# end_frame. A benchmark's layouts give a row as each layout places it (its frames folder and annotation file), with the
# reader of that annotation, in the order they are tried.
AnnotationReader = Callable[[Path, BenchmarkEntry, str], tuple[np.ndarray, np.ndarray]]
Layouts = Callable[[BenchmarkEntry], list[tuple[BenchmarkEntry, AnnotationReader]]]


def _load_table(root: Path, table: tuple[BenchmarkEntry, ...], title: str, layouts: Layouts) -> list[Sequence]:
    """The rows of ``table`` whose frames folder is under ``root`` in one of their ``layouts``, each read in the first
    layout that has both its frames folder and its annotation (else the first that has the folder, whose annotation is
    then reported missing); a warning names the rows without a frames folder."""
    present, missing = [], set()
    for entry in table:
        placed = [(row, read) for row, read in layouts(entry) if (root / row.frames_dir).is_dir()]
        if placed:
            present.append(next(((row, read) for row, read in placed if (root / row.anno_file).is_file()), placed[0]))
        else:
            missing.add(entry.name)
    if not present:
        folders = " or ".join(dict.fromkeys(str(root / row.frames_dir) for row, _ in layouts(table[0])))
        raise FileNotFoundError(f"{root} holds none of the {len(table)} {title} sequences of its table: the frames of "
                                f"the first, {table[0].name}, would be in {folders}; point the {title} root at the "
                                "folder that holds the benchmark")
    sequences = sorted((_read_entry(root, row, read, title) for row, read in present), key=lambda s: s.name)
    _warn_missing(root, title, missing, len(sequences))
    logger.info("%s: %d sequences, %d frames", title, len(sequences), sum(len(s) for s in sequences))
    return sequences


def _as_listed(entry: BenchmarkEntry) -> list[tuple[BenchmarkEntry, AnnotationReader]]:
    """UAV123's and OTB100's one layout: the table's paths, one ``x,y,w,h`` line per frame."""
    return [(entry, _read_listed)]


def _nfs_layouts(entry: BenchmarkEntry) -> list[tuple[BenchmarkEntry, AnnotationReader]]:
    """NFS's three layouts (module docstring): pytracking's (the table's paths), SeqTrack's converted annotation
    beside the official frames, the official download."""
    official = f"{entry.name}/30/{entry.name}"
    return [(entry, _read_listed),
            (replace(entry, frames_dir=official, anno_file=f"{official}_pytracking.txt"), _read_listed),
            (replace(entry, frames_dir=official, anno_file=f"{official}.txt"), _read_nfs_official)]


def _read_listed(path: Path, entry: BenchmarkEntry, title: str) -> tuple[np.ndarray, np.ndarray]:
    boxes, known = read_boxes(path, f"{title} sequence", nan=ABSENT)
    annotated = entry.end_frame - entry.start_frame + 1
    if len(boxes) != annotated:
        raise ValueError(f"{path} has {len(boxes)} lines but {title} sequence {entry.name} has {annotated} frames "
                         f"({entry.start_frame}..{entry.end_frame} of {entry.frames_dir}): they must match one to one; "
                         "re-extract the annotation")
    return boxes, known


def _read_nfs_official(path: Path, entry: BenchmarkEntry, title: str) -> tuple[np.ndarray, np.ndarray]:
    boxes, known = read_nfs_annotation(path, entry.end_frame)  # lines from frame 1 of the folder
    return boxes[entry.start_frame - 1:], known[entry.start_frame - 1:]


def _read_entry(root: Path, entry: BenchmarkEntry, read: AnnotationReader, title: str) -> Sequence:
    anno = root / entry.anno_file
    boxes, known = read(anno, entry, title)
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
    raise FileNotFoundError(f"{first} is missing (the first frame of sequence {entry.name}); re-extract the sequence")
