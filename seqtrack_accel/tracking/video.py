"""Frames in and pictures out for tracking your own video (``seqtrack-track``).

    frames = open_frames("clip.mp4")  # a video file, a folder of frames, or a glob such as "shots/*.png"
    frame_iter = iter(frames)
    first = next(frame_iter)
    tracker.initialize(first, box)
    with staged_files(Path("out/annotated.mp4")) as (video_tmp,):
        with VideoWriter(video_tmp, frames.fps or 30.0, first.shape[1], first.shape[0]) as video:
            video.write(annotate(first, box, 1))
            for number, frame in enumerate(frame_iter, start=2):
                box, confidence = tracker.track(frame)
                video.write(annotate(frame, box, number, confidence))

Frames are RGB uint8 (H, W, 3) everywhere, as ``SeqTrackTracker`` takes them; OpenCV's BGR stays inside this module.
The codec follows the file's extension (``VIDEO_CODECS``). ``.mp4`` is MPEG-4 Part 2 (fourcc ``mp4v``): the codec the
FFmpeg inside OpenCV's pip wheels writes and reads back (H.264, ``avc1``, and AV1 are not in them); VLC, mpv and
ffmpeg play it, browsers do not. ``.webm`` is VP8, which browsers play (``seqtrack-app`` shows it): the wheel writes
VP8 and VP9, and VP8 costs about 32 ms a 640x480 frame on one core against VP9's 236 ms and mp4v's 3 ms (measured
on this project's 2-core CI machine with opencv-python-headless 5.1). FFmpeg prints one line saying the fourcc
``VP80`` "is not supported" with WebM before it picks VP8's own tag; it is harmless.
"""

from __future__ import annotations

import glob
import itertools
import logging
import math
import os
import re
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from ..data.custom import natural_key
from ..data.image import decode_image, read_image
from ..data.processing import crop_window

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_CODECS = {".mp4": "mp4v", ".webm": "VP80"}  # file extension -> OpenCV fourcc

BOX_COLOR = (0, 230, 0)  # RGB
SEARCH_COLOR = (255, 200, 0)
TEXT_COLOR = (255, 255, 255)
LABEL_BACKGROUND = (0, 0, 0)


# ---------------------------------------------------------------------------------------------------------------
# frame sources


class ImageFrames:
    """Frames read from image files, in the given order; every frame must have the first one's size.

    Attributes:
        paths: the files, one per frame.
        name: what the frames are called in messages and the default output folder.
        count: the number of frames.
        fps: None (image files carry no frame rate).
    """

    fps = None

    def __init__(self, paths: list[Path], name: str):
        self.paths = paths
        self.name = name
        self.count = len(paths)

    def __iter__(self) -> Iterator[np.ndarray]:
        """Yields uint8 (H, W, 3) RGB frames; a file that cannot be read or decoded is an error naming it."""
        return _same_size(self.paths, read_image)


def _same_size(items: list, read: Callable[[object], np.ndarray], where: Callable[[object], str] = str
               ) -> Iterator[np.ndarray]:
    """``read(item)`` of each item, checking that every frame has the first one's size."""
    size = None
    for item in items:
        frame = read(item)
        if size is None:
            size = frame.shape
        elif frame.shape != size:
            raise ValueError(f"frame {where(item)} is {frame.shape[1]}x{frame.shape[0]} pixels where the first frame, "
                             f"{where(items[0])}, is {size[1]}x{size[0]}: every frame of a video needs one size")
        yield frame


class ZipFrames:
    """The image files in a zip archive (``IMAGE_EXTENSIONS``, in any folder of it; hidden files and macOS's
    ``__MACOSX`` copies skipped), in natural order of their names, decoded from the archive without extracting it.

    Attributes:
        archive: the zip file.
        members: the frames' names in the archive, one per frame.
        name: the archive's stem; count: the number of frames; fps: None.
    """

    fps = None

    def __init__(self, archive: Path):
        self.archive = archive
        self.name = archive.stem
        try:
            with zipfile.ZipFile(archive) as opened:
                names = [info.filename for info in opened.infolist() if not info.is_dir()]
        except (zipfile.BadZipFile, OSError) as e:
            raise ValueError(f"cannot read zip archive {archive} ({e}); give a complete zip of frames, or the "
                             "video file") from None
        self.members = sorted((n for n in names if Path(n).suffix.lower() in IMAGE_EXTENSIONS
                               and not any(part.startswith(".") or part == "__MACOSX" for part in Path(n).parts)),
                              key=natural_key)
        if not self.members:
            raise FileNotFoundError(f"zip archive {archive} holds no frames: no {', '.join(IMAGE_EXTENSIONS)} files "
                                    "in it")
        self.count = len(self.members)

    def __iter__(self) -> Iterator[np.ndarray]:
        """Yields uint8 (H, W, 3) RGB frames; a member that cannot be decoded is an error naming it."""
        with zipfile.ZipFile(self.archive) as opened:
            yield from _same_size(self.members, lambda member: decode_image(opened.read(member), self._where(member)),
                                  self._where)

    def _where(self, member: str) -> str:
        return f"{self.archive}:{member}"


