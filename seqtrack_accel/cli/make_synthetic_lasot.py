"""Write a synthetic dataset tree in the layout and file formats of LaSOT, GOT-10k, TrackingNet, COCO 2017, the
custom format, LaSOT_ext or TNL2K, for demos, tests and benchmarks (textured objects that move and change; see
``seqtrack_accel.data.synthetic``). Same arguments and seed: the same bytes.

    seqtrack-make-synthetic --out data/synthetic_lasot --classes book coin --sequences_per_class 6 --frames 60
    seqtrack-make-synthetic --layout got10k --out data/synthetic_got10k --sequences 20 --val_sequences 4
    seqtrack-make-synthetic --layout trackingnet --out data/synthetic_trackingnet --chunks 2 --sequences_per_chunk 5
    seqtrack-make-synthetic --layout coco17 --out data/synthetic_coco --images 50 --objects_per_image 3
    seqtrack-make-synthetic --layout custom --out data/my_objects --classes cup ball --sequences_per_class 10
    seqtrack-make-synthetic --layout got10k --out data/synthetic_got10k --val_sequences 4 --test_sequences 4
    seqtrack-make-synthetic --layout tnl2k --out data/synthetic_tnl2k --sequences 4
    seqtrack-make-synthetic --layout lasot_ext --out data/synthetic_lasot_ext --sequences_per_class 1
    seqtrack-make-synthetic --layout procedural --out data/procedural_test --sequences 40 --frames 100
    seqtrack-make-synthetic --layout procedural_video --out clip.mp4 --frames 150 --seed 3

``procedural`` writes the held-out test split of the class-agnostic generator (``seqtrack_accel.data.procedural``:
objects of looks no training clip has) in LaSOT's layout, ``--split train`` clips of the training looks;
``procedural_video`` one clip of the test split's looks as an MP4 video, and prints its first frame's box for
``seqtrack-track --box``.

Bad input (an --out folder that exists, a class the layout does not know) is one ``error:`` line on stderr and exit
status 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

from ..data.synthetic import (
    make_synthetic_coco,
    make_synthetic_custom,
    make_synthetic_got10k,
    make_synthetic_lasot,
    make_synthetic_trackingnet,
)
from ..config import ProceduralConfig
from ..data.benchmarks import LASOT_EXT_CLASSES
from ..data.procedural import draw_clip, make_procedural_tree
from ..data.synthetic_benchmarks import make_synthetic_lasot_ext, make_synthetic_tnl2k
from ..tracking.video import VideoWriter, staged_files
from . import ArgumentParser

LAYOUTS = ["lasot", "got10k", "trackingnet", "coco17", "custom", "lasot_ext", "tnl2k", "procedural", "procedural_video"]


def write_procedural_video(out: Path, frames: int = 150, size: tuple[int, int] = (320, 240), seed: int = 0,
                           fps: float = 30.0) -> np.ndarray:
    """One clip of the procedural test split's looks (objects unlike any the training clips show) as an MP4 video
    at ``out`` (written under a temporary name, then renamed); returns its first frame's box ``x, y, w, h``."""
    if out.exists():
        raise FileExistsError(f"{out} already exists; delete it or choose another --out file")
    cfg = ProceduralConfig(width=size[0], height=size[1], frames=frames, seed=seed)
    clip = draw_clip("test", int(np.random.default_rng((seed, 5)).integers(2**62)), cfg)
    with staged_files(out) as (tmp,), VideoWriter(tmp, fps, *size) as video:
        for t in range(frames):
            video.write(clip.render(t)[..., ::-1])
    return clip.boxes[0]


