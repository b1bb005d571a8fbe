"""Data pipeline benchmark: samples/s through a DataLoader, against decoding the same frames at full size.

    python scripts/bench_data.py --root data/bench_lasot --config configs/seqtrack_b192.yaml \\
        --samples 300 --workers 2 --make-synthetic 1280x720

Prints one JSON line with, measured in the same run on the same samples (the first draw of each index):

- ``samples_per_s`` / ``ms_per_sample_per_worker``: the TrackingDataset through a DataLoader with ``--workers``
  worker processes (timed from the first batch, so worker start-up is left out);
- ``inprocess_ms_per_sample``: the same samples made in this process, without a DataLoader;
- ``decode_full_ms_per_sample``: only ``cv2.imread`` of the sample's template and search frames at full size,
  one read per frame id as the original does (the decode-only bound of a pipeline that decodes full frames);
- ``straightforward_ms_per_sample``: what the original does: full decode of every frame id, BGR->RGB, slice +
  zero pad + resize, tensor conversion;
- the ratios between them.

OpenCV and torch run single-threaded here, as in DataLoader workers, so the figures are per CPU core.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader

from .. import __version__
from ..config import load_config
from ..data.dataset import EpochSampler, TrackingDataset
from ..data.lasot import load_lasot
from ..data.processing import CropPlan, decode_scale, to_normalized_tensor
from ..data.synthetic import make_synthetic_lasot
from .make_synthetic_lasot import parse_size


def straightforward_window(image: np.ndarray, x1: int, y1: int, side: int, out_size: int) -> np.ndarray:
    """The original's crop: slice the window out of the full frame, zero pad what is outside, resize.

    Returns uint8 (out_size, out_size, C) in the channel order of ``image``.
    """
    height, width = image.shape[:2]
    x2, y2 = x1 + side, y1 + side
    pad_left, pad_top = max(0, -x1), max(0, -y1)
    pad_right, pad_bottom = max(0, x2 - width), max(0, y2 - height)
    window = image[y1 + pad_top:y2 - pad_bottom, x1 + pad_left:x2 - pad_right]
    padded = cv2.copyMakeBorder(window, pad_top, pad_bottom, pad_left, pad_right, cv2.BORDER_CONSTANT, value=0)
    return cv2.resize(padded, (out_size, out_size))


def straightforward_crop(image: np.ndarray, box_xywh, factor: float, out_size: int) -> tuple[np.ndarray, float]:
    """``crop_around`` done the original's way (reference for tests and the benchmark baseline)."""
    x, y, w, h = (float(v) for v in box_xywh)
    side = math.ceil(math.sqrt(w * h) * factor)
    x1, y1 = round(x + 0.5 * w - 0.5 * side), round(y + 0.5 * h - 0.5 * side)
    return straightforward_window(image, int(x1), int(y1), side, out_size), out_size / side


