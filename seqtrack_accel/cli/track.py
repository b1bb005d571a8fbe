"""seqtrack-track: follow one target through your own video with a SeqTrack checkpoint.

    seqtrack-track clip.mp4 --checkpoint runs/demo/phase_1/checkpoints/checkpoint_16 --box 120,93,56,56
    seqtrack-track data/synthetic_lasot/coin/coin-3/img --checkpoint runs/demo/phase_1/checkpoints/checkpoint_16 \\
        --box 120,93,56,56 --output output/track/coin-3 --show_search
    seqtrack-track 'shots/*.png' --checkpoint hf://my-org/seqtrack-export --select --device cuda --dtype bfloat16

The input is a video file (anything OpenCV reads: mp4, avi, mkv, ...), a folder of frames (image files in natural
order: 2.jpg before 10.jpg) or a quoted glob. The target's box on the first frame is --box x,y,w,h (pixels, top-left
origin; write --box=-4,10,50,60 when x is negative), or --select draws it in a window (needs a display and an OpenCV
with GUI support, which the opencv-python-headless wheel lacks).

OUTPUT (default output/track/<input name>) receives boxes.txt (x,y,w,h,confidence per frame; frame 1 is the given
box with confidence nan), annotated.mp4 (mp4v; box, frame number and confidence, --show_search adds the search
region) and contact_sheet.png (--sheet_frames evenly spaced annotated frames). The three appear together when the
run ends well; a failed or interrupted run leaves nothing under these names, and existing ones are replaced only with
--overwrite. Bad input (a missing or unreadable video, an empty folder, a frame that does not decode, a box outside
the first frame) is one ``error:`` line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..config import Config, load_config
from ..tracking.tracker import SeqTrackTracker, load_tracker_model
from ..data.annotations import parse_box
from ..tracking.video import (EvenlySpacedFrames, VideoWriter, annotate, check_box_in_frame, contact_sheet,
                              encode_png, open_frames, search_region, select_box, select_problem, staged_files,
                              track_lines)
from . import ArgumentParser, add_device_arguments, torch_dtype

BACKENDS = ("torch", "onnx")
DEFAULT_FPS = 30.0  # of the annotated video when the input gives none (frame folders, globs); LaSOT's rate
OUTPUT_NAMES = ("boxes.txt", "annotated.mp4", "contact_sheet.png")


def _box(text: str) -> np.ndarray:
    try:
        return parse_box(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="seqtrack-track", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", help="video file, folder of frames, or quoted glob ('frames/*.jpg')")
    parser.add_argument("--checkpoint", required=True,
                        help="training checkpoint folder, save_pretrained folder, hf://ORG/NAME[@REVISION], or an "
                             "original SEQTRACK_ep0500.pth.tar (with --config); with --backend onnx, the ONNX export "
                             "folder")
    parser.add_argument("--config", help="config YAML, a path or a shipped config name (default: the checkpoint's "
                                         "own config.yaml); needed for an original .pth.tar")
    parser.add_argument("--backend", choices=BACKENDS, default="torch",
                        help="onnx runs an ONNX export (needs the optional export extra)")
    first_box = parser.add_mutually_exclusive_group()
    first_box.add_argument("--box", type=_box, metavar="X,Y,W,H", help="the target's box on the first frame, pixels")
    first_box.add_argument("--select", action="store_true", help="draw the first box in a window")
    parser.add_argument("--output", help="output folder (default: output/track/<input name>)")
    parser.add_argument("--overwrite", action="store_true", help="replace the output files of an earlier run")
    add_device_arguments(parser)
    parser.add_argument("--fps", type=float, help=f"frame rate of the annotated video (default: the input video's, "
                                                  f"else {DEFAULT_FPS:g})")
    parser.add_argument("--max_frames", type=int, default=0, help="track only the first N frames (0: all)")
    parser.add_argument("--show_search", action="store_true", help="also outline the search region in the video")
    parser.add_argument("--sheet_frames", type=int, default=12, help="frames on the contact sheet")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.box is None and not args.select:
        parser.error("give the target's box on the first frame with --box x,y,w,h, or draw it with --select")
    if args.backend == "onnx" and args.config:
        parser.error("--config applies to --backend torch; an ONNX export folder carries its own config")
    if args.backend == "onnx" and args.dtype != "float32":
        parser.error("--dtype bfloat16 applies to --backend torch; an ONNX export runs in float32")
    if args.max_frames < 0:
        parser.error("--max_frames must be >= 0")
    if args.sheet_frames < 1:
        parser.error("--sheet_frames must be >= 1")
    if args.fps is not None and not (math.isfinite(args.fps) and args.fps > 0):
        parser.error("--fps must be a positive number")
    try:
        return _track(args)
    except (ValueError, OSError, KeyError, ImportError) as e:
        # Bad input (video, frames, box, checkpoint): one line naming it, no traceback; the traceback is kept at
        # DEBUG level for bug reports.
        logging.getLogger("seqtrack_accel.track").debug("traceback of the error below", exc_info=True)
        print(f"error: {e.args[0] if isinstance(e, KeyError) and e.args else e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: no output was written", file=sys.stderr)
        return 130


def _load_model(args: argparse.Namespace) -> tuple[torch.nn.Module, Config]:
    if args.backend == "onnx":
        # The ONNX backend needs the optional `export` extra (onnx, onnxruntime): pip install "seqtrack-accel[export]".
        try:
            from ..export import load_onnx_tracker_model
        except ImportError as e:
            raise ImportError(f"--backend onnx needs the optional export extra: pip install "
                              f"'seqtrack-accel[export]' ({e})") from e
        return load_onnx_tracker_model(args.checkpoint)
    return load_tracker_model(args.checkpoint, load_config(args.config) if args.config else None)


def _first_box(args: argparse.Namespace, first: np.ndarray) -> np.ndarray:
    if not args.select:
        return args.box
    problem = select_problem()
    if problem is not None:
        raise ValueError(f"--select cannot open a window: {problem}; give the first box with --box x,y,w,h")
    return select_box(first)


def _track(args: argparse.Namespace) -> int:
    frames = open_frames(args.input)
    output = Path(args.output or Path("output") / "track" / frames.name)
    paths = [output / name for name in OUTPUT_NAMES]
    existing = [str(p) for p in paths if p.exists()]
    if existing and not args.overwrite:
        raise FileExistsError(f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; pass "
                              "--overwrite to replace the earlier run's outputs, or choose another --output")
    frame_iter = iter(frames)
    first = next(frame_iter)
    height, width = first.shape[:2]
    box = _first_box(args, first)
    check_box_in_frame(box, width, height)  # before loading the model: a wrong box should not wait for it

    model, cfg = _load_model(args)
    tracker = SeqTrackTracker(model, cfg, device=args.device, dtype=torch_dtype(args.dtype))
    total = frames.count
    if args.max_frames:
        total = min(total, args.max_frames) if total else args.max_frames
    boxes, confidences = [], []
    sheet = EvenlySpacedFrames(args.sheet_frames)
    tracker_seconds = 0.0
    start = time.perf_counter()
    with staged_files(*paths) as (boxes_tmp, video_tmp, sheet_tmp):
        with (VideoWriter(video_tmp, args.fps or frames.fps or DEFAULT_FPS, width, height) as video,
              tqdm(total=total, desc=frames.name, unit="frame", dynamic_ncols=True) as bar):
            for index, frame in enumerate(itertools.chain([first], frame_iter)):
                if args.max_frames and index == args.max_frames:
                    break
                search = search_region(boxes[-1], cfg.data.search.factor) if args.show_search and index else None
                tick = time.perf_counter()
                if index == 0:
                    tracker.initialize(frame, box)
                    confidence = math.nan
                else:
                    box, confidence = tracker.track(frame)
                tracker_seconds += time.perf_counter() - tick
                boxes.append(box)
                confidences.append(confidence)
                annotated = annotate(frame, box, index + 1, None if index == 0 else confidence, search)
                video.write(annotated)
                sheet.add(index, annotated)
                bar.update()
        boxes_tmp.write_text(track_lines(np.array(boxes), np.array(confidences)))
        sheet_tmp.write_bytes(encode_png(contact_sheet([thumbnail for _, thumbnail in sheet.picked()])))
    seconds = time.perf_counter() - start
    print(f"tracked {len(boxes)} frames of {frames.name} ({width}x{height}) in {seconds:.1f} s: "
          f"{len(boxes) / seconds:.1f} frames/s, the tracker alone {len(boxes) / tracker_seconds:.1f} frames/s; "
          f"wrote {', '.join(str(p) for p in paths)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
