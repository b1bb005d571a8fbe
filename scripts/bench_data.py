"""Data pipeline benchmark: samples/s per worker against the original's pipeline, on the same samples.

    python scripts/bench_data.py --root data/bench_lasot --config configs/seqtrack_b192.yaml \\
        --samples 300 --workers 1 --make_synthetic 1280x720

Prints one JSON line. Every pipeline makes the same samples (the first draw of each index: same frames, windows,
flips, grayscale and brightness), measured in the same run:

- ``straightforward``: what the original does (``lib/train/data/processing.py``): ``cv2.imread`` of the full
  frame, BGR->RGB, grayscale and horizontal flip of the full frame, slice + zero pad + ``cv2.resize`` of the
  window, then torch's ``float().mul(brightness / 255).clamp(0, 1)`` and ``torchvision`` normalisation (the
  original's frame and crop flips folded into one frame flip: ``original_sample``);
- ``ours``: the TrackingDataset (``data.decoder``, reduced-scale decode into reused buffers, one warp per crop,
  uint8 output; the normalisation runs on the training device, and is left out here as it is of the GPU's step);
- ``lean_straightforward``: full ``cv2.imread`` decode, then our crop and a table-lookup float conversion (how
  much of the gain is the decoder);
- ``decode_full``: only ``cv2.imread`` of the sample's frames (the decode-only bound of a full-decode pipeline).

In process the methods are interleaved sample by sample, in rotating order, so a change of load on the machine
affects them alike. Through a DataLoader with ``--workers`` worker processes, ours and the straightforward
pipeline alternate for ``--rounds`` rounds each (timed from each loader's first batch, so worker start-up is left
out); ``speedup_per_worker`` is the ratio of their samples/s. OpenCV and torch run single-threaded, as in
DataLoader workers, so the figures are per CPU core.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import torch
import torchvision.transforms.functional as tvisf
from torch.utils.data import DataLoader, Dataset

from bench_env import cpu_name, versions
from seqtrack_accel.cli.make_synthetic_lasot import parse_size
from seqtrack_accel.config import load_config
from seqtrack_accel.data import TrackingDataset, load_lasot, make_synthetic_lasot, worker_init_fn
from seqtrack_accel.data.processing import CropPlan, decode_scale, render_crop
from seqtrack_accel.cli import ArgumentParser


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
    """``crop_around`` done the original's way (the reference of its tests)."""
    x, y, w, h = (float(v) for v in box_xywh)
    side = math.ceil(math.sqrt(w * h) * factor)
    x1, y1 = round(x + 0.5 * w - 0.5 * side), round(y + 0.5 * h - 0.5 * side)
    return straightforward_window(image, int(x1), int(y1), side, out_size), out_size / side


def original_sample(paths: list[Path], plans: list[CropPlan], mean, std) -> list[torch.Tensor]:
    """The crops of one sample made the original's way (module docstring), as normalised float tensors.

    The original flips the full frame (one roll per sample), then each crop (one roll per crop); a plan keeps only
    their combination, ``plan.mirror``. A mirrored crop is made here by flipping the full frame and cropping the
    mirrored window, with no crop flip: the same crop as the dataset's. With ``data.flip_prob`` 0.5 a crop is
    mirrored as often as the original flips its frame (p 0.5 each), so this costs what the original costs in
    expectation, less the original's crop flip (one flip of a small crop tensor, p 0.5 per crop).
    """
    tensors = []
    for path, plan in zip(paths, plans):
        image = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        if plan.grayscale:
            gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
            image = np.stack([gray, gray, gray], axis=2)
        x1 = plan.x1
        if plan.mirror:
            image = np.fliplr(image).copy()
            x1 = image.shape[1] - plan.x1 - plan.side  # the mirrored window: the same pixels, right to left
        crop = straightforward_window(image, x1, plan.y1, plan.side, plan.out_size)
        tensor = torch.from_numpy(crop.transpose((2, 0, 1))).float().mul(plan.brightness / 255.0).clamp(0.0, 1.0)
        tensors.append(tvisf.normalize(tensor, mean, std))
    return tensors


def lookup_normalize(crop: np.ndarray, mean, std, brightness: float) -> torch.Tensor:
    """uint8 (H, W, 3) RGB -> float32 (3, H, W): ``(min(v / 255 * brightness, 1) - mean) / std`` per channel.

    The map of ``normalize_crops``, done on the CPU the cheapest way we know: a uint8 pixel has 256 possible values,
    so the map is a (3, 256) table, and looking it up per channel writes channel-first output directly (about 3x
    faster than float arithmetic on the crop).
    """
    levels = np.minimum(np.arange(256, dtype=np.float32) * np.float32(brightness / 255.0), np.float32(1.0))
    mean32, std32 = np.asarray(mean, dtype=np.float32), np.asarray(std, dtype=np.float32)
    table = (levels[None, :] - mean32[:, None]) / std32[:, None]
    out = np.empty((3, crop.shape[0], crop.shape[1]), dtype=np.float32)
    for channel in range(3):
        np.take(table[channel], crop[..., channel], out=out[channel])
    return torch.from_numpy(out)


def lean_sample(paths: list[Path], plans: list[CropPlan], mean, std) -> list[torch.Tensor]:
    """Full-size ``cv2.imread``, then our one-warp crop and ``lookup_normalize``."""
    tensors = []
    for path, plan in zip(paths, plans):
        crop = render_crop(cv2.imread(str(path), cv2.IMREAD_COLOR), 1, plan)
        tensors.append(lookup_normalize(crop[..., ::-1], mean, std, plan.brightness))
    return tensors