def _straightforward_sample(paths: list[Path], plans: list[CropPlan], mean, std) -> list[torch.Tensor]:
    tensors = []
    for path, plan in zip(paths, plans):
        image = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        crop = straightforward_window(image, plan.x1, plan.y1, plan.side, plan.out_size)
        tensor = to_normalized_tensor(crop, mean, std, plan.brightness)
        tensors.append(tensor.flip(2) if plan.mirror else tensor)
    return tensors


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass  # not Linux: fall back to what platform knows
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="LaSOT root (generated there with --make-synthetic)")
    parser.add_argument("--config", required=True, help="experiment YAML, e.g. configs/seqtrack_b192.yaml")
    parser.add_argument("--samples", type=int, default=300, help="samples per measurement")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader worker processes")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--make-synthetic", type=parse_size, metavar="WxH",
                        help="generate a synthetic tree of WxH frames at --root if it is missing")
    parser.add_argument("--sequences-per-class", type=int, default=4)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("overrides", nargs="*", help="config overrides key.path=value")
    args = parser.parse_args(argv)
    if args.samples < 2 * args.batch_size:
        parser.error("--samples must be at least twice --batch-size (the first batch is not timed)")

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    root = Path(args.root).expanduser().resolve()
    cfg = load_config(args.config, [f"data.root={root}", f"data.samples_per_epoch={args.samples}",
                                    *args.overrides])
    generated = False
    if args.make_synthetic and not root.exists():
        make_synthetic_lasot(root, cfg.data.classes or ("book", "coin"), args.sequences_per_class, args.frames,
                             args.make_synthetic, seed=0)
        generated = True
    sequences = load_lasot(root, cfg.data.classes, cfg.data.split, cfg.data.split_file)
    dataset = TrackingDataset(cfg.data, sequences, seed=cfg.train.seed)
    n = args.samples

    draws = [dataset.first_draw(i) for i in range(n)]
    paths = [[seq.frame_path(f) for f in ids] for seq, ids, _ in draws]
    for path in {p for sample in paths for p in sample}:  # warm the page cache for every measurement alike
        path.read_bytes()
    frame_h, frame_w = cv2.imread(str(paths[0][0])).shape[:2]
    scales = Counter()
    for seq, ids, plans in draws:
        per_frame: dict[int, int] = {}
        for f, plan in zip(ids, plans):
            if plan is not None:
                s = decode_scale(plan.side, plan.out_size) if cfg.data.reduced_decode else 1
                per_frame[f] = min(s, per_frame.get(f, s))
        scales.update(per_frame.values())

    # The three in-process measurements are interleaved sample by sample, in rotating order, so a change of
    # load on the machine (or of CPU clock) during the run affects them alike.
    def decode_only(i: int) -> None:
        for path in paths[i]:
            cv2.imread(str(path), cv2.IMREAD_COLOR)

    def straightforward(i: int) -> None:
        _straightforward_sample(paths[i], draws[i][2], cfg.data.mean, cfg.data.std)

    def ours(i: int) -> None:
        dataset[i]

    valid = [i for i in range(n) if all(p is not None for p in draws[i][2])]
    methods = (decode_only, straightforward, ours)
    totals = [0.0, 0.0, 0.0]
    for i in valid:
        for k in range(3):
            m = (i + k) % 3
            start = time.perf_counter()
            methods[m](i)
            totals[m] += time.perf_counter() - start
    decode_ms, straightforward_ms, inprocess_ms = (t * 1000 / len(valid) for t in totals)

    loader = DataLoader(dataset, batch_size=args.batch_size, sampler=EpochSampler(n), num_workers=args.workers)
    start = time.perf_counter()
    iterator = iter(loader)
    next(iterator)
    first = time.perf_counter()
    timed = sum(batch["search_images"].shape[0] for batch in iterator)
    end = time.perf_counter()
    samples_per_s = timed / (end - first)
    per_worker_ms = max(args.workers, 1) * 1000 / samples_per_s

    print(json.dumps({
        "benchmark": "data",
        "config": cfg.name,
        "root": str(root),
        "generated": generated,
        "frame_size": [frame_w, frame_h],
        "search": {"size": cfg.data.search.size, "factor": cfg.data.search.factor},
        "template": {"size": cfg.data.template.size, "factor": cfg.data.template.factor,
                     "number": cfg.data.template.number},
        "reduced_decode": cfg.data.reduced_decode,
        "samples": n,
        "workers": args.workers,
        "batch_size": args.batch_size,
        "samples_per_s": round(samples_per_s, 1),
        "ms_per_sample_per_worker": round(per_worker_ms, 3),
        "loader_wall_s": round(end - start, 3),
        "inprocess_ms_per_sample": round(inprocess_ms, 3),
        "decode_full_ms_per_sample": round(decode_ms, 3),
        "ratio_per_worker_to_decode_full": round(per_worker_ms / decode_ms, 3),
        "ratio_inprocess_to_decode_full": round(inprocess_ms / decode_ms, 3),
        "straightforward_ms_per_sample": round(straightforward_ms, 3),
        "speedup_inprocess_vs_straightforward": round(straightforward_ms / inprocess_ms, 3),
        "decoded_frames_by_scale": {str(k): v for k, v in sorted(scales.items())},
        "stats": dataset.stats,
        "device": "cpu",
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "threads": {"cv2": cv2.getNumThreads(), "torch": torch.get_num_threads()},
        "versions": {"python": platform.python_version(), "seqtrack_accel": __version__, "torch": torch.__version__,
                     "numpy": np.__version__, "opencv": cv2.__version__},
        "argv": sys.argv[1:] if argv is None else list(argv),
    }))


if __name__ == "__main__":
    main()
