"""The COCO 2017 reader: every object annotation of ``instances_train2017.json`` as a one-image sequence.

Layout, as COCO 2017 is distributed (``train2017.zip`` and ``annotations_trainval2017.zip`` unzipped in one folder)::

    root/annotations/instances_train2017.json
    root/train2017/000000000009.jpg ...      or root/images/train2017/..., the original SeqTrack's layout

    sequences = load_coco("/data/coco")

As in the original (SeqTrack's and pytracking's ``MSCOCOSeq``), each annotation with ``iscrowd == 0`` is a sequence
of one frame, ``still=True`` (templates and search crops all come from that image), whose class is the category
name. Annotations whose box has no area are left out too: the original keeps them but rejects every crop of them (a
window under one pixel) and draws again, which is the same as never drawing them. SeqTrack's reader also computes
"visible" as ``w > 50 and h > 50``, but its sampler never reads the visibility of an image dataset, so it trains on
the small objects as well; ``min_side=50`` applies that threshold for whoever wants it.

The annotation file (448 MB) is parsed with the standard ``json`` module once, when its index cache is built (tens
of seconds, a few GB of memory while it lasts; ``index_cache``); every later start maps the cached columns. Only
boxes, image file names and category names are read, so pycocotools (masks, an index, a compiled extension) is not
needed.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .index import SequenceIndex, Strings, freeze
from .index_cache import cached_index

logger = logging.getLogger(__name__)

ANNOTATION_FILE = "annotations/instances_train2017.json"
IMAGE_DIRS = ("train2017", "images/train2017")  # as unzipped; the original SeqTrack's layout
READER_VERSION = 1  # of what load_coco's index holds for the same file (the index cache's key)


def load_coco(
    root: str | os.PathLike,
    *,
    classes: tuple[str, ...] | list[str] | None = None,
    min_side: float = 0.0,
) -> SequenceIndex:
    """Every usable object annotation of COCO 2017 train under ``root`` as a one-frame sequence.

    Args:
        root: the COCO folder holding ``annotations/`` and ``train2017/`` (or ``images/train2017/``).
        classes: category names to keep (None: all 80).
        min_side: leave out boxes whose width or height is at most this many pixels (0: only boxes without area).
    Returns:
        An index (``index.SequenceIndex``, cached by ``index_cache``) of the sequences in the annotation file's order, named ``<image>_<annotation id>`` (``000000391895_151091``), each
        with ``still=True``, boxes float32 (1, 4) ``x, y, w, h`` in pixels and ``visible == [True]``.
    Raises:
        FileNotFoundError: the annotation file, the image folder or an image of a kept annotation is missing.
        ValueError: the annotation file is not valid JSON or lacks a key (the message names the entry), or a class
            of ``classes`` is not a category.
    """
    root = Path(root)
    path = root / ANNOTATION_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; unzip annotations_trainval2017.zip (from cocodataset.org) in "
                                f"{root}")
    image_dir = _image_dir(root)
    index = cached_index("coco17", READER_VERSION, root, {"image_dir": str(image_dir)}, inputs=lambda: [path],
                         build=lambda: _build(path, image_dir))
    notes = index.notes
    boxes = index.columns["boxes"]
    keep = (boxes[:, 2] > min_side) & (boxes[:, 3] > min_side)
    dropped_small = notes["no_area"] + int((~keep).sum())
    if classes is not None:
        unknown = [c for c in classes if c not in index.classes]
        if unknown:
            raise ValueError(f"class(es) {', '.join(unknown)} are not categories of {path}; its categories: "
                             f"{', '.join(index.classes)}")
        wanted = np.isin(index.columns["class_ids"], [index.classes.index(c) for c in classes])
        keep &= wanted
    sequences = index if keep.all() else index.take(np.flatnonzero(keep))
    if not len(sequences):
        raise ValueError(f"none of the {notes['annotations']} annotations of {path} is usable with classes {classes} "
                         f"and min_side {min_side} (crowd annotations and boxes without area are left out); choose "
                         "other classes or a smaller min_side")
    logger.info("COCO: %d of the %d annotations of %s are sequences (left out: %d crowd, %d with a side <= %g px%s)",
                len(sequences), notes["annotations"], path, notes["crowd"], dropped_small, min_side,
                "" if classes is None else f", {int((~wanted).sum())} of other classes")
    return sequences


def _build(path: Path, image_dir: Path) -> SequenceIndex:
    """The index of every annotation that is not a crowd and has an area, all classes (``load_coco`` selects)."""
    table = _read_annotations(path)
    keep = ~table.crowd & (table.boxes[:, 2] > 0) & (table.boxes[:, 3] > 0)
    indices = np.flatnonzero(keep)
    _check_images(image_dir, [table.files[i] for i in np.unique(table.image[indices])], path)
    stems = [name.rsplit(".", 1)[0] for name in table.files]
    names = Strings.of(f"{stems[image]}_{ann_id}" for ann_id, image in zip(table.ids[indices].tolist(),
                                                                           table.image[indices].tolist()))
    dirs, files = Strings.of([str(image_dir)]), Strings.of(table.files)
    count = len(indices)
    columns = {  # one still frame per sequence, named by its image file; see index.COLUMNS
        "name_chars": names.chars, "name_ends": names.ends, "dir_chars": dirs.chars, "dir_ends": dirs.ends,
        "file_chars": files.chars, "file_ends": files.ends,
        "class_ids": table.category[indices].astype(np.int32), "dir_ids": np.zeros(count, np.int32),
        "pattern_ids": np.zeros(count, np.int32), "still": np.ones(count, bool),
        "offsets": np.arange(count + 1, dtype=np.int64), "visible_counts": np.ones(count, np.int64),
        "boxes": table.boxes[indices], "visible": np.ones(count, bool),
        "file_ids": table.image[indices].astype(np.int32),
    }
    notes = {"annotations": len(table.ids), "crowd": int(table.crowd.sum()), "no_area": int((~table.crowd & ~keep).sum())}
    return SequenceIndex(freeze(columns), table.categories, [("{:08d}.jpg", 1)], notes=notes)


def _image_dir(root: Path) -> Path:
    for name in IMAGE_DIRS:
        if (root / name).is_dir():
            return root / name
    raise FileNotFoundError(f"{root} has neither {IMAGE_DIRS[0]}/ nor {IMAGE_DIRS[1]}/; unzip train2017.zip (from "
                            f"cocodataset.org) in {root}")


def _check_images(image_dir: Path, names: list[str], annotation_file: Path) -> None:
    """Every image named exists: one listing of the folder (a stat only for names that are not in it)."""
    present = set(os.listdir(image_dir))
    missing = [n for n in names if n not in present and not (image_dir / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{image_dir / missing[0]} is missing ({len(missing)} of the {len(names)} images that "
                                f"{annotation_file} names are); unzip train2017.zip again")


@dataclass(frozen=True)
class _Annotations:
    """The part of an instances file the reader uses: one row per annotation, in the file's order."""

    ids: np.ndarray  # int64 (N,)
    boxes: np.ndarray  # float32 (N, 4) x, y, w, h; read-only
    crowd: np.ndarray  # bool (N,)
    image: np.ndarray  # int64 (N,): index into files
    category: np.ndarray  # int64 (N,): index into categories
    files: list[str]  # image file names
    categories: list[str]  # category names


