"""seqtrack-app: track a video in the browser and compare evaluation results (a Gradio app), or publish it as a Space.

    seqtrack-app --checkpoint runs/demo/phase_1/checkpoints/checkpoint_16
    seqtrack-app --checkpoint exports/demo --backend onnx --port 8080 --max_frames 600
    seqtrack-app --push_to_space my-org/seqtrack-demo-app --checkpoint hf://my-org/seqtrack-demo-export

The page (http://127.0.0.1:7860 by default) takes a video or a zip of frames, the target's box drawn with two clicks on
the first frame (or typed), and tracks it with seqtrack-track's code: the annotated video, the confidence per frame,
the contact sheet and the boxes (<video name>.txt). Its second tab plots the summary.json files of seqtrack-evaluate
side by side.
--checkpoint is loaded at start (without it, the visitor types a model in the page); --public fixes it and keeps the
page from reading the server's folders. --max_frames caps the frames tracked per video, and the page says so.

--push_to_space ORG/NAME creates or updates a Gradio Space that runs this app with --checkpoint (hf://ORG/NAME of a
save_pretrained export), pinned to this package's version, and links it from the model card; it starts no server.

Needs the optional app extra: pip install "seqtrack-accel[app]". Bad input is one ``error:`` line, exit status 2.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import logging
import sys

from ..tracking.track_video import BACKENDS
from . import ArgumentParser, INPUT_ERRORS, add_device_arguments, error_line

EXTRA_HINT = 'seqtrack-app needs the optional app extra: pip install "seqtrack-accel[app]"'
SPACE_MAX_FRAMES = 600  # a Space's CPU is shared by its visitors: one long video should not hold it for minutes


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="seqtrack-app", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="the model: training checkpoint folder, save_pretrained folder, "
                                             "hf://ORG/NAME[@REVISION], or with --backend onnx an ONNX export folder")
    parser.add_argument("--backend", choices=BACKENDS, default="torch")
    add_device_arguments(parser)
    parser.add_argument("--max_frames", type=int, help=f"track at most N frames of a video (default: all; "
                                                       f"{SPACE_MAX_FRAMES} on a Space)")
    parser.add_argument("--public", action="store_true",
                        help="fix the model to --checkpoint and take no server folder on the results page")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--output", help="folder for the runs' outputs (default: a new temporary folder)")
    parser.add_argument("--push_to_space", metavar="ORG/NAME",
                        help="create or update this Gradio Space to run the app with --checkpoint, then exit")
    parser.add_argument("--private", action="store_true", help="with --push_to_space: create the Space private")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.max_frames is not None and args.max_frames < 0:
        parser.error("--max_frames must be >= 0")
    if args.public and not args.checkpoint:
        parser.error("--public fixes the model: give it with --checkpoint")
    if args.backend == "onnx" and args.dtype != "float32":
        parser.error("--dtype bfloat16 applies to --backend torch; an ONNX export runs in float32")
    if args.push_to_space and not args.checkpoint:
        parser.error("--push_to_space needs the Space's model: --checkpoint hf://ORG/NAME")
    if importlib.util.find_spec("gradio") is None:
        print(f"error: {EXTRA_HINT}", file=sys.stderr)
        return 2
    gradio_version = importlib.metadata.version("gradio")
    try:
        if args.push_to_space:
            return _push(args, gradio_version)
        return _serve(args)
    except (*INPUT_ERRORS, RuntimeError) as e:  # HubError is a RuntimeError
        logging.getLogger("seqtrack_accel.app").debug("traceback of the error below", exc_info=True)
        print(error_line(e), file=sys.stderr)
        return 2


def _push(args: argparse.Namespace, gradio_version: str) -> int:
    from ..hub.space import push_space

    max_frames = SPACE_MAX_FRAMES if args.max_frames is None else args.max_frames
    url = push_space(args.push_to_space, args.checkpoint, max_frames=max_frames, gradio_version=gradio_version,
                     private=args.private)
    print(f"pushed the Space {args.push_to_space} (gradio {gradio_version}, the model {args.checkpoint}, at most "
          f"{max_frames or 'all'} frames a video): {url}; linked from the card of "
          f"{args.checkpoint.removeprefix('hf://').split('@')[0]}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    try:
        from ..app import build_app
    except ImportError as e:
        raise ImportError(f"{EXTRA_HINT} ({e})") from e

    app = build_app(args.checkpoint, backend=args.backend, device=args.device, dtype=args.dtype,
                    max_frames=args.max_frames or 0, public=args.public, output=args.output)
    app.launch(server_name=args.host, server_port=args.port, share=False,
               allowed_paths=[args.output] if args.output else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