# Frame folders named for what they hold, inside a sequence's folder (LaSOT's img/, TNL2K's imgs/): the sequence's
# folder names the frames instead, so that `seqtrack-track .../coin-3/img` writes coin-3.txt.
FRAME_FOLDER_NAMES = ("img", "imgs")


def _frames_name(folder: Path) -> str:
    folder = folder.resolve()
    return folder.parent.name if folder.name.lower() in FRAME_FOLDER_NAMES and folder.parent.name else folder.name


def folder_frames(folder: Path) -> ImageFrames:
    """The image files of ``folder`` (``IMAGE_EXTENSIONS``, any case; hidden files skipped) in natural order."""
    paths = sorted((p for p in folder.iterdir()
                    if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")),
                   key=lambda p: natural_key(p.name))
    if not paths:
        raise FileNotFoundError(f"folder {folder} holds no frames: no {', '.join(IMAGE_EXTENSIONS)} files in it")
    return ImageFrames(paths, _frames_name(folder))


def glob_frames(pattern: str) -> ImageFrames:
    """The files matching ``pattern`` (``**`` matches folders at any depth) in natural order of their paths."""
    paths = sorted((Path(p) for p in glob.glob(os.path.expanduser(pattern), recursive=True) if os.path.isfile(p)),
                   key=lambda p: natural_key(str(p)))
    if not paths:
        raise FileNotFoundError(f"no file matches {pattern}")
    # Named after the folder the pattern starts from: "clips/run1/*.jpg" -> run1.
    folder = Path(*itertools.takewhile(lambda part: not glob.has_magic(part), Path(pattern).expanduser().parts))
    return ImageFrames(paths, _frames_name(folder))


class VideoFrames:
    """The frames of a video file, decoded by OpenCV (FFmpeg).

    Opened and its first frame decoded at once, so a file OpenCV cannot read fails here, naming it.

    Attributes:
        path, name (the file's stem), fps (None where the file gives none), count (the frame count the container
            declares, an estimate for some formats; None where it gives none).
    """

    def __init__(self, path: Path):
        self.path = path
        self.name = path.stem
        self._capture = cv2.VideoCapture(str(path))
        ok, self._first = self._capture.read() if self._capture.isOpened() else (False, None)
        if not ok:
            self._capture.release()
            raise ValueError(f"cannot read video {path}: OpenCV (FFmpeg) cannot open or decode it; is it a complete "
                             "video file? A folder of frames or a glob ('frames/*.jpg') works too")
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if math.isfinite(fps) and fps > 0 else None
        count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self.count = count if count > 0 else None

    def __iter__(self) -> Iterator[np.ndarray]:
        """Yields uint8 (H, W, 3) RGB frames, once (the file is read as it goes)."""
        if self._first is None:
            raise RuntimeError(f"the frames of {self.path} were already read; open it again")
        frame, self._first = self._first, None
        read = 0
        try:
            while frame is not None:
                yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                read += 1
                ok, frame = self._capture.read()
                frame = frame if ok else None
        finally:
            self._capture.release()
        # OpenCV reports a stream that breaks off as its end; the declared count is only an estimate, so a
        # shortfall is a warning, not an error.
        if self.count is not None and read < self.count:
            logger.warning("%s: decoded %d frames of the %d its header declares; the file may be truncated",
                           self.path, read, self.count)


def open_frames(source: str) -> VideoFrames | ImageFrames | ZipFrames:
    """The frames of ``source``: a video file (anything OpenCV reads), a folder of image files, a ``.zip`` of image
    files, or a glob.

    Raises:
        FileNotFoundError: nothing at ``source``, a folder or zip without image files, a glob that matches no file.
        ValueError: a file OpenCV cannot read as a video, a ``.zip`` that is not a zip archive.
    """
    path = Path(source).expanduser()
    if path.is_dir():
        return folder_frames(path)
    if path.is_file() and path.suffix.lower() == ".zip":
        return ZipFrames(path)
    if path.is_file():
        return VideoFrames(path)
    if glob.has_magic(source):
        return glob_frames(source)
    raise FileNotFoundError(f"{source} does not exist: give a video file, a folder or zip of frames, or a quoted "
                            "glob such as 'frames/*.jpg'")


# ---------------------------------------------------------------------------------------------------------------
# the first box


def check_box_in_frame(box_xywh: np.ndarray, width: int, height: int) -> None:
    """ValueError unless the box overlaps the ``width`` x ``height`` frame (it may stick out of it)."""
    x, y, w, h = (float(v) for v in box_xywh)
    if x >= width or y >= height or x + w <= 0 or y + h <= 0:
        raise ValueError(f"the box {_box_text(box_xywh)} (x,y,w,h) lies outside the first frame, which is "
                         f"{width}x{height} pixels")


def _box_text(box_xywh: np.ndarray) -> str:
    return ",".join(f"{float(v):g}" for v in box_xywh)


def select_problem() -> str | None:
    """Why ``cv2.selectROI`` cannot open a window here, or None when it can."""
    problems = []
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        problems.append("there is no display (neither DISPLAY nor WAYLAND_DISPLAY is set)")
    gui = re.search(r"^\s*GUI:\s*(\S+)", cv2.getBuildInformation(), re.M)
    if gui is None or gui.group(1).upper() == "NONE":
        problems.append(f"this OpenCV {cv2.__version__} has no GUI support (the opencv-python-headless wheel; "
                        "opencv-python has it)")
    return " and ".join(problems) or None


def select_box(frame: np.ndarray) -> np.ndarray:
    """The box the user draws on ``frame`` (RGB) with ``cv2.selectROI`` -> (4,) float64 x,y,w,h.

    Raises:
        RuntimeError: no window can be opened here (``select_problem``).
        ValueError: the window was closed without a box.
    """
    problem = select_problem()
    if problem is not None:
        raise RuntimeError(problem)
    title = "seqtrack-track: drag a box around the target, then Enter (c cancels)"
    x, y, w, h = cv2.selectROI(title, cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), showCrosshair=True, fromCenter=False)
    cv2.destroyWindow(title)
    if w <= 0 or h <= 0:
        raise ValueError("no box was drawn on the first frame; draw one, or give it with --box x,y,w,h")
    return np.array([x, y, w, h], dtype=np.float64)