def _read_annotations(path: Path) -> _Annotations:
    """Parse an instances file (once per index cache: ``load_coco``)."""
    logger.info("reading %s (%.0f MB)", path, path.stat().st_size / 1e6)
    try:
        with open(path, "rb") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} line {e.lineno} column {e.colno}: not valid JSON ({e.msg}); the file is damaged or "
                         "cut short: unzip annotations_trainval2017.zip again") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} holds a JSON {type(data).__name__}, not an object with images, annotations and "
                         "categories; point the COCO root at the folder holding annotations/instances_train2017.json")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise ValueError(f"{path} has no {key!r} list at its top level (keys found: {', '.join(data) or 'none'}); "
                             "it is not a COCO instances file: use annotations/instances_train2017.json")
    images, annotations, categories = data["images"], data["annotations"], data["categories"]

    image_ids = _column(path, images, "images", "id")
    files = [str(f) for f in _column(path, images, "images", "file_name")]
    category_ids = _column(path, categories, "categories", "id")
    names = [str(n) for n in _column(path, categories, "categories", "name")]
    image_index = {image_id: i for i, image_id in enumerate(image_ids)}
    category_index = {category_id: i for i, category_id in enumerate(category_ids)}

    ids = _column(path, annotations, "annotations", "id")
    image = _lookup(path, annotations, "image_id", image_index, "images")
    category = _lookup(path, annotations, "category_id", category_index, "categories")
    crowd = _crowd(path, annotations, _column(path, annotations, "annotations", "iscrowd"))
    boxes = _boxes(path, annotations, _column(path, annotations, "annotations", "bbox"))
    boxes.setflags(write=False)
    return _Annotations(ids=np.array(ids, dtype=np.int64), boxes=boxes, crowd=crowd, image=image, category=category,
                        files=files, categories=names)


