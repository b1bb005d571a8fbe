"""Synthetic LaSOT_ext, TNL2K, UAV123, OTB100 and NFS trees in each benchmark's real layout, read by
``seqtrack_accel.data.benchmarks``; pictures from ``synthetic.render_sequence``, trees written as ``synthetic.py``
writes its own (complete or absent, with ``synthetic.json``; same arguments and seed, same bytes).

    root = make_synthetic_lasot_ext("data/lasot_ext", classes=("atv", "misc"), sequences_per_class=2, frames=30)
    root = make_synthetic_tnl2k("data/tnl2k", sequences=3, frames=30)
    root = make_synthetic_uav123("data/uav123")   # SYNTHETIC_UAV123_TABLE; read with load_uav123(root, table=...)
    root = make_synthetic_otb100("data/otb100")   # SYNTHETIC_OTB100_TABLE
    root = make_synthetic_nfs("data/nfs")         # SYNTHETIC_NFS_TABLE; layout="official" or "seqtrack" too

The table benchmarks are written from a table of ``BenchmarkEntry`` rows. The default ones are a few rows of the real
tables with short frame ranges, keeping what makes each benchmark special: UAV123's ranges of one folder (bird1_1
and bird1_2, which starts past frame 1 after a gap of unused frames) and NaN lines where the target is out of view;
OTB's shared folder with ``groundtruth_rect.1.txt`` / ``.2.txt`` (Jogging), a range starting past frame 1 (David),
skipped first frames (Tiger1), 5-digit frame numbers (Board), PNG frames (KiteSurf) and comma, tab and space
separated annotations; NFS in each of its three layouts: the official download's ``<name>/30/<name>.txt`` of 240 fps
lines, SeqTrack's ``<name>/30/<name>_pytracking.txt`` and pytracking's ``anno/nfs_<name>.txt``. A folder holds the
frames from 1 to the last frame any row of it needs, one rendered video, so rows sharing a folder annotate the same
frames.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from .benchmarks import (
    LASOT_EXT_CLASSES,
    UAV123_ATTRIBUTES,
    BenchmarkEntry,
    nfs_table,
    otb100_table,
    uav123_table,
)
from .synthetic import (
    SYNTHETIC_CLASSES,
    _frame_size,
    _new_tree,
    box_lines,
    encode_jpeg,
    make_synthetic_lasot,
    render_sequence,
)


def _rows(table: tuple[BenchmarkEntry, ...], ranges: dict[str, tuple[int, int]]) -> tuple[BenchmarkEntry, ...]:
    """The rows ``ranges`` names, with their start and end frames replaced."""
    by_name = {entry.name: entry for entry in table}
    return tuple(dataclasses.replace(by_name[name], start_frame=start, end_frame=end)
                 for name, (start, end) in ranges.items())


SYNTHETIC_UAV123_TABLE = _rows(uav123_table(), {"bike1": (1, 8), "bird1_1": (1, 8), "bird1_2": (13, 20)})
SYNTHETIC_OTB100_TABLE = _rows(otb100_table(), {"Board": (1, 8), "David": (5, 12), "Jogging_1": (1, 8),
                                                "Jogging_2": (1, 8), "KiteSurf": (1, 8), "Tiger1": (1, 13)})
SYNTHETIC_NFS_TABLE = _rows(nfs_table(), {"Gymnastics": (1, 8), "bee": (1, 8), "book": (1, 8)})
_OTB_SEPARATORS = (",", "\t", " ")  # OTB's annotations use each of them; the rows take them in turn
NFS_LAYOUTS = ("official", "seqtrack", "pytracking")  # the layouts load_nfs reads (see data.benchmarks)


def make_synthetic_lasot_ext(
    out: str | os.PathLike,
    classes: tuple[str, ...] | list[str] = LASOT_EXT_CLASSES,
    sequences_per_class: int = 2,
    frames: int = 30,
    size: tuple[int, int] = (320, 240),
    seed: int = 0,
) -> Path:
    """A synthetic LaSOT_ext tree at ``out`` (LaSOT's layout, ``make_synthetic_lasot``); returns its absolute path.

    Args:
        out: the tree's root folder; it must not exist yet.
        classes: extension classes (``LASOT_EXT_CLASSES``); sequences ``<class>/<class>-1 ..``.
        sequences_per_class, frames, size, seed: as ``make_synthetic_lasot``.
    Raises:
        ValueError: a class is not a LaSOT_ext class, or an argument is out of range.
        FileExistsError: ``out`` already exists.
    """
    unknown = [c for c in classes if c not in LASOT_EXT_CLASSES]
    if unknown:
        raise ValueError(f"class(es) {', '.join(unknown)} are not LaSOT_ext classes: {', '.join(LASOT_EXT_CLASSES)}")
    return make_synthetic_lasot(out, classes, sequences_per_class, frames, size, seed)


def make_synthetic_tnl2k(
    out: str | os.PathLike,
    sequences: int = 3,
    frames: int = 30,
    size: tuple[int, int] = (320, 240),
    seed: int = 0,
) -> Path:
    """A synthetic TNL2K test set at ``out``; returns its absolute path.

    ``out/<sequence>/imgs/`` with frames named as TNL2K's vary: even sequences ``00001.png ..``, odd ones ``1.jpg ..``
    (unpadded, so only a natural sort orders them); ``groundtruth.txt`` (``0,0,0,0`` where out of view, as
    ``box_lines`` writes it) and ``language.txt``. Sequence k is ``<class>_video_<k>``, classes in turn from
    ``SYNTHETIC_CLASSES``.

    Raises:
        FileExistsError: ``out`` already exists.
        ValueError: an argument is out of range.
    """
    width, height = _frame_size(size)
    if sequences < 1 or frames < 1:
        raise ValueError("make_synthetic_tnl2k needs at least one sequence and one frame")
    manifest = {"dataset": "tnl2k", "sequences": sequences, "frames": frames, "width": width, "height": height,
                "seed": seed}
    with _new_tree(out, manifest) as (tmp, rng):
        for k in range(sequences):
            class_name = SYNTHETIC_CLASSES[k % len(SYNTHETIC_CLASSES)]
            seq_dir = tmp / f"{class_name}_video_{k + 1:02d}"
            (seq_dir / "imgs").mkdir(parents=True)
            seq = render_sequence(class_name, frames, width, height, rng)
            for t, image in enumerate(seq.frames):
                name = f"{t + 1:05d}.png" if k % 2 == 0 else f"{t + 1}.jpg"
                (seq_dir / "imgs" / name).write_bytes(_encode(image, name, seq_dir))
            (seq_dir / "groundtruth.txt").write_text(box_lines(seq.boxes))
            (seq_dir / "language.txt").write_text(f"track the {class_name} moving over the textured background\n")
    return Path(out).expanduser().resolve()


def make_synthetic_uav123(out: str | os.PathLike, table: tuple[BenchmarkEntry, ...] = SYNTHETIC_UAV123_TABLE,
                          size: tuple[int, int] = (320, 240), seed: int = 0) -> Path:
    """A synthetic UAV123 tree at ``out`` with the sequences of ``table``; returns its absolute path.

    ``data_seq/UAV123/<folder>/000001.jpg ..``, ``anno/UAV123/<name>.txt`` (``NaN,NaN,NaN,NaN`` where the target is
    out of view, as UAV123 marks it) and ``anno/UAV123/att/<name>.txt`` (12 random 0/1 flags, UAV123's attribute
    order). Read it with ``load_uav123(out, table=table)``.

    Raises:
        FileExistsError: ``out`` already exists.
        ValueError: an argument is out of range.
    """
    return _make_table_tree(out, "uav123", table, size, seed, separators=(",",), nan_when_absent=True,
                            attributes=True)


def make_synthetic_otb100(out: str | os.PathLike, table: tuple[BenchmarkEntry, ...] = SYNTHETIC_OTB100_TABLE,
                          size: tuple[int, int] = (320, 240), seed: int = 0) -> Path:
    """A synthetic OTB100 tree at ``out`` with the sequences of ``table``; returns its absolute path.

    ``<Folder>/img/0001.jpg ..`` (the row's digits and extension) and the row's ``groundtruth_rect*.txt``, one line
    per frame ``start_frame .. end_frame`` (``init_omit`` lines included), values separated by commas, tabs and spaces
    in turn from row to row. Read it with ``load_otb100(out, table=table)``.

    Raises:
        FileExistsError: ``out`` already exists.
        ValueError: an argument is out of range.
    """
    return _make_table_tree(out, "otb100", table, size, seed, separators=_OTB_SEPARATORS)


def make_synthetic_nfs(out: str | os.PathLike, table: tuple[BenchmarkEntry, ...] = SYNTHETIC_NFS_TABLE,
                       size: tuple[int, int] = (320, 240), seed: int = 0, layout: str = "pytracking") -> Path:
    """A synthetic NFS tree at ``out`` with the sequences of ``table`` in one of ``NFS_LAYOUTS``; returns its path.

    ``pytracking``: ``sequences/<name>/00001.jpg ..`` and ``anno/nfs_<name>.txt``, tab-separated ``x y w h`` lines.
    ``seqtrack``: ``<name>/30/<name>/00001.jpg ..`` and ``<name>/30/<name>_pytracking.txt``, ``x,y,w,h`` lines.
    ``official``: ``<name>/30/<name>/00001.jpg ..`` and ``<name>/30/<name>.txt``, the download's 240 fps lines
    ``id xmin ymin xmax ymax frame lost occluded generated "label"``, 8 per 30 fps frame: the first is the frame's box,
    the 7 others move on towards the next frame's (``generated`` 1, as interpolated lines are marked). The same
    ``table`` and ``seed`` give the same frames and boxes in every layout. Read it with ``load_nfs(out, table=table)``.

    Raises:
        FileExistsError: ``out`` already exists.
        ValueError: an unknown layout, or an argument out of range.
    """
    if layout not in NFS_LAYOUTS:
        raise ValueError(f"NFS layout must be one of {', '.join(NFS_LAYOUTS)}, got {layout!r}")
    if layout == "pytracking":
        return _make_table_tree(out, "nfs", table, size, seed, separators=("\t",))
    suffix = ".txt" if layout == "official" else "_pytracking.txt"
    table = tuple(dataclasses.replace(entry, frames_dir=f"{entry.name}/30/{entry.name}",
                                      anno_file=f"{entry.name}/30/{entry.name}{suffix}") for entry in table)
    return _make_table_tree(out, "nfs", table, size, seed, separators=(",",),
                            annotation=_nfs_240fps_lines if layout == "official" else None)


def _nfs_240fps_lines(entry: BenchmarkEntry, boxes: np.ndarray, out_of_view: np.ndarray) -> list[str]:
    """The official NfS annotation of 30 fps ``boxes`` (x, y, w, h): 8 lines per frame at 240 fps."""
    corners = np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], axis=1)
    following = np.concatenate([corners[1:], corners[-1:] + 8])  # where each frame's box moves on to
    lines = []
    for k, (box, ahead, lost) in enumerate(zip(corners, following, out_of_view)):
        for j in range(8):
            xmin, ymin, xmax, ymax = (0, 0, 0, 0) if lost else np.round(box + (ahead - box) * j / 8).astype(int)
            lines.append(f"1 {xmin} {ymin} {xmax} {ymax} {8 * k + j + 1} {int(lost)} 0 {int(j > 0)} "
                         f'"{entry.class_name}"')
    return lines


def _make_table_tree(out: str | os.PathLike, dataset: str, table: tuple[BenchmarkEntry, ...], size: tuple[int, int],
                     seed: int, *, separators: tuple[str, ...], nan_when_absent: bool = False,
                     attributes: bool = False,
                     annotation: Callable[[BenchmarkEntry, np.ndarray, np.ndarray], list[str]] | None = None) -> Path:
    """Render one video per frame folder of ``table`` (frames 1 .. the last any row needs), then write each row's
    annotation of its range, row k's values separated by ``separators[k % len(separators)]``; out-of-view frames are
    ``0,0,0,0`` lines, or NaN lines with ``nan_when_absent``. ``attributes``: UAV123's ``att/<name>.txt`` beside each
    annotation. ``annotation``: the lines of a row's file in another format, from the row, its boxes and out-of-view
    flags."""
    width, height = _frame_size(size)
    if not table:
        raise ValueError(f"make_synthetic_{dataset} needs a table of at least one sequence")
    manifest = {"dataset": dataset, "table": [dataclasses.astuple(entry) for entry in table], "width": width,
                "height": height, "seed": seed}
    with _new_tree(out, manifest) as (tmp, rng):
        folders: dict[str, list[BenchmarkEntry]] = {}
        for entry in table:
            folders.setdefault(entry.frames_dir, []).append(entry)
        videos = {}  # frames folder -> (boxes, out_of_view) of frames 1, 2, ...
        for k, (folder, entries) in enumerate(folders.items()):
            frames_dir = tmp / folder
            frames_dir.mkdir(parents=True)
            seq = render_sequence(SYNTHETIC_CLASSES[k % len(SYNTHETIC_CLASSES)], max(e.end_frame for e in entries),
                                  width, height, rng)
            for t, image in enumerate(seq.frames):
                name = f"{t + 1:0{entries[0].digits}d}.{entries[0].ext}"
                (frames_dir / name).write_bytes(_encode(image, name, frames_dir))
            videos[folder] = seq.boxes, seq.out_of_view
        for k, entry in enumerate(table):
            boxes, out_of_view = (a[entry.start_frame - 1:entry.end_frame] for a in videos[entry.frames_dir])
            if annotation is not None:
                lines = annotation(entry, boxes, out_of_view)
            else:
                lines = box_lines(boxes).replace(",", separators[k % len(separators)]).splitlines()
            if nan_when_absent:
                lines = ["NaN,NaN,NaN,NaN" if absent else line for line, absent in zip(lines, out_of_view)]
            anno = tmp / entry.anno_file
            anno.parent.mkdir(parents=True, exist_ok=True)
            anno.write_text("".join(f"{line}\n" for line in lines))
            if attributes:
                (anno.parent / "att").mkdir(exist_ok=True)
                flags = rng.integers(0, 2, size=len(UAV123_ATTRIBUTES))
                (anno.parent / "att" / anno.name).write_text(",".join(str(f) for f in flags) + "\n")
    return Path(out).expanduser().resolve()


def _encode(image: np.ndarray, name: str, folder: Path) -> bytes:
    """``image`` (BGR) as the bytes of a ``.jpg`` or ``.png`` file ``name``."""
    if name.endswith(".jpg"):
        return encode_jpeg(image, f"frame {name} of {folder}")
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise RuntimeError(f"OpenCV could not encode frame {name} of {folder} as PNG")
    return encoded.tobytes()