# ---------------------------------------------------------------------------------------------------------------
# pictures


def annotate(frame: np.ndarray, box_xywh: np.ndarray, frame_number: int, confidence: float | None = None,
             search_xywh: np.ndarray | None = None) -> np.ndarray:
    """A copy of ``frame`` (RGB) with the box, the frame number and the confidence drawn on it.

    Args:
        box_xywh: the target's box, pixels.
        frame_number: 1-based, as shown.
        confidence: the tracker's (0..40); None for the first frame, whose box was given.
        search_xywh: the search region to outline (a square), or None.
    """
    out = frame.copy()
    height, width = out.shape[:2]
    thickness = max(1, round(min(width, height) / 240))
    if search_xywh is not None:
        _rectangle(out, search_xywh, SEARCH_COLOR, thickness)
    _rectangle(out, box_xywh, BOX_COLOR, thickness + 1)
    label = f"#{frame_number} " + ("given box" if confidence is None else f"conf {confidence:.1f}")
    _label(out, label)
    return out


def search_region(previous_xywh: np.ndarray, factor: float) -> np.ndarray:
    """The square the tracker crops around ``previous_xywh`` (x,y,w,h pixels) for the next frame, as x,y,w,h."""
    x1, y1, side = crop_window(previous_xywh, factor)
    return np.array([x1, y1, side, side], dtype=np.float64)


def _rectangle(image: np.ndarray, box_xywh: np.ndarray, color: tuple[int, int, int], thickness: int) -> None:
    x, y, w, h = (float(v) for v in box_xywh)
    cv2.rectangle(image, (round(x), round(y)), (round(x + w) - 1, round(y + h) - 1), color, thickness, cv2.LINE_AA)


def _label(image: np.ndarray, text: str) -> None:
    """``text`` in the top-left corner, white on black, sized to the frame (legible from 96 px to 4K)."""
    scale = max(0.3, image.shape[0] / 600)
    thickness = max(1, round(scale * 1.5))
    (text_w, text_h), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    pad = max(2, round(4 * scale))
    cv2.rectangle(image, (0, 0), (text_w + 2 * pad, text_h + baseline + 2 * pad), LABEL_BACKGROUND, cv2.FILLED)
    cv2.putText(image, text, (pad, pad + text_h), cv2.FONT_HERSHEY_SIMPLEX, scale, TEXT_COLOR, thickness,
                cv2.LINE_AA)