def _column(path: Path, entries: list, section: str, key: str) -> list:
    """``[e[key] for e in entries]``; the error names the first entry without ``key``."""
    try:
        return [e[key] for e in entries]
    except (KeyError, TypeError):
        index = next(i for i, e in enumerate(entries) if not isinstance(e, dict) or key not in e)
        raise ValueError(f"{path}: {section}[{index}] has no {key!r} key ({_describe(entries[index])}); every entry "
                         f"of {section} needs one: unzip annotations_trainval2017.zip again") from None


def _lookup(path: Path, annotations: list, key: str, index: dict, section: str) -> np.ndarray:
    """int64 (N,): the position in ``section`` of each annotation's ``key`` (image_id, category_id)."""
    values = _column(path, annotations, "annotations", key)
    try:
        return np.array([index[v] for v in values], dtype=np.int64)
    except (KeyError, TypeError):
        i = next(i for i, v in enumerate(values) if not isinstance(v, (int, str)) or v not in index)
        raise ValueError(f"{path}: annotations[{i}] ({_describe(annotations[i])}) has {key} {values[i]!r}, which no "
                         f"entry of {section} has; unzip annotations_trainval2017.zip again") from None


def _crowd(path: Path, annotations: list, values: list) -> np.ndarray:
    """bool (N,) from the iscrowd values; the error names the first that is neither 0 nor 1."""
    bad = next((i for i, v in enumerate(values) if v not in (0, 1)), None)
    if bad is not None:
        raise ValueError(f"{path}: annotations[{bad}] ({_describe(annotations[bad])}) has iscrowd {values[bad]!r}; it "
                         "must be 0 or 1: unzip annotations_trainval2017.zip again")
    return np.array(values, dtype=bool)


def _boxes(path: Path, annotations: list, bboxes: list) -> np.ndarray:
    """float32 (N, 4) from the bbox lists; the error names the first bbox that is not 4 finite numbers."""
    if not bboxes:
        return np.zeros((0, 4), dtype=np.float32)
    try:
        boxes = np.array(bboxes, dtype=np.float64)
    except (ValueError, TypeError):
        boxes = None
    if boxes is None or boxes.shape != (len(bboxes), 4) or not np.isfinite(boxes).all():
        for i, bbox in enumerate(bboxes):
            try:
                ok = len(bbox) == 4 and bool(np.isfinite(np.array(bbox, dtype=np.float64)).all())
            except (ValueError, TypeError):
                ok = False
            if not ok:
                raise ValueError(f"{path}: annotations[{i}] ({_describe(annotations[i])}) has bbox {bbox!r}; a bbox "
                                 "is [x, y, width, height], four finite numbers in pixels: unzip "
                                 "annotations_trainval2017.zip again")
    return boxes.astype(np.float32)


def _describe(entry) -> str:
    return f"id {entry['id']}" if isinstance(entry, dict) and "id" in entry else f"a {type(entry).__name__}"