class OriginalPipeline(Dataset):
    """``original_sample`` of precomputed draws, as a Dataset, for the DataLoader comparison."""

    def __init__(self, paths: list[list[Path]], plans: list[list[CropPlan]], mean, std):
        self.paths, self.plans, self.mean, self.std = paths, plans, mean, std

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        tensors = original_sample(self.paths[i], self.plans[i], self.mean, self.std)
        return {"template_images": torch.stack(tensors[:-1]), "search_images": tensors[-1]}


def _loader_samples_per_s(dataset: Dataset, n: int, workers: int, batch_size: int) -> tuple[float, float]:
    """Samples per second through a DataLoader (first batch excluded) and the loader's wall time."""
    indices = list(range(n))
    loader = DataLoader(dataset, batch_size=batch_size, sampler=indices, num_workers=workers,
                        worker_init_fn=worker_init_fn)
    start = time.perf_counter()
    iterator = iter(loader)
    next(iterator)
    first = time.perf_counter()
    timed = sum(batch["search_images"].shape[0] for batch in iterator)
    end = time.perf_counter()
    return timed / (end - first), end - start


def main(argv: list[str] | None = None) -> None:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="LaSOT root (generated there with --make_synthetic)")
    parser.add_argument("--config", required=True,
                        help="experiment YAML: a path or a shipped config name, e.g. seqtrack_b192")
    parser.add_argument("--samples", type=int, default=300, help="samples per measurement")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader worker processes")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2, help="DataLoader rounds per pipeline, alternating")
    parser.add_argument("--make_synthetic", type=parse_size, metavar="WxH",
                        help="generate a synthetic tree of WxH frames at --root if it is missing")
    parser.add_argument("--sequences_per_class", type=int, default=4)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("overrides", nargs="*", help="config overrides key.path=value")
    args = parser.parse_args(argv)
    if args.samples < 2 * args.batch_size:
        parser.error("--samples must be at least twice --batch_size (the first batch is not timed)")

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

    valid = [i for i in range(n) if all(p is not None for p in draws[i][2])]
    mean, std = cfg.data.mean, cfg.data.std
    methods = {
        "decode_full": lambda i: [cv2.imread(str(path), cv2.IMREAD_COLOR) for path in paths[i]],
        "straightforward": lambda i: original_sample(paths[i], draws[i][2], mean, std),
        "lean_straightforward": lambda i: lean_sample(paths[i], draws[i][2], mean, std),
        "ours": lambda i: dataset[i],
    }
    names = list(methods)
    totals = dict.fromkeys(names, 0.0)
    for i in valid:
        for k in range(len(names)):
            name = names[(i + k) % len(names)]
            start = time.perf_counter()
            methods[name](i)
            totals[name] += time.perf_counter() - start
    inprocess_ms = {name: total * 1000 / len(valid) for name, total in totals.items()}

    original = OriginalPipeline([paths[i] for i in valid], [draws[i][2] for i in valid], mean, std)
    rates: dict[str, list[float]] = {"ours": [], "straightforward": []}
    wall = 0.0
    for _ in range(args.rounds):
        for name, ds, count in (("ours", dataset, n), ("straightforward", original, len(valid))):
            rate, seconds = _loader_samples_per_s(ds, count, args.workers, args.batch_size)
            rates[name].append(rate)
            wall += seconds
    ours_rate = statistics.fmean(rates["ours"])
    original_rate = statistics.fmean(rates["straightforward"])
    workers = max(args.workers, 1)

    print(json.dumps({
        "benchmark": "data",
        "config": cfg.name,
        "root": str(root),
        "generated": generated,
        "frame_size": [frame_w, frame_h],
        "search": {"size": cfg.data.search.size, "factor": cfg.data.search.factor},
        "template": {"size": cfg.data.template.size, "factor": cfg.data.template.factor,
                     "number": cfg.data.template.number},
        "decoder": cfg.data.decoder,
        "reduced_decode": cfg.data.reduced_decode,
        "samples": n,
        "workers": args.workers,
        "batch_size": args.batch_size,
        "rounds": args.rounds,
        "samples_per_s": round(ours_rate, 1),
        "ms_per_sample_per_worker": round(workers * 1000 / ours_rate, 3),
        "straightforward_samples_per_s": round(original_rate, 1),
        "straightforward_ms_per_sample_per_worker": round(workers * 1000 / original_rate, 3),
        "speedup_per_worker": round(ours_rate / original_rate, 3),
        "loader_rounds_samples_per_s": {k: [round(r, 1) for r in v] for k, v in rates.items()},
        "loader_wall_s": round(wall, 3),
        "inprocess_ms_per_sample": {k: round(v, 3) for k, v in inprocess_ms.items()},
        "speedup_inprocess": round(inprocess_ms["straightforward"] / inprocess_ms["ours"], 3),
        "speedup_inprocess_vs_lean": round(inprocess_ms["lean_straightforward"] / inprocess_ms["ours"], 3),
        "ratio_inprocess_to_decode_full": round(inprocess_ms["ours"] / inprocess_ms["decode_full"], 3),
        "decoded_frames_by_scale": {str(k): v for k, v in sorted(scales.items())},
        "stats": dataset.stats,
        "device": "cpu",
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "threads": {"cv2": cv2.getNumThreads(), "torch": torch.get_num_threads()},
        "versions": versions(),
        "argv": sys.argv[1:] if argv is None else list(argv),
    }))


if __name__ == "__main__":
    main()