class EvenlySpacedFrames:
    """About ``count`` evenly spaced frames of a stream whose length is not known in advance, in bounded memory.

    Keeps every ``stride``-th frame's thumbnail and doubles the stride (dropping every other kept frame) whenever
    more than ``OVERSAMPLE * count`` are kept, so a picked frame is at most 1/8 of the spacing from its even
    position; the last frame offered is kept too, so the pick spans the whole stream.

    Args:
        count: frames to pick.
        width: thumbnails are resized to this width (never enlarged).
    """

    OVERSAMPLE = 8

    def __init__(self, count: int, width: int = 320):
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        self.count = count
        self.width = width
        self.stride = 1
        self._kept: dict[int, np.ndarray] = {}
        self._last: tuple[int, np.ndarray] | None = None

    def add(self, index: int, frame: np.ndarray) -> None:
        """Offer frame ``index`` (0-based, increasing by 1); only a reference to the last one is held."""
        self._last = (index, frame)
        if index % self.stride:
            return
        self._kept[index] = self._thumbnail(frame)
        if len(self._kept) > self.OVERSAMPLE * self.count:
            self.stride *= 2
            self._kept = {i: f for i, f in self._kept.items() if i % self.stride == 0}

    def picked(self) -> list[tuple[int, np.ndarray]]:
        """``(index, thumbnail)`` of up to ``count`` frames nearest to evenly spaced positions, first and last
        included."""
        if self._last is None:
            return []
        last_index, last_frame = self._last
        candidates = dict(self._kept)
        candidates.setdefault(last_index, self._thumbnail(last_frame))
        indices = np.array(sorted(candidates))
        targets = np.linspace(0, last_index, min(self.count, last_index + 1))
        chosen = dict.fromkeys(int(indices[np.abs(indices - t).argmin()]) for t in targets)
        return [(i, candidates[i]) for i in chosen]

    def _thumbnail(self, frame: np.ndarray) -> np.ndarray:
        height, width = frame.shape[:2]
        if width <= self.width:
            return frame.copy()
        size = (self.width, max(1, round(height * self.width / width)))
        return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def contact_sheet(images: list[np.ndarray], columns: int = 4, gap: int = 4) -> np.ndarray:
    """``images`` (RGB, one size) in a grid, row by row, ``gap`` dark pixels apart -> one RGB image."""
    if not images:
        raise ValueError("a contact sheet needs at least one image")
    height, width = images[0].shape[:2]
    columns = min(columns, len(images))
    rows = math.ceil(len(images) / columns)
    sheet = np.full((rows * height + (rows + 1) * gap, columns * width + (columns + 1) * gap, 3), 32, np.uint8)
    for k, image in enumerate(images):
        top, left = gap + (k // columns) * (height + gap), gap + (k % columns) * (width + gap)
        sheet[top:top + height, left:left + width] = image
    return sheet


# ---------------------------------------------------------------------------------------------------------------
# files


def encode_png(image: np.ndarray) -> bytes:
    """``image`` (RGB) as PNG bytes."""
    ok, data = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError(f"OpenCV could not encode a {image.shape} image as PNG")
    return data.tobytes()


class VideoWriter:
    """Writes RGB frames of one size to ``path``, a ``.mp4`` (mp4v) or ``.webm`` (VP8) file (``VIDEO_CODECS``).

    Args:
        path: the file to write (``staged_files`` gives a temporary name with the final name's extension).
        fps: frames per second.
        width, height: frame size in pixels.
    """

    def __init__(self, path: Path, fps: float, width: int, height: int):
        fourcc = VIDEO_CODECS.get(Path(path).suffix.lower())
        if fourcc is None:
            raise ValueError(f"{path}: videos are written as {' or '.join(VIDEO_CODECS)} files")
        self.path = path
        self.size = (width, height)
        self._writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, self.size)
        if not self._writer.isOpened():
            raise OSError(f"OpenCV cannot write {fourcc} video to {path} ({width}x{height} at {fps} frames/s)")

    def write(self, frame: np.ndarray) -> None:
        if (frame.shape[1], frame.shape[0]) != self.size:
            raise ValueError(f"{self.path}: a {frame.shape[1]}x{frame.shape[0]} frame in a "
                             f"{self.size[0]}x{self.size[1]} video")
        self._writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        """Finish the file (the container's index is written here)."""
        self._writer.release()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


@contextmanager
def staged_files(*paths: Path) -> Iterator[list[Path]]:
    """A temporary path next to each of ``paths`` to write it at; all are renamed to ``paths`` when the block ends
    without error, and removed otherwise (an error, Ctrl-C), so a failed run leaves nothing under a final name.

    The temporary names are hidden, unique and keep the final extension (``.annotated.4242-9f3a1c2b.tmp.mp4``),
    since OpenCV picks the container from it. A folder made for the outputs is removed again if it is left empty.
    """
    created = [path.parent for path in paths if not path.parent.exists()]
    temps: list[Path] = []
    try:
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Not mkstemp: its files are private (0600), where a video should get the umask's permissions.
            temps.append(path.parent / f".{path.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{path.suffix}")
        yield temps
        for tmp, path in zip(temps, paths):
            os.replace(tmp, path)
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
        for folder in dict.fromkeys(created):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
