"""A sequence of any dataset: its frames, boxes and visibility, as the sampler and the tracker read them.

Every reader (LaSOT, GOT-10k, TrackingNet, COCO, a folder of your own) returns ``Sequence`` objects; frames are
found by a file-name pattern (or an explicit list), so a sequence of thousands of frames holds no list of paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


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


def check_frames(frames_dir: Path, groundtruth: Path, n: int, frame_name: str = "{:08d}.jpg", first_frame: int = 1,
                 *, fix: str = "re-extract the sequence", past_last: bool = True) -> None:
    """The first and the last of the ``n`` frames ``groundtruth`` names exist and (``past_last``) the one after does
    not: 3 stats instead of a listing of the folder (LaSOT's 2.8M frames). A missing frame or a short groundtruth is
    an error naming the file and saying to ``fix`` it."""
    for i in (0, n - 1):
        frame = frames_dir / frame_name.format(i + first_frame)
        if not frame.is_file():
            first = frame_name.format(first_frame)
            raise FileNotFoundError(f"{frame} is missing ({groundtruth} has {n} lines, one per frame {first} ...); "
                                    f"{fix}")
    after = frame_name.format(n + first_frame)
    if past_last and (frames_dir / after).exists():
        raise ValueError(f"{groundtruth} is short: it has {n} lines but frame {after} exists (line {n + 1} onwards "
                         f"missing); {fix}")