def parse_size(text: str) -> tuple[int, int]:
    """``"320x240"`` -> (320, 240)."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like WIDTHxHEIGHT, e.g. 320x240, got {text!r}") from None
    if width < 16 or height < 16:
        raise argparse.ArgumentTypeError(f"size must be at least 16x16, got {text!r}")
    return width, height


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layout", choices=LAYOUTS, default="lasot")
    parser.add_argument("--out", required=True, help="folder to create (must not exist)")
    parser.add_argument("--classes", nargs="+",
                        help="lasot, coco17, custom, lasot_ext (default: book coin; cat dog for custom; coco17: its "
                             "generator's; lasot_ext: its 15 classes)")
    parser.add_argument("--sequences_per_class", type=int, default=6, help="lasot, custom, lasot_ext")
    parser.add_argument("--sequences", type=int, default=6,
                        help="got10k: train sequences; tnl2k, procedural: sequences")
    parser.add_argument("--split", choices=("test", "train"), default="test",
                        help="procedural: the looks of the held-out test split or of the training split")
    parser.add_argument("--val_sequences", type=int, default=0, help="got10k: sequences of its val set")
    parser.add_argument("--test_sequences", type=int, default=0,
                        help="got10k, trackingnet: sequences of the test set (first-frame box only)")
    parser.add_argument("--chunks", type=int, default=2, help="trackingnet: TRAIN_k chunks")
    parser.add_argument("--sequences_per_chunk", type=int, default=3, help="trackingnet")
    parser.add_argument("--images", type=int, default=20, help="coco17")
    parser.add_argument("--objects_per_image", type=int, default=3, help="coco17")
    parser.add_argument("--frames", type=int, default=None,
                        help="frames per sequence (not coco17; default 60, procedural 100, procedural_video 150)")
    parser.add_argument("--size", type=parse_size, default=(320, 240), help="frame size WIDTHxHEIGHT")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        print(_write(args))
    except (ValueError, OSError) as e:
        # Bad input (the output folder, the classes): one line naming it, no traceback; the traceback is kept at
        # DEBUG level for bug reports.
        logging.getLogger("seqtrack_accel.make_synthetic").debug("traceback of the error below", exc_info=True)
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def _write(args: argparse.Namespace) -> str:
    """Write what ``args`` ask for; returns the line to print."""
    start = time.perf_counter()
    classes = args.classes or (["cat", "dog"] if args.layout == "custom" else ["book", "coin"])
    args.frames = args.frames or {"procedural": 100, "procedural_video": 150}.get(args.layout, 60)
    if args.layout == "procedural_video":
        box = write_procedural_video(Path(args.out), args.frames, args.size, args.seed)
        return (f"wrote {args.frames} frames of {args.size[0]}x{args.size[1]} to {args.out} in "
                f"{time.perf_counter() - start:.1f} s; first box: --box {','.join(f'{v:.0f}' for v in box)}")
    if args.layout == "procedural":
        root = make_procedural_tree(args.out, args.split, args.sequences, args.frames, args.size, args.seed)
        what = f"{args.sequences} sequences of the {args.split} split's looks x {args.frames} frames"
    elif args.layout == "lasot":
        root = make_synthetic_lasot(args.out, classes, args.sequences_per_class, args.frames, args.size, args.seed)
        what = f"{len(classes)} classes x {args.sequences_per_class} sequences x {args.frames} frames"
    elif args.layout == "custom":
        root = make_synthetic_custom(args.out, classes, args.sequences_per_class, args.frames, args.size, args.seed)
        what = f"{len(classes)} classes x {args.sequences_per_class} sequences x {args.frames} frames"
    elif args.layout == "got10k":
        root = make_synthetic_got10k(args.out, args.sequences, args.frames, args.size, args.seed, args.val_sequences,
                                     args.test_sequences)
        what = (f"{args.sequences} train, {args.val_sequences} val and {args.test_sequences} test sequences x "
                f"{args.frames} frames")
    elif args.layout == "trackingnet":
        root = make_synthetic_trackingnet(args.out, args.chunks, args.sequences_per_chunk, args.frames, args.size,
                                          args.seed, args.test_sequences)
        what = (f"{args.chunks} chunks x {args.sequences_per_chunk} sequences and {args.test_sequences} test "
                f"sequences x {args.frames} frames")
    elif args.layout == "lasot_ext":
        ext_classes = args.classes or None
        root = make_synthetic_lasot_ext(args.out, *([ext_classes] if ext_classes else []),
                                        sequences_per_class=args.sequences_per_class, frames=args.frames,
                                        size=args.size, seed=args.seed)
        what = (f"{len(ext_classes or LASOT_EXT_CLASSES)} classes x {args.sequences_per_class} sequences x "
                f"{args.frames} frames")
    elif args.layout == "tnl2k":
        root = make_synthetic_tnl2k(args.out, sequences=args.sequences, frames=args.frames, size=args.size,
                                    seed=args.seed)
        what = f"{args.sequences} sequences x {args.frames} frames"
    else:
        root = make_synthetic_coco(args.out, *([args.classes] if args.classes else []), images=args.images,
                                   objects_per_image=args.objects_per_image, size=args.size, seed=args.seed)
        what = f"{args.images} images with {args.objects_per_image} objects each"
    return (f"wrote a synthetic {args.layout} tree ({what} of {args.size[0]}x{args.size[1]}) to {root} in "
            f"{time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
