"""seqtrack-track: follow one target through your own video with a SeqTrack checkpoint.

    seqtrack-track clip.mp4 --checkpoint runs/demo/phase_1/checkpoints/checkpoint_16 --box 120,93,56,56
    seqtrack-track data/synthetic_lasot/coin/coin-3/img --checkpoint runs/demo/phase_1/checkpoints/checkpoint_16 \\
        --box 120,93,56,56 --output output/track/coin-3 --show_search
    seqtrack-track 'shots/*.png' --checkpoint hf://my-org/seqtrack-export --select --device cuda --dtype bfloat16

The input is a video file (anything OpenCV reads: mp4, avi, mkv, ...), a folder or a .zip of frames (image files in
natural order: 2.jpg before 10.jpg) or a quoted glob. The target's box on the first frame is --box x,y,w,h (pixels,
top-left origin; write --box=-4,10,50,60 when x is negative), or --select draws it in a window (needs a display and an
OpenCV with GUI support, which the opencv-python-headless wheel lacks); seqtrack-app draws it with the mouse in a
browser.

OUTPUT (default output/track/NAME) receives NAME.txt (x,y,w,h,confidence per frame; frame 1 is the given box with
confidence nan; NAME is --name, by default the input's name: the video's or zip's stem, the folder's name, or for
LaSOT's img/ and TNL2K's imgs/ the sequence folder's), a result file that seqtrack-evaluate scores against ground
truth (e.g. --dataset custom --root MY_SEQUENCES --results OUTPUT --sequences NAME), annotated.mp4 (mp4v; box, frame
number and confidence, --show_search adds the search region) and contact_sheet.png (--sheet_frames evenly spaced
annotated frames). The three appear together when the run ends well; a failed or interrupted run leaves nothing under
these names, and existing ones are replaced only with --overwrite. Bad input (a missing or unreadable video, an empty
folder, a frame that does not decode, a box outside the first frame) is one ``error:`` line on stderr and exit status
2.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import math
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..tracking.track_video import BACKENDS, DEFAULT_FPS, load_model, output_paths, track_video
from ..tracking.tracker import SeqTrackTracker
from ..data.annotations import parse_box
from ..tracking.video import check_box_in_frame, open_frames, select_box, select_problem
from . import ArgumentParser, INPUT_ERRORS, add_device_arguments, error_line, torch_dtype


def _box(text: str) -> np.ndarray:
    try:
        return parse_box(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="seqtrack-track", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", help="video file, folder or .zip of frames, or quoted glob ('frames/*.jpg')")
    parser.add_argument("--checkpoint", required=True,
                        help="training checkpoint folder, save_pretrained folder, either on the Hub as "
                             "hf://ORG/NAME[@REVISION][/PATH], or an "
                             "original SEQTRACK_ep0500.pth.tar (with --config); with --backend onnx, the ONNX export "
                             "folder")
    parser.add_argument("--config", help="config YAML, a path or a shipped config name (default: the checkpoint's "
                                         "own config.yaml); needed for an original .pth.tar")
    parser.add_argument("--backend", choices=BACKENDS, default="torch",
                        help="onnx runs an ONNX export (needs the optional export extra)")
    first_box = parser.add_mutually_exclusive_group()
    first_box.add_argument("--box", type=_box, metavar="X,Y,W,H", help="the target's box on the first frame, pixels")
    first_box.add_argument("--select", action="store_true", help="draw the first box in a window")
    parser.add_argument("--name", help="the video's name: its result file is NAME.txt (default: the input's name)")
    parser.add_argument("--output", help="output folder (default: output/track/NAME)")
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
    except INPUT_ERRORS as e:
        # Bad input (video, frames, box, checkpoint): one line naming it, no traceback; the traceback is kept at
        # DEBUG level for bug reports.
        logging.getLogger("seqtrack_accel.track").debug("traceback of the error below", exc_info=True)
        print(error_line(e), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: no output was written", file=sys.stderr)
        return 130


def _first_box(args: argparse.Namespace, first: np.ndarray) -> np.ndarray:
    if not args.select:
        return args.box
    problem = select_problem()
    if problem is not None:
        raise ValueError(f"--select cannot open a window: {problem}; give the first box with --box x,y,w,h")
    return select_box(first)


def _track(args: argparse.Namespace) -> int:
    frames = open_frames(args.input)
    name = args.name or frames.name
    output = Path(args.output or Path("output") / "track" / name)
    existing = [str(p) for p in output_paths(output, name) if p.exists()]
    if existing and not args.overwrite:
        raise FileExistsError(f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; pass "
                              "--overwrite to replace the earlier run's outputs, or choose another --output")
    frame_iter = iter(frames)
    first = next(frame_iter)
    height, width = first.shape[:2]
    box = _first_box(args, first)
    check_box_in_frame(box, width, height)  # before loading the model: a wrong box should not wait for it

    model, cfg = load_model(args.checkpoint, args.backend, args.config)
    tracker = SeqTrackTracker(model, cfg, device=args.device, dtype=torch_dtype(args.dtype))
    total = frames.count
    if args.max_frames:
        total = min(total, args.max_frames) if total else args.max_frames
    with tqdm(total=total, desc=frames.name, unit="frame", dynamic_ncols=True) as bar:
        run = track_video(tracker, itertools.chain([first], frame_iter), box, output, name=name,
                          fps=args.fps or frames.fps or DEFAULT_FPS, max_frames=args.max_frames,
                          search_factor=cfg.data.search.factor if args.show_search else None,
                          sheet_frames=args.sheet_frames, on_frame=lambda done: bar.update())
    print(f"tracked {run.frames} frames of {frames.name} ({width}x{height}) in {run.seconds:.1f} s: "
          f"{run.frames / run.seconds:.1f} frames/s, the tracker alone {run.frames / run.tracker_seconds:.1f} "
          f"frames/s; wrote {', '.join(str(p) for p in run.paths)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
