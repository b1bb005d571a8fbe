"""Write a synthetic LaSOT tree (same layout and file formats as LaSOT) for demos, tests and benchmarks.

    python scripts/make_synthetic_lasot.py --out data/synthetic_lasot --classes book coin \\
        --sequences_per_class 6 --frames 60 --size 320x240 --seed 0
"""

from __future__ import annotations

import argparse
import logging
import time

from ..data.synthetic import make_synthetic_lasot
from . import ArgumentParser


def parse_size(text: str) -> tuple[int, int]:
    """``"320x240"`` -> (320, 240)."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like WIDTHxHEIGHT, e.g. 320x240, got {text!r}") from None
    if width < 16 or height < 16:
        raise argparse.ArgumentTypeError(f"size must be at least 16x16, got {text!r}")
    return width, height


def main(argv: list[str] | None = None) -> None:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder to create (must not exist)")
    parser.add_argument("--classes", nargs="+", default=["book", "coin"])
    parser.add_argument("--sequences_per_class", type=int, default=6)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--size", type=parse_size, default=(320, 240), help="frame size WIDTHxHEIGHT")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    start = time.perf_counter()
    root = make_synthetic_lasot(args.out, args.classes, args.sequences_per_class, args.frames, args.size, args.seed)
    frames = len(args.classes) * args.sequences_per_class * args.frames
    print(f"wrote {frames} frames ({len(args.classes)} classes x {args.sequences_per_class} sequences x "
          f"{args.frames} frames of {args.size[0]}x{args.size[1]}) to {root} in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
