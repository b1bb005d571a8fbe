"""Synthetic LaSOT, GOT-10k, TrackingNet, COCO and custom trees: each dataset's layout and file formats, textured
moving objects, flagged occlusions.

Used by the demo config, the tests and the benchmarks, where the real dataset cannot be downloaded.

    root = make_synthetic_lasot("data/synthetic_lasot", classes=("book", "coin"), sequences_per_class=6,
                                frames=60, size=(320, 240), seed=0)
    root = make_synthetic_got10k("data/synthetic_got10k", sequences=6, frames=60, size=(320, 240), seed=0,
                                 val_sequences=2, test_sequences=2)
    root = make_synthetic_trackingnet("data/synthetic_trackingnet", chunks=2, sequences_per_chunk=3, frames=60,
                                      size=(320, 240), seed=0, test_sequences=2)
    root = make_synthetic_coco("data/synthetic_coco", images=8, objects_per_image=3, size=(320, 240), seed=0)
    root = make_synthetic_custom("data/my_objects", classes=("cat", "dog"), sequences_per_class=3, frames=30,
                                 size=(160, 120), seed=0)

Each sequence is one object of a per-class look (book: a striped rectangle, coin: a ringed disc, other classes:
a checkerboard, diamond, triangle or ringed square chosen from the class name) that moves smoothly, scales and
slowly changes colour and texture over a panning textured background. Some frames are fully occluded (a grey
block is drawn over the object) or out of view (the object is not drawn, its box is ``0,0,0,0``); both are
flagged in ``full_occlusion.txt`` / ``out_of_view.txt`` (GOT-10k: ``cover.label`` 0 / ``absence.label`` 1;
TrackingNet flags neither, as the real one; custom folders: an empty groundtruth line, or ``absence.label``). Every
layout draws its pictures with ``render_sequence`` (COCO: several objects per image, each moved to a free place).
GOT-10k and TrackingNet can also have a test set, whose annotation is the first frame's box alone, as the real ones.

Guarantees the tests rely on:
- the groundtruth box is the tight box of the drawn object's pixels (integer pixels, top-left origin);
- the background is dark (every channel <= 90), occluders grey (95..125), objects bright (luminance >= 170),
  so a luminance threshold of 130 separates an object from everything else in a frame or a crop;
- same arguments and seed: the same bytes (one numpy Generator, JPEG at a fixed quality via ``cv2.imencode``);
- the tree appears at ``out`` only when complete (generated in a hidden temporary folder, then renamed), with
  ``synthetic.json`` holding the generator's arguments: a source with ``synthetic`` set refuses a tree whose
  manifest holds other settings (``check_synthetic_tree``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..config import SyntheticConfig

logger = logging.getLogger(__name__)

JPEG_QUALITY = 90
MANIFEST_FILE = "synthetic.json"  # the generator's arguments, written at the tree's root
_BACKGROUND_MAX = 90  # every background channel value is <= this
_OCCLUDER_RANGE = (95, 125)
_OBJECT_MIN_LUMA = 200  # base colours; texture modulation keeps every object pixel's luminance >= 170

# Looks beyond the two built-in classes are picked from the class name, so a class always looks the same.
_NAMED_LOOKS = {"book": "stripes", "coin": "disc"}
_OTHER_LOOKS = ("checker", "diamond", "triangle", "rings")
# The classes of the synthetic GOT-10k and TrackingNet sequences, in turn: one of each look.
SYNTHETIC_CLASSES = ("book", "coin", "cup", "car", "bird", "fish")
_YOUTUBE_ID_CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_LOOK_WORDS = {
    "stripes": "a striped",
    "disc": "a ringed round",
    "checker": "a checkered",
    "diamond": "a diamond-shaped",
    "triangle": "a triangular",
    "rings": "a square ringed",
}


def class_look(class_name: str) -> str:
    """The drawing style of a class: book -> stripes, coin -> disc, others by a stable hash of the name."""
    return _NAMED_LOOKS.get(class_name, _OTHER_LOOKS[zlib.crc32(class_name.encode()) % len(_OTHER_LOOKS)])


def make_synthetic_lasot(
    out: str | os.PathLike,
    classes: tuple[str, ...] | list[str] = ("book", "coin"),
    sequences_per_class: int = 6,
    frames: int = 60,
    size: tuple[int, int] = (320, 240),
    seed: int = 0,
) -> Path:
    """Write a synthetic LaSOT tree at ``out`` and return its absolute path.

    Args:
        out: the tree's root folder; it must not exist yet.
        classes: class names; sequences are ``<class>/<class>-1 .. <class>-<sequences_per_class>``.
        sequences_per_class: sequences per class (>= 4 to have a train and a test part of book / coin).
        frames: frames per sequence.
        size: frame (width, height) in pixels.
        seed: seeds the one numpy Generator every random draw comes from.
    Raises:
        FileExistsError: ``out`` already exists.
        ValueError: an argument is out of range.
    """
    width, height = _frame_size(size)
    _check_classes("make_synthetic_lasot", classes, sequences_per_class, frames, dash=False)
    manifest = {"classes": list(classes), "sequences_per_class": sequences_per_class, "frames": frames,
                "width": width, "height": height, "seed": seed}
    with _new_tree(out, manifest) as (tmp, rng):
        for class_name in classes:
            for index in range(1, sequences_per_class + 1):
                _write_sequence(tmp / class_name / f"{class_name}-{index}", class_name, frames, width, height, rng)
    return Path(out).expanduser().resolve()


@contextmanager
def _new_tree(out: str | os.PathLike, manifest: dict) -> Iterator[tuple[Path, np.random.Generator]]:
    """A hidden sibling folder of ``out`` to write a tree into and the one Generator seeded by ``manifest["seed"]``;
    when the block ends without error, the manifest is written and the folder renamed to ``out``, so a crash never
    leaves a tree that looks complete."""
    out = Path(out).expanduser().resolve()
    if out.exists():
        raise FileExistsError(f"{out} already exists; delete it or choose another --out folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp, np.random.default_rng(manifest["seed"])
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1) + "\n")
        try:
            os.rename(tmp, out)
        except OSError:
            if not out.is_dir():
                raise
            # Another process (e.g. a second Accelerate rank) finished the same tree first; same seed, same bytes.
            logger.info("%s was generated by another process meanwhile; keeping that copy", out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def _check_classes(what: str, classes, sequences_per_class: int, frames: int, *, dash: bool) -> None:
    """Raise ValueError unless there is a class, a sequence and a frame, and every class is a plain folder name
    (without ``-`` unless ``dash``: LaSOT's ``<class>-<n>`` names are split at it)."""
    if frames < 1 or sequences_per_class < 1 or not classes:
        raise ValueError(f"{what} needs at least one class, one sequence and one frame")
    for name in classes:
        if not name or "/" in name or (not dash and "-" in name) or name.startswith("."):
            rule = "" if dash else " without '-' or '/'"
            raise ValueError(f"class name {name!r} must be a plain folder name{rule}")


def _frame_size(size: tuple[int, int]) -> tuple[int, int]:
    width, height = size
    if width < 16 or height < 16:
        raise ValueError(f"frames must be at least 16x16 pixels, got size {width}x{height}")
    return width, height


def make_synthetic_got10k(
    out: str | os.PathLike,
    sequences: int = 6,
    frames: int = 60,
    size: tuple[int, int] = (320, 240),
    seed: int = 0,
    val_sequences: int = 0,
    test_sequences: int = 0,
) -> Path:
    """Write a synthetic GOT-10k train set at ``out`` (read by ``load_got10k``) and return its absolute path.

    ``out/train/GOT-10k_Train_000001 ..`` with ``list.txt``, frames ``00000001.jpg ..``, ``groundtruth.txt``,
    ``absence.label`` (1 where out of view), ``cover.label`` (8 where visible, 0 where fully occluded or out of
    view) and ``meta_info.ini``; classes cycle through ``SYNTHETIC_CLASSES``, so every look appears. Sequence k
    (1-based) is id k - 1 of the original's split lists, as on the real train set.

    Args:
        out: the tree's root folder (the one holding ``train/``); it must not exist yet.
        sequences: number of sequences.
        frames: frames per sequence.
        size: frame (width, height) in pixels.
        seed: seeds the one numpy Generator every random draw comes from.
        val_sequences: sequences of the validation set, ``out/val/GOT-10k_Val_000001 ..`` in the same layout,
            drawn after the train set's.
        test_sequences: sequences of the test set, ``out/test/GOT-10k_Test_000001 ..`` with ``list.txt``, the
            frames and a ``groundtruth.txt`` of one line (the first frame's box), no label file and no
            ``meta_info.ini``, as the real test set; drawn after the validation set's.
    Raises:
        FileExistsError: ``out`` already exists.
        ValueError: an argument is out of range.
    """
    width, height = _frame_size(size)
    if sequences < 1 or frames < 1 or val_sequences < 0 or test_sequences < 0:
        raise ValueError("make_synthetic_got10k needs at least one sequence and one frame")
    manifest = {"dataset": "got10k", "sequences": sequences, "frames": frames, "width": width, "height": height,
                "seed": seed, **({"val_sequences": val_sequences} if val_sequences else {}),
                **({"test_sequences": test_sequences} if test_sequences else {})}
    with _new_tree(out, manifest) as (tmp, rng):
        for folder, prefix, count in (("train", "GOT-10k_Train", sequences), ("val", "GOT-10k_Val", val_sequences),
                                      ("test", "GOT-10k_Test", test_sequences)):
            names = [f"{prefix}_{k:06d}" for k in range(1, count + 1)]
            for k, name in enumerate(names):
                _write_got10k_sequence(tmp / folder / name, SYNTHETIC_CLASSES[k % len(SYNTHETIC_CLASSES)], frames,
                                       width, height, rng, first_box_only=folder == "test")
            if names:
                (tmp / folder / "list.txt").write_text("".join(f"{name}\n" for name in names))
    return Path(out).expanduser().resolve()


def make_synthetic_trackingnet(
    out: str | os.PathLike,
    chunks: int = 2,
    sequences_per_chunk: int = 3,
    frames: int = 60,
    size: tuple[int, int] = (320, 240),
    seed: int = 0,
    test_sequences: int = 0,
) -> Path:
    """Write synthetic TrackingNet training chunks at ``out`` (read by ``load_trackingnet``); return its path.

    ``out/TRAIN_0 .. TRAIN_<chunks - 1>``, each with ``anno/<seq>.txt`` (one ``x,y,w,h`` line per frame, ``0,0,0,0``
    where out of view) and ``frames/<seq>/0.jpg ..``; ``<seq>`` is a YouTube-like id drawn from the seed plus
    ``_0``. TrackingNet flags no occlusion, so fully occluded frames keep their box (a grey block hides the object).

    Args:
        out: the tree's root folder (the one holding ``TRAIN_k/``); it must not exist yet.
        chunks: number of ``TRAIN_k`` folders.
        sequences_per_chunk: sequences in each chunk.
        frames: frames per sequence.
        size: frame (width, height) in pixels.
        seed: seeds the one numpy Generator every random draw comes from.
        test_sequences: sequences of the test set, ``out/TEST/anno/<seq>.txt`` (one line: the first frame's box)
            and ``out/TEST/frames/<seq>/0.jpg ..``, as the real test set; drawn after the chunks.
    Raises:
        FileExistsError: ``out`` already exists.
        ValueError: an argument is out of range.
    """
    width, height = _frame_size(size)
    if chunks < 1 or sequences_per_chunk < 1 or frames < 1 or test_sequences < 0:
        raise ValueError("make_synthetic_trackingnet needs at least one chunk, one sequence and one frame")
    manifest = {"dataset": "trackingnet", "chunks": chunks, "sequences_per_chunk": sequences_per_chunk,
                "frames": frames, "width": width, "height": height, "seed": seed,
                **({"test_sequences": test_sequences} if test_sequences else {})}
    with _new_tree(out, manifest) as (tmp, rng):
        for chunk in range(chunks):
            for k in range(sequences_per_chunk):
                name = "".join(rng.choice(list(_YOUTUBE_ID_CHARACTERS), size=11)) + "_0"
                class_name = SYNTHETIC_CLASSES[(chunk * sequences_per_chunk + k) % len(SYNTHETIC_CLASSES)]
                _write_trackingnet_sequence(tmp / f"TRAIN_{chunk}", name, class_name, frames, width, height, rng)
        for k in range(test_sequences):
            name = "".join(rng.choice(list(_YOUTUBE_ID_CHARACTERS), size=11)) + "_0"
            _write_trackingnet_sequence(tmp / "TEST", name, SYNTHETIC_CLASSES[k % len(SYNTHETIC_CLASSES)], frames,
                                        width, height, rng, first_box_only=True)
    return Path(out).expanduser().resolve()


def check_synthetic_tree(root: Path, syn: SyntheticConfig, key: str) -> None:
    """The tree at ``root``, which holds the generator's manifest, must be the one ``syn`` (the config key ``key``)
    describes, or a run would silently read other data than its config says (for example after the demo's
    generator settings changed). The manifest's other keys (the layout's) are not compared."""
    wanted = dataclasses.asdict(syn)
    wanted["classes"] = list(syn.classes)
    check_manifest(root, wanted, key, f"set {key}=null to read the tree as it is")


def check_manifest(root: Path, wanted: dict, key: str, way_out: str) -> None:
    """The generated tree at ``root``, which holds a manifest, must hold ``wanted`` in it (the generator's settings
    that the config key ``key`` gives); the error names each difference, then the ways out, ``way_out`` last."""
    path = root / MANIFEST_FILE
    try:
        found = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise FileExistsError(f"{path} is not valid JSON ({e}); delete {root} to generate the tree again") from None
    different = {k: (found.get(k), v) for k, v in wanted.items() if found.get(k) != v}
    if different:
        listed = ", ".join(f"{k} {old!r} there, {new!r} in {key}" for k, (old, new) in different.items())
        raise FileExistsError(
            f"the synthetic tree at {root} was generated with other settings than {key} asks for ({listed}); "
            f"delete {root} to generate it again, point the source's root at another folder, or {way_out}")


# ---------------------------------------------------------------------------------------------------------------
# one sequence


@dataclass(frozen=True)
class RenderedSequence:
    """One synthetic sequence, before any file is written.

    Attributes:
        frames: uint8 (H, W, 3) BGR images, one per frame.
        boxes: int64 (N, 4) ``x, y, w, h``: the tight box of the drawn object; ``0, 0, 0, 0`` where out of view.
        occluded, out_of_view: bool (N,).
        look: the class's drawing style (``class_look``).
    """

    frames: list[np.ndarray]
    boxes: np.ndarray
    occluded: np.ndarray
    out_of_view: np.ndarray
    look: str


def render_sequence(class_name: str, frames: int, width: int, height: int,
                    rng: np.random.Generator) -> RenderedSequence:
    """Draw one sequence of ``class_name``'s look: the object moves, scales and changes colour over a panning
    background, with short fully occluded and out-of-view runs. Every random draw comes from ``rng``, in an order
    that does not depend on how the frames are written (so every dataset layout gets the same pictures)."""
    look = class_look(class_name)
    pad = max(8, min(width, height) // 8)  # the camera pans inside a background this much larger on each side
    background = _background(width + 2 * pad, height + 2 * pad, rng)
    occluded, out_of_view = _invisible_frames(frames, rng)

    # Object: base size, aspect, smooth random motion bouncing off the frame borders, periodic scale change.
    short = min(width, height)
    base = short * rng.uniform(0.12, 0.3)
    aspect = {"stripes": rng.uniform(0.6, 0.8), "disc": 1.0}.get(look, rng.uniform(0.7, 1.4))  # w / h
    base_w, base_h = base * np.sqrt(aspect), base / np.sqrt(aspect)
    scale_amp, scale_period, scale_phase = rng.uniform(0.1, 0.35), rng.uniform(20, 60), rng.uniform(0, 2 * np.pi)
    center = np.array([rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height])
    max_speed = 0.02 * short + 1.0
    velocity = rng.uniform(-1, 1, size=2) * max_speed
    camera = np.array([pad, pad], dtype=np.float64)
    camera_velocity = rng.uniform(-0.5, 0.5, size=2)
    colors = _bright_colors(4, rng)  # colour pairs drift from (0, 1) at the first frame to (2, 3) at the last
    frequency, phase_speed = rng.uniform(2.5, 5.0), rng.uniform(0.02, 0.08)

    images = []
    boxes = np.zeros((frames, 4), dtype=np.int64)
    for t in range(frames):
        s = np.exp(scale_amp * np.sin(2 * np.pi * t / scale_period + scale_phase))
        w = int(np.clip(round(base_w * s), 4, width - 2))
        h = int(np.clip(round(base_h * s), 4, height - 2))
        velocity = np.clip(velocity + rng.normal(0.0, 0.15 * max_speed, size=2), -max_speed, max_speed)
        center += velocity
        for axis, (extent, limit) in enumerate(((w, width), (h, height))):
            low, high = extent / 2, limit - extent / 2
            if center[axis] < low or center[axis] > high:
                velocity[axis] = -velocity[axis]
                center[axis] = float(np.clip(center[axis], low, high))
        camera_velocity = np.clip(camera_velocity + rng.normal(0.0, 0.1, size=2), -1.0, 1.0)
        camera = np.clip(camera + camera_velocity, 0, 2 * pad)
        cx, cy = int(camera[0]), int(camera[1])
        frame = background[cy:cy + height, cx:cx + width].copy()

        if not out_of_view[t]:
            mix = t / max(frames - 1, 1)
            color_a = (1 - mix) * colors[0] + mix * colors[2]
            color_b = (1 - mix) * colors[1] + mix * colors[3]
            mask, sprite = _sprite(look, w, h, color_a, color_b, frequency, phase_speed * t)
            x0 = int(np.clip(round(center[0] - w / 2), 0, width - w))
            y0 = int(np.clip(round(center[1] - h / 2), 0, height - h))
            region = frame[y0:y0 + h, x0:x0 + w]
            region[mask] = sprite[mask]
            rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
            boxes[t] = (x0 + cols[0], y0 + rows[0], cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1)
            if occluded[t]:
                _draw_occluder(frame, boxes[t], rng)
        images.append(frame)
    return RenderedSequence(images, boxes, occluded, out_of_view, look)


def encode_jpeg(image: np.ndarray, where: str) -> bytes:
    """``image`` (BGR) as JPEG bytes at ``JPEG_QUALITY``; ``where`` names it in the error."""
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError(f"OpenCV could not encode {where} as JPEG")
    return encoded.tobytes()


def box_lines(boxes: np.ndarray) -> str:
    """One ``x,y,w,h`` line per box."""
    return "".join(f"{x},{y},{w},{h}\n" for x, y, w, h in np.asarray(boxes).tolist())


def _write_sequence(seq_dir: Path, class_name: str, frames: int, width: int, height: int,
                    rng: np.random.Generator) -> None:
    """One sequence in LaSOT's layout."""
    img_dir = seq_dir / "img"
    img_dir.mkdir(parents=True)
    seq = render_sequence(class_name, frames, width, height, rng)
    for t, image in enumerate(seq.frames):
        (img_dir / f"{t + 1:08d}.jpg").write_bytes(encode_jpeg(image, f"frame {t + 1} of {seq_dir}"))
    (seq_dir / "groundtruth.txt").write_text(box_lines(seq.boxes))
    (seq_dir / "full_occlusion.txt").write_text(",".join(str(int(v)) for v in seq.occluded))
    (seq_dir / "out_of_view.txt").write_text(",".join(str(int(v)) for v in seq.out_of_view))
    (seq_dir / "nlp.txt").write_text(f"{_LOOK_WORDS[seq.look]} {class_name} moving over a textured background\n")


def _write_got10k_sequence(seq_dir: Path, class_name: str, frames: int, width: int, height: int,
                           rng: np.random.Generator, first_box_only: bool = False) -> None:
    """One sequence in GOT-10k's layout: frames next to the label files, boxes with 4 decimals; ``first_box_only``:
    the test set's, frames and the first box alone."""
    seq_dir.mkdir(parents=True)
    seq = render_sequence(class_name, frames, width, height, rng)
    for t, image in enumerate(seq.frames):
        (seq_dir / f"{t + 1:08d}.jpg").write_bytes(encode_jpeg(image, f"frame {t + 1} of {seq_dir}"))
    boxes = seq.boxes[:1] if first_box_only else seq.boxes
    (seq_dir / "groundtruth.txt").write_text("".join(f"{x:.4f},{y:.4f},{w:.4f},{h:.4f}\n"
                                                     for x, y, w, h in boxes.tolist()))
    if first_box_only:
        return
    (seq_dir / "absence.label").write_text("".join(f"{int(v)}\n" for v in seq.out_of_view))
    # The object is drawn whole or not at all: 8 eighths visible, or none.
    hidden = seq.occluded | seq.out_of_view
    (seq_dir / "cover.label").write_text("".join("0\n" if v else "8\n" for v in hidden))
    (seq_dir / "meta_info.ini").write_text(
        "[METAINFO]\nurl: synthetic\nbegin: 00:00:00\nend: 00:00:00\nanno_fps: 10Hz\n"
        f"object_class: {class_name}\nmotion_class: moving\nmajor_class: synthetic object\nroot_class: object\n"
        f"motion_adverb: smoothly\nresolution: ({width}, {height})\n")


def _write_trackingnet_sequence(chunk_dir: Path, name: str, class_name: str, frames: int, width: int, height: int,
                                rng: np.random.Generator, first_box_only: bool = False) -> None:
    """One sequence in TrackingNet's layout: ``anno/<name>.txt`` and ``frames/<name>/0.jpg ..``;
    ``first_box_only``: the test set's, whose box file holds the first frame's box alone."""
    frames_dir = chunk_dir / "frames" / name
    frames_dir.mkdir(parents=True)
    (chunk_dir / "anno").mkdir(exist_ok=True)
    seq = render_sequence(class_name, frames, width, height, rng)
    for t, image in enumerate(seq.frames):
        (frames_dir / f"{t}.jpg").write_bytes(encode_jpeg(image, f"frame {t} of {frames_dir}"))
    boxes = seq.boxes[:1] if first_box_only else seq.boxes
    (chunk_dir / "anno" / f"{name}.txt").write_text("".join(f"{x:.2f},{y:.2f},{w:.2f},{h:.2f}\n"
                                                            for x, y, w, h in boxes.tolist()))


def _invisible_frames(frames: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (frames,) masks of fully occluded and out-of-view frames, in short runs after the first frames.

    At most about a third of a sequence is invisible, and the first 5 frames are always visible (a tracker is
    initialised on the first frame).
    """
    occluded = np.zeros(frames, dtype=bool)
    out_of_view = np.zeros(frames, dtype=bool)
    budget = frames // 3
    if frames < 12:
        return occluded, out_of_view
    for flags, runs in ((occluded, int(rng.integers(1, 3))), (out_of_view, int(rng.integers(0, 2)))):
        for _ in range(runs):
            length = int(rng.integers(2, 5))
            start = int(rng.integers(5, frames - length + 1))
            if budget >= length:
                flags[start:start + length] = True
                budget -= length
    out_of_view &= ~occluded
    return occluded, out_of_view


def _background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A dark textured BGR image: smooth colour blobs + fine noise + a few lines and boxes, all channels <= 90."""
    coarse = rng.uniform(0, 55, size=(max(2, height // 24), max(2, width // 24), 3)).astype(np.float32)
    image = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR)
    image += rng.uniform(0, 20, size=(height, width, 3)).astype(np.float32)
    image = np.clip(image, 0, 75).astype(np.uint8)
    for _ in range(int(rng.integers(6, 14))):
        p1 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        p2 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        color = tuple(int(c) for c in rng.integers(0, _BACKGROUND_MAX + 1, size=3))
        if rng.random() < 0.5:
            cv2.line(image, p1, p2, color, int(rng.integers(1, 4)))
        else:
            cv2.rectangle(image, p1, p2, color, int(rng.integers(1, 3)))
    return image


def _bright_colors(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 3) float BGR colours of luminance >= _OBJECT_MIN_LUMA."""
    out = np.empty((n, 3))
    weights = np.array([0.114, 0.587, 0.299])  # BGR luminance weights
    for i in range(n):
        color = rng.uniform(60, 255, size=3)
        luma = float(color @ weights)
        if luma < _OBJECT_MIN_LUMA:  # lift towards white until bright enough
            lift = (_OBJECT_MIN_LUMA - luma) / (255 - luma)
            color = color + lift * (255 - color)
        out[i] = color
    return out


def _sprite(look: str, w: int, h: int, color_a: np.ndarray, color_b: np.ndarray, frequency: float,
            phase: float) -> tuple[np.ndarray, np.ndarray]:
    """The object at w x h pixels: a bool (h, w) mask of its pixels and a uint8 (h, w, 3) BGR texture."""
    xs = (np.arange(w) + 0.5) / w
    ys = (np.arange(h) + 0.5) / h
    x, y = np.meshgrid(xs, ys)
    dx, dy = x - 0.5, y - 0.5
    if look == "stripes":
        mask = np.ones((h, w), dtype=bool)
        pattern = np.sin(2 * np.pi * (frequency * y + phase)) > 0
    elif look == "disc":
        r = np.sqrt(dx * dx + dy * dy)
        mask = r <= 0.5
        pattern = np.sin(2 * np.pi * (frequency * r - phase)) > 0
    elif look == "checker":
        mask = np.ones((h, w), dtype=bool)
        pattern = (np.sin(2 * np.pi * (0.5 * frequency * x + phase)) > 0) ^ (np.sin(np.pi * frequency * y) > 0)
    elif look == "diamond":
        mask = np.abs(dx) + np.abs(dy) <= 0.5
        pattern = np.sin(2 * np.pi * (frequency * (x + y) + phase)) > 0
    elif look == "triangle":
        mask = y >= np.abs(2 * dx)
        pattern = np.sin(2 * np.pi * (frequency * x - phase)) > 0
    elif look == "rings":
        mask = np.ones((h, w), dtype=bool)
        pattern = np.sin(2 * np.pi * (frequency * np.maximum(np.abs(dx), np.abs(dy)) - phase)) > 0
    else:
        raise ValueError(f"unknown look {look!r}; known: stripes, disc, {', '.join(_OTHER_LOOKS)}")
    if not mask.any():  # a 1-2 pixel shape can miss every pixel centre; keep its middle pixel
        mask[h // 2, w // 2] = True
    # Both colours are bright; the texture alternates between them at 85-100 % intensity.
    texture = np.where(pattern[..., None], color_a, 0.85 * color_b)
    return mask, np.clip(texture, 0, 255).astype(np.uint8)


def _draw_occluder(frame: np.ndarray, box: np.ndarray, rng: np.random.Generator) -> None:
    """Cover the object box (plus a margin) with a grey noisy block, in place."""
    height, width = frame.shape[:2]
    x, y, w, h = (int(v) for v in box)
    mx, my = int(rng.integers(2, max(3, w // 3))), int(rng.integers(2, max(3, h // 3)))
    x0, y0 = max(0, x - mx), max(0, y - my)
    x1, y1 = min(width, x + w + mx), min(height, y + h + my)
    low, high = _OCCLUDER_RANGE
    frame[y0:y1, x0:x1] = rng.integers(low, high + 1, size=(y1 - y0, x1 - x0, 1), dtype=np.uint8)


# ---------------------------------------------------------------------------------------------------------------
# COCO 2017 and a folder of one's own sequences


def make_synthetic_coco(
    out: str | os.PathLike,
    classes: tuple[str, ...] | list[str] = ("person", "car", "dog", "cat"),
    images: int = 8,
    objects_per_image: int = 3,
    size: tuple[int, int] = (320, 240),
    seed: int = 0,
) -> Path:
    """Write a synthetic COCO 2017 train set at ``out`` (read by ``load_coco``) and return its absolute path.

    ``out/train2017/000000000001.jpg ..`` and ``out/annotations/instances_train2017.json`` in COCO's format (one
    line; ``images`` with id, file_name, width, height; ``annotations`` with id, image_id, category_id, bbox
    ``[x, y, w, h]``, area (the object's pixel count), iscrowd and segmentation; ``categories`` with id, name,
    supercategory). Image i shows ``objects_per_image`` objects of different classes (``classes`` in turn), at least
    4 pixels apart; each bbox is the tight box of its object's pixels. The first image's first object is a crowd
    annotation (iscrowd 1, an RLE segmentation), and the last image has one more annotation with a zero-width box and
    nothing drawn: the two kinds the reader leaves out. An object that finds no free place is left out.

    Args:
        out: the tree's root folder (the one holding ``annotations/``); it must not exist yet.
        classes: category names; at least ``objects_per_image`` of them.
        images: number of images.
        objects_per_image: objects drawn in each image.
        size: image (width, height) in pixels.
        seed: seeds the one numpy Generator every random draw comes from.
    Raises:
        FileExistsError: ``out`` already exists.
        ValueError: an argument is out of range.
    """
    width, height = _frame_size(size)
    if images < 1 or not 1 <= objects_per_image <= len(classes) or len(set(classes)) != len(classes):
        raise ValueError(f"make_synthetic_coco needs at least one image and 1 <= objects_per_image <= the number of "
                         f"distinct classes, got {images} images, {objects_per_image} objects, classes {classes}")
    manifest = {"dataset": "coco", "classes": list(classes), "images": images, "objects_per_image": objects_per_image,
                "width": width, "height": height, "seed": seed}
    category_ids = {name: k + 1 for k, name in enumerate(classes)}
    image_entries, annotations = [], []
    with _new_tree(out, manifest) as (tmp, rng):
        (tmp / "train2017").mkdir()
        for image_id in range(1, images + 1):
            file_name = f"{image_id:012d}.jpg"
            names = [classes[(image_id - 1 + j) % len(classes)] for j in range(objects_per_image)]
            image, objects = _render_still(names, width, height, rng)
            (tmp / "train2017" / file_name).write_bytes(encode_jpeg(image, f"image {file_name}"))
            image_entries.append({"license": 1, "file_name": file_name, "height": height, "width": width,
                                  "id": image_id})
            for name, box, mask in objects:
                crowd = image_id == 1 and not annotations
                x, y, w, h = (float(v) for v in box)
                segmentation = (_rle(mask) if crowd else [[x, y, x + w, y, x + w, y + h, x, y + h]])
                annotations.append({"id": 100 + len(annotations), "image_id": image_id,
                                    "category_id": category_ids[name], "bbox": [x, y, w, h],
                                    "area": float(mask.sum()), "iscrowd": int(crowd),
                                    "segmentation": segmentation})
        annotations.append({"id": 100 + len(annotations), "image_id": images, "category_id": 1,
                            "bbox": [1.0, 1.0, 0.0, 12.0], "area": 0.0, "iscrowd": 0,
                            "segmentation": [[1.0, 1.0, 1.0, 1.0, 1.0, 13.0, 1.0, 13.0]]})
        categories = [{"supercategory": "synthetic", "id": i, "name": n} for n, i in category_ids.items()]
        instances = {"info": {"description": "seqtrack-accel synthetic COCO 2017", "version": "1.0"},
                     "licenses": [{"id": 1, "name": "synthetic", "url": ""}], "images": image_entries,
                     "annotations": annotations, "categories": categories}
        (tmp / "annotations").mkdir()
        (tmp / "annotations" / "instances_train2017.json").write_text(json.dumps(instances, separators=(",", ":")))
    return Path(out).expanduser().resolve()


def make_synthetic_custom(
    out: str | os.PathLike,
    classes: tuple[str, ...] | list[str] = ("cat", "dog"),
    sequences_per_class: int = 3,
    frames: int = 30,
    size: tuple[int, int] = (160, 120),
    seed: int = 0,
    class_folders: bool = True,
) -> Path:
    """Write a folder of sequences in the custom format (read by ``load_custom``) and return its absolute path.

    Sequences ``<class>-1 .. <class>-<sequences_per_class>``, in class folders ``out/<class>/`` or (with
    ``class_folders=False``) directly under ``out``. Frames are named ``1.jpg, 2.jpg, ..`` (no zero padding, so only
    a natural sort orders them); sequence k (1-based) keeps them in an ``img/`` subfolder when k is even, as PNG when
    k is a multiple of 3. Frames without a visible target (fully occluded or out of view, from ``render_sequence``):
    odd k writes an empty groundtruth line; even k writes ``0,0,0,0`` where out of view, the box where occluded, and
    an ``absence.label`` with 1 for both.

    Args:
        out: the dataset's root folder; it must not exist yet.
        classes: class names (folder names).
        sequences_per_class: sequences per class.
        frames: frames per sequence (at least 12 for some invisible frames).
        size: frame (width, height) in pixels.
        seed: seeds the one numpy Generator every random draw comes from.
        class_folders: group the sequences in one folder per class.
    Raises:
        FileExistsError: ``out`` already exists.
        ValueError: an argument is out of range.
    """
    width, height = _frame_size(size)
    _check_classes("make_synthetic_custom", classes, sequences_per_class, frames, dash=True)
    manifest = {"dataset": "custom", "classes": list(classes), "sequences_per_class": sequences_per_class,
                "frames": frames, "width": width, "height": height, "seed": seed, "class_folders": class_folders}
    with _new_tree(out, manifest) as (tmp, rng):
        for class_name in classes:
            for k in range(1, sequences_per_class + 1):
                seq_dir = (tmp / class_name if class_folders else tmp) / f"{class_name}-{k}"
                _write_custom_sequence(seq_dir, k, class_name, frames, width, height, rng)
    return Path(out).expanduser().resolve()


def _write_custom_sequence(seq_dir: Path, k: int, class_name: str, frames: int, width: int, height: int,
                           rng: np.random.Generator) -> None:
    frames_dir = seq_dir / "img" if k % 2 == 0 else seq_dir
    frames_dir.mkdir(parents=True)
    seq = render_sequence(class_name, frames, width, height, rng)
    for t, image in enumerate(seq.frames):
        if k % 3 == 0:
            ok, encoded = cv2.imencode(".png", image)
            if not ok:
                raise RuntimeError(f"OpenCV could not encode frame {t + 1} of {seq_dir} as PNG")
            (frames_dir / f"{t + 1}.png").write_bytes(encoded.tobytes())
        else:
            (frames_dir / f"{t + 1}.jpg").write_bytes(encode_jpeg(image, f"frame {t + 1} of {seq_dir}"))
    hidden = seq.occluded | seq.out_of_view
    if k % 2 == 0:
        (seq_dir / "groundtruth.txt").write_text(box_lines(seq.boxes))  # 0,0,0,0 where out of view
        (seq_dir / "absence.label").write_text("".join(f"{int(v)}\n" for v in hidden))
    else:
        lines = box_lines(seq.boxes).splitlines()
        (seq_dir / "groundtruth.txt").write_text("".join("\n" if v else f"{line}\n" for line, v in zip(lines, hidden)))


def _render_still(classes: list[str], width: int, height: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[str, np.ndarray, np.ndarray]]]:
    """One image with an object of each class: the first as ``render_sequence`` draws it over its background, the
    others moved to free places at least 4 pixels from every other object. Returns the BGR image and, per object
    placed, its class, tight box ``x, y, w, h`` and bool (H, W) mask of its pixels in the image."""
    gap = 4
    first = render_sequence(classes[0], 1, width, height, rng)
    image = first.frames[0].copy()
    objects = [(classes[0], first.boxes[0], _bright(image) & _inside(first.boxes[0], width, height))]
    for class_name in classes[1:]:
        drawn = render_sequence(class_name, 1, width, height, rng)
        x, y, w, h = (int(v) for v in drawn.boxes[0])
        patch = drawn.frames[0][y:y + h, x:x + w]
        patch_mask = _bright(patch)  # the frame is one object over a dark background: its bright pixels
        for _ in range(100):
            px, py = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
            if all(px >= bx + bw + gap or bx >= px + w + gap or py >= by + bh + gap or by >= py + h + gap
                   for _, (bx, by, bw, bh), _ in objects):
                break
        else:
            continue
        image[py:py + h, px:px + w][patch_mask] = patch[patch_mask]
        mask = np.zeros((height, width), dtype=bool)
        mask[py:py + h, px:px + w] = patch_mask
        objects.append((class_name, np.array([px, py, w, h]), mask))
    return image, objects


def _bright(image: np.ndarray) -> np.ndarray:
    """bool: the pixels of a synthetic BGR image that belong to an object (luminance above 130)."""
    return image.astype(np.float32) @ np.array([0.114, 0.587, 0.299], dtype=np.float32) > 130


def _inside(box: np.ndarray, width: int, height: int) -> np.ndarray:
    x, y, w, h = (int(v) for v in box)
    mask = np.zeros((height, width), dtype=bool)
    mask[y:y + h, x:x + w] = True
    return mask


def _rle(mask: np.ndarray) -> dict:
    """COCO's uncompressed RLE of a bool (H, W) mask: run lengths in column-major order, starting with a 0-run."""
    flat = mask.ravel(order="F")
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate([[0], edges, [flat.size]])).tolist()
    return {"counts": ([0] + runs) if flat[0] else runs, "size": [int(mask.shape[0]), int(mask.shape[1])]}
