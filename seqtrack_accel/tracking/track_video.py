"""Track one target through your own video and write what ``seqtrack-track`` and ``seqtrack-app`` both show.

    model, cfg = load_model("runs/demo/phase_1/checkpoints/checkpoint_16")
    frames = open_frames("clip.mp4")
    run = track_video(SeqTrackTracker(model, cfg), frames, np.array([120, 93, 56, 56.0]), Path("output/track/clip"),
                      name="clip")
    run.boxes, run.confidences  # (N, 4) x,y,w,h pixels, (N,) with nan for the given first box

The output folder receives ``output_paths``: ``<name>.txt`` (``x,y,w,h,confidence`` per frame: a result file, which
``seqtrack-evaluate --results`` scores, see ``tracking.evaluate``), ``annotated.mp4`` (mp4v) and
``contact_sheet.png``, and with ``preview`` a copy of the annotated video that browsers play
(``annotated.webm``, VP8, at most ``PREVIEW_WIDTH`` pixels wide). All are written under hidden names and renamed
together when the run ends well (``staged_files``): a failed or interrupted run leaves none of them.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from ..config import Config, load_config
from ..export import load_onnx_tracker_model
from .evaluate import Tracker, box_lines, results_file
from .tracker import load_tracker_model
from .video import EvenlySpacedFrames, VideoWriter, annotate, contact_sheet, encode_png, search_region, staged_files

BACKENDS = ("torch", "onnx")
MEDIA_NAMES = ("annotated.mp4", "contact_sheet.png")
PREVIEW_NAME = "annotated.webm"
PREVIEW_WIDTH = 640  # pixels; VP8 costs about 32 ms a 640x480 frame on one core, and grows with the pixel count
DEFAULT_FPS = 30.0  # of the annotated video when the input gives none (frame folders, globs, zips); LaSOT's rate


def load_model(checkpoint: str, backend: str = "torch", config: str | None = None) -> tuple[torch.nn.Module, Config]:
    """The model and config to track with: ``load_tracker_model(checkpoint, config)`` for the torch backend, an ONNX
    export folder run by onnxruntime (the optional ``export`` extra) for ``backend="onnx"``.

    Args:
        checkpoint: anything ``load_tracker_model`` takes, or an ONNX export folder.
        config: a config YAML path or shipped name, for the torch backend only (an export carries its own).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "onnx":
        if config:
            raise ValueError("a config applies to the torch backend; an ONNX export folder carries its own config")
        return load_onnx_tracker_model(checkpoint)
    return load_tracker_model(checkpoint, load_config(config) if config else None)


def output_paths(output: Path, name: str) -> list[Path]:
    """The files ``track_video`` writes into ``output`` for the video ``name``, without the preview: the result file
    ``<name>.txt``, then ``MEDIA_NAMES``."""
    return [results_file(output, name)] + [Path(output) / media for media in MEDIA_NAMES]


@dataclass
class TrackedVideo:
    """What ``track_video`` did.

    Attributes:
        boxes: (N, 4) float64 x,y,w,h pixels, the first the given box.
        confidences: (N,) float64, the tracker's 0..40; nan for the first frame.
        paths: the files written (``output_paths``, then the preview if asked for).
        width, height: the frames' size in pixels.
        seconds: the whole run (reading, tracking, drawing, writing); tracker_seconds: ``initialize`` and ``track``.
    """

    boxes: np.ndarray
    confidences: np.ndarray
    paths: list[Path]
    width: int
    height: int
    seconds: float
    tracker_seconds: float

    @property
    def frames(self) -> int:
        return len(self.boxes)


def track_video(tracker: Tracker, frames: Iterable[np.ndarray], box_xywh: np.ndarray, output: Path, *, name: str,
                fps: float = DEFAULT_FPS, max_frames: int = 0, search_factor: float | None = None,
                sheet_frames: int = 12, preview: bool = False,
                on_frame: Callable[[int], None] | None = None) -> TrackedVideo:
    """Track the target given by ``box_xywh`` on the first of ``frames`` through the rest, and write the outputs.

    Args:
        tracker: ``initialize``-d on the first frame, then ``track``-s each following one.
        frames: uint8 (H, W, 3) RGB frames of one size (``open_frames``).
        box_xywh: the target's box on the first frame, pixels (check it with ``check_box_in_frame``).
        output: the folder that receives ``output_paths(output, name)``; files of these names there are replaced.
        name: the video's name, that of its result file (``<name>.txt``): the sequence name to score it under.
        fps: frame rate of the annotated videos.
        max_frames: track only the first N frames (0: all).
        search_factor: outline the search region (a square this many times the box's size, around the previous
            box) in the videos; None: no outline.
        sheet_frames: evenly spaced frames on the contact sheet.
        preview: also write ``PREVIEW_NAME``, the annotated video as VP8 WebM that browsers play.
        on_frame: called with the number of frames done after each frame (a progress bar).
    """
    start = time.perf_counter()
    frame_iter = iter(frames)
    first = next(frame_iter)
    height, width = first.shape[:2]
    paths = output_paths(output, name) + ([Path(output) / PREVIEW_NAME] if preview else [])
    boxes, confidences = [], []
    sheet = EvenlySpacedFrames(sheet_frames)
    tracker_seconds = 0.0
    with staged_files(*paths) as (boxes_tmp, video_tmp, sheet_tmp, *preview_tmp):
        preview_size = _preview_size(width, height)
        browser = VideoWriter(preview_tmp[0], fps, *preview_size) if preview else contextlib.nullcontext()
        with VideoWriter(video_tmp, fps, width, height) as video, browser as browser_video:
            for index, frame in enumerate(itertools.chain([first], frame_iter)):
                if max_frames and index == max_frames:
                    break
                search = search_region(boxes[-1], search_factor) if search_factor and index else None
                tick = time.perf_counter()
                if index == 0:
                    tracker.initialize(frame, box_xywh)
                    box, confidence = np.asarray(box_xywh, dtype=np.float64), math.nan
                else:
                    box, confidence = tracker.track(frame)
                tracker_seconds += time.perf_counter() - tick
                boxes.append(box)
                confidences.append(confidence)
                annotated = annotate(frame, box, index + 1, None if index == 0 else confidence, search)
                video.write(annotated)
                if browser_video is not None:
                    browser_video.write(cv2.resize(annotated, preview_size, interpolation=cv2.INTER_AREA)
                                        if preview_size != (width, height) else annotated)
                sheet.add(index, annotated)
                if on_frame is not None:
                    on_frame(index + 1)
        boxes_tmp.write_text(box_lines(np.array(boxes), np.array(confidences)))
        sheet_tmp.write_bytes(encode_png(contact_sheet([thumbnail for _, thumbnail in sheet.picked()])))
    return TrackedVideo(np.array(boxes), np.array(confidences), paths, width, height, time.perf_counter() - start,
                        tracker_seconds)


def _preview_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) of the browser video: the frame's, shrunk to at most ``PREVIEW_WIDTH`` wide."""
    scale = min(1.0, PREVIEW_WIDTH / width)
    return max(1, round(width * scale)), max(1, round(height * scale))

