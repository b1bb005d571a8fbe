"""A sequence of any dataset: its frames, boxes and visibility, as the sampler and the tracker read them.

Every reader (LaSOT, GOT-10k, TrackingNet, COCO, a folder of your own) returns ``Sequence`` objects; frames are
found by a file-name pattern (or an explicit list), so a sequence of thousands of frames holds no list of paths.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..files import read_text


@dataclass(frozen=True, eq=False)
class Sequence:
    """One sequence.

    Attributes:
        name: unique within its dataset, e.g. ``"book-3"``, ``"GOT-10k_Train_000001"``.
        class_name: the object class (``""`` where the dataset has none).
        frames_dir: the folder holding the frames.
        boxes: float32 (N, 4) ``x, y, w, h`` in pixels, top-left origin; read-only.
        visible: bool (N,): the target is in the frame and not fully occluded (``w > 0 and h > 0`` at least);
            read-only.
        frame_name: file name of frame ``i`` (0-based) as ``frame_name.format(i + first_frame)``.
        first_frame: the number of the first frame's file (LaSOT and GOT-10k: 1, TrackingNet: 0).
        frame_files: explicit file names, one per frame, instead of ``frame_name`` (custom folders, COCO).
        still: one image rather than a video (COCO): templates and search crops all come from it.
    """

    name: str
    class_name: str
    frames_dir: Path
    boxes: np.ndarray
    visible: np.ndarray
    frame_name: str = "{:08d}.jpg"
    first_frame: int = 1
    frame_files: tuple[str, ...] = ()
    still: bool = False

    def __post_init__(self):
        if self.boxes.ndim != 2 or self.boxes.shape[1] != 4 or self.visible.shape != (self.boxes.shape[0],):
            raise ValueError(
                f"sequence {self.name}: boxes must be (N, 4) and visible (N,), got {self.boxes.shape} and "
                f"{self.visible.shape}"
            )
        if self.frame_files and len(self.frame_files) != self.boxes.shape[0]:
            raise ValueError(f"sequence {self.name}: {len(self.frame_files)} frame files for "
                             f"{self.boxes.shape[0]} boxes")

    def frame_path(self, i: int) -> Path:
        """Path of frame ``i`` (0-based)."""
        if self.frame_files:
            return self.frames_dir / self.frame_files[i]
        return self.frames_dir / self.frame_name.format(i + self.first_frame)

    def __len__(self) -> int:
        return int(self.boxes.shape[0])


def box_file_lines(path: Path, what: str) -> list[str]:
    """The lines of an annotation file of one ``x,y,w,h`` line per frame, trailing blank lines dropped; a missing or
    empty file is an error naming it (``what`` says what needs the file)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; every {what} needs one x,y,w,h line per frame")
    lines = read_text(path).splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise ValueError(f"{path} is empty; it needs one x,y,w,h line per frame")
    return lines


def first_box_only(name: str, class_name: str, frames_dir: Path, box: np.ndarray, frames: int, **pattern) -> Sequence:
    """A sequence of a benchmark's test set, whose annotation is the first frame's box only (GOT-10k test,
    TrackingNet test): ``frames`` frames, boxes NaN after the first, visible only at the first (when it has area)."""
    boxes = np.full((frames, 4), np.nan, dtype=np.float32)
    boxes[0] = box
    visible = np.zeros(frames, dtype=bool)
    visible[0] = box[2] > 0 and box[3] > 0
    boxes.setflags(write=False)
    visible.setflags(write=False)
    return Sequence(name=name, class_name=class_name, frames_dir=frames_dir, boxes=boxes, visible=visible, **pattern)


def parse_box_rows(path: Path, lines: list[str], split: Callable[[str], list[str]], expected: str,
                   values: str) -> np.ndarray:
    """(N, 4) float64 of ``lines``, each cut into four fields by ``split``; the first line that is not four numbers
    is an error naming ``path`` and the line (``expected`` and ``values`` say what it should hold)."""
    rows = []
    for number, line in enumerate(lines, start=1):
        parts = split(line)
        if len(parts) != 4:
            raise ValueError(f"{path} line {number}: expected {expected}, got {len(parts)}: {line!r}")
        try:
            rows.append([float(p) for p in parts])
        except ValueError:
            raise ValueError(f"{path} line {number}: values must be {values}, got {line!r}") from None
    return np.array(rows, dtype=np.float64)


def read_box_lines(path: Path, what: str = "sequence") -> np.ndarray:
    """float32 (N, 4) boxes from a file of ``x,y,w,h`` lines (commas; LaSOT, GOT-10k and TrackingNet's format).

    Errors name the file and the 1-based line and say what to do; ``what`` says what needs the file.
    """
    path = Path(path)
    lines = box_file_lines(path, what)
    fields = ",".join(lines).split(",")
    values = None
    if len(fields) == 4 * len(lines):
        try:
            values = np.array(fields, dtype=np.float64).reshape(-1, 4)
        except ValueError:
            values = None
    if values is None:  # slow path, only taken for a malformed file: find and name the offending line
        values = parse_box_rows(path, lines, lambda line: line.split(","), "4 comma-separated values x,y,w,h",
                                "numbers")
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        number = int(np.flatnonzero(bad)[0]) + 1
        raise ValueError(f"{path} line {number}: NaN or infinite value in {lines[number - 1]!r}; fix the annotation")
    return values.astype(np.float32)
