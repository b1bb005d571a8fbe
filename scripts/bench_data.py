"""Data pipeline benchmark: samples/s per worker against the original's pipeline, on the same samples; and per
training source (LaSOT, GOT-10k, TrackingNet, COCO 2017, custom folders, the procedural source) and for their mix.

    python scripts/bench_data.py --root data/bench_lasot --config configs/seqtrack_b192.yaml \\
        --samples 300 --workers 1 --make_synthetic 1280x720
    python scripts/bench_data.py --root data/bench_sources --config configs/seqtrack_b192.yaml \\
        --samples 300 --workers 1 --sources lasot got10k trackingnet coco17 --mix

Without ``--sources`` it prints one JSON line. Every pipeline makes the same samples (the first draw of each index:
same frames, windows, flips, grayscale and brightness), measured in the same run:

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

With ``--sources``, ``--root`` is a folder of synthetic trees, one per source, ``<source>-<W>x<H>`` (written on first
use, then reused). Each source gets a TrackingDataset of its own (one source draws no dataset, so LaSOT's samples
are the default run's ``ours``), and ``--mix`` adds one over all the listed sources at equal ratios (the four of the
original's B256 recipe: lasot got10k trackingnet coco17). They go through DataLoaders with the same workers, the
datasets in turn within each of ``--rounds`` rounds, and print one JSON line each (``"benchmark": "data_source"``,
``"source"``: the name or ``"mix"``). Frame sizes are those most of each dataset's pictures have
(``SYNTHETIC_TREES``; ``--frame_size got10k=1280x720`` changes one). What a frame costs depends on its size: the
decoder decodes at 1/2, 1/4, 1/8 scale when a crop shrinks its window that much (``decoded_frames_by_scale``), which
saves pixel work but not the reading of the compressed data (``mean_frame_kb``: the synthetic frames are JPEGs of
quality 90). GOT-10k is read as ``train_full`` (the recipe's ``vottrain`` is a subset of the same sequences).

``procedural`` renders every sample's clip on the fly (no tree; its bank of backgrounds is drawn before the timing,
``backgrounds_s``); ``procedural_tree`` reads clips of the same generator written once as a LaSOT tree of
``--sequences_per_class`` x 2 sequences: the two ways of feeding the generator to training, side by side.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torchvision.transforms.functional as tvisf
from torch.utils.data import DataLoader, Dataset

from bench_env import cpu_name, versions
from seqtrack_accel.cli.make_synthetic_lasot import parse_size
from seqtrack_accel.config import Config, ProceduralConfig, SourceConfig, load_config
from seqtrack_accel.data import (
    KINDS,
    Source,
    TrackingDataset,
    load_source,
    make_synthetic_coco,
    make_synthetic_custom,
    make_synthetic_got10k,
    make_synthetic_lasot,
    make_synthetic_trackingnet,
    worker_init_fn,
)
from seqtrack_accel.data.processing import CropPlan, decode_scale, render_crop
from seqtrack_accel.data.procedural import Clip, make_procedural_tree
from seqtrack_accel.cli import ArgumentParser



def _setup(cfg, args: argparse.Namespace, samples: int) -> dict:
    """What a data benchmark line says about the crops, the decoder and the run: the same for every kind of line."""
    return {
        "search": {"size": cfg.data.search.size, "factor": cfg.data.search.factor},
        "template": {"size": cfg.data.template.size, "factor": cfg.data.template.factor,
                     "number": cfg.data.template.number},
        "decoder": cfg.data.decoder,
        "reduced_decode": cfg.data.reduced_decode,
        "samples": samples,
        "workers": args.workers,
        "batch_size": args.batch_size,
        "rounds": args.rounds,
    }

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


def decoded_frames_by_scale(draws, reduced_decode: bool) -> Counter:
    """How many frames the first draws decode at each scale (1, 2, 4, 8): each frame once, at the smallest scale
    any of its crops allows, as the dataset does."""
    scales = Counter()
    for _, ids, plans in draws:
        per_frame: dict[int, int] = {}
        for f, plan in zip(ids, plans):
            if plan is not None:
                s = decode_scale(plan.side, plan.out_size) if reduced_decode else 1
                per_frame[f] = min(s, per_frame.get(f, s))
        scales.update(per_frame.values())
    return scales


def environment(argv: list[str] | None) -> dict:
    """Where a line was measured: device, CPU, threads, library versions and the command line."""
    return {
        "device": "cpu",
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "threads": {"cv2": cv2.getNumThreads(), "torch": torch.get_num_threads()},
        "versions": versions(),
        "argv": sys.argv[1:] if argv is None else list(argv),
    }


# ---------------------------------------------------------------------------------------------------------------
# per source (--sources, --mix)


@dataclass(frozen=True)
class SyntheticTree:
    """A synthetic tree of one source: its default frame size and how to write it.

    ``write(out, size, frames, lasot_classes, sequences_per_class)`` writes the tree at ``out`` (about six
    sequences of ``frames`` frames; COCO: 100 images of 3 objects, about 300 one-image sequences).
    """

    size: tuple[int, int]
    write: Callable[[Path, tuple[int, int], int, tuple[str, ...], int], Path]


# The frame size most of each dataset's pictures have, so the decode costs what it costs in training.
SYNTHETIC_TREES = {
    # LaSOT: YouTube HD videos, mostly 1280x720; also the default run's tree, so the figures compare.
    "lasot": SyntheticTree((1280, 720), lambda out, size, frames, classes, per_class: make_synthetic_lasot(
        out, classes, per_class, frames, size, seed=0)),
    # GOT-10k: most of its videos are full HD.
    "got10k": SyntheticTree((1920, 1080), lambda out, size, frames, classes, per_class: make_synthetic_got10k(
        out, 6, frames, size, seed=0)),
    # TrackingNet (YouTube-BoundingBoxes videos): 1280x720 for the HD ones; many are 640x360, which
    # --frame_size trackingnet=640x360 measures.
    "trackingnet": SyntheticTree((1280, 720), lambda out, size, frames, classes, per_class:
                                 make_synthetic_trackingnet(out, 2, 3, frames, size, seed=0)),
    # COCO 2017: at most 640 pixels on the long side, most images 640x480 or 640x427.
    "coco17": SyntheticTree((640, 480), lambda out, size, frames, classes, per_class: make_synthetic_coco(
        out, images=100, objects_per_image=3, size=size, seed=0)),
    # Your own folders: HD video (the generator writes every third sequence as PNG, which decodes at full scale).
    "custom": SyntheticTree((1280, 720), lambda out, size, frames, classes, per_class: make_synthetic_custom(
        out, sequences_per_class=3, frames=frames, size=size, seed=0)),
    # The procedural source at its default frame size: rendered on the fly (no tree is written), or its clips
    # written once as a tree and read back (procedural_tree).
    "procedural": SyntheticTree((320, 240), lambda *_: None),
    "procedural_tree": SyntheticTree((320, 240), lambda out, size, frames, classes, per_class: make_procedural_tree(
        out, "train", sequences=2 * per_class, frames=max(frames, 20), size=size, seed=0)),
}
MIX_RECIPE = ("lasot", "got10k", "trackingnet", "coco17")  # the original's B256 datasets, equal shares


def parse_source_size(text: str) -> tuple[str, tuple[int, int]]:
    """``"got10k=1920x1080"`` -> ("got10k", (1920, 1080))."""
    name, _, size = text.partition("=")
    if name not in SYNTHETIC_TREES or not size:
        raise argparse.ArgumentTypeError(f"expected SOURCE=WxH with SOURCE one of {', '.join(SYNTHETIC_TREES)}, "
                                         f"got {text!r}")
    return name, parse_size(size)


def synthetic_source(name: str, folder: Path, size: tuple[int, int], cfg: Config, frames: int,
                     sequences_per_class: int) -> tuple[Source, dict]:
    """The source ``name`` read from its synthetic tree ``folder/<name>-<W>x<H>`` (written first if missing), and
    what the JSON line says about the tree."""
    if name == "procedural":  # the config's procedural settings (its data.datasets entry), at this frame size
        start = time.perf_counter()
        settings = next((s.procedural for s in cfg.data.datasets if s.name == "procedural" and s.procedural),
                        ProceduralConfig())
        source = SourceConfig("procedural", procedural=dataclasses.replace(
            settings, width=size[0], height=size[1], frames=max(frames, 20)))
        clips = KINDS["procedural"].render(source, cfg.data)
        return Source(name, [], 1.0, clips), {"rendered": True, "frame_size": list(size), "frames": clips.config.frames,
                                              "backgrounds": clips.config.backgrounds,
                                              "backgrounds_s": round(time.perf_counter() - start, 1)}
    root = folder / f"{name}-{size[0]}x{size[1]}"
    # LaSOT takes the config's LaSOT source (classes, split), as the default run does; the others their training
    # split. The tree here is this script's, read as it is.
    lasot = next((s for s in cfg.data.datasets if s.name == "lasot"), SourceConfig("lasot"))
    generated, start = not root.exists(), time.perf_counter()
    if generated:
        SYNTHETIC_TREES[name].write(root, size, frames, lasot.classes or ("book", "coin"), sequences_per_class)
    seconds = time.perf_counter() - start
    source_cfg = (dataclasses.replace(lasot, root=str(root), synthetic=None, ratio=1.0) if name == "lasot" else
                  SourceConfig("lasot", root=str(root), split="all") if name == "procedural_tree" else
                  SourceConfig(name, root=str(root)))
    sequences = load_source(source_cfg, f"--sources {name}")
    manifest = root / "synthetic.json"
    tree = {"root": str(root), "generated": generated, "generate_s": round(seconds, 1) if generated else 0.0,
            "frame_size": list(size), "sequences": len(sequences), "frames": sum(len(q) for q in sequences),
            "synthetic": json.loads(manifest.read_text()) if manifest.is_file() else None}
    return Source(name, sequences), tree


def draw_figures(dataset: TrackingDataset, n: int, reduced_decode: bool) -> dict:
    """What the first draws of samples 0 .. n-1 read, with their frames loaded into the page cache (as the default
    run does, so every measurement starts alike)."""
    draws = [dataset.first_draw(i) for i in range(n)]
    if all(isinstance(seq, Clip) for seq, _, _ in draws):  # rendered: nothing is read or decoded
        return {"rendered_frames_per_sample": round(sum(len(set(ids)) for _, ids, _ in draws) / n, 3)}
    draws = [draw for draw in draws if not isinstance(draw[0], Clip)]
    paths = {seq.frame_path(f) for seq, ids, _ in draws for f in set(ids)}
    kilobytes = [len(path.read_bytes()) / 1000 for path in paths]
    scales = decoded_frames_by_scale(draws, reduced_decode)
    return {"decoded_frames_per_sample": round(sum(scales.values()) / len(draws), 3),
            "decoded_frames_by_scale": {str(k): v for k, v in sorted(scales.items())},
            "mean_frame_kb": round(statistics.fmean(kilobytes), 1)}


def source_benchmarks(args: argparse.Namespace, cfg: Config, folder: Path, argv: list[str] | None) -> None:
    """One JSON line per source of ``args.sources`` and, with ``args.mix``, one for their mix (module docstring)."""
    n, workers = args.samples, max(args.workers, 1)
    sizes = dict(args.frame_size or [])
    sources, trees = [], {}
    for name in args.sources:
        source, trees[name] = synthetic_source(name, folder, sizes.get(name, SYNTHETIC_TREES[name].size), cfg,
                                               args.frames, args.sequences_per_class)
        sources.append(source)
    datasets = {s.name: TrackingDataset(cfg.data, [s], seed=cfg.train.seed) for s in sources}
    if args.mix:
        datasets["mix"] = TrackingDataset(cfg.data, sources, seed=cfg.train.seed)  # equal ratios
    figures = {name: draw_figures(ds, n, cfg.data.reduced_decode) for name, ds in datasets.items()}

    # Datasets in turn within each round, so a change of load on the machine affects them alike.
    rates: dict[str, list[float]] = {name: [] for name in datasets}
    walls = dict.fromkeys(datasets, 0.0)
    for _ in range(args.rounds):
        for name, ds in datasets.items():
            rate, seconds = _loader_samples_per_s(ds, n, args.workers, args.batch_size)
            rates[name].append(rate)
            walls[name] += seconds
    ms = {name: workers * 1000 / statistics.fmean(r) for name, r in rates.items()}

    setup = {"config": cfg.name, **_setup(cfg, args, n)}
    about = {s.name: trees[s.name] for s in sources}
    if args.mix:
        drawn = datasets["mix"].drawn  # over every round: the shares its figures were measured with
        shares = {s: v / sum(drawn.values()) for s, v in drawn.items()}
        ratios = sum(s.ratio for s in sources)
        about["mix"] = {
            "sources": {s.name: s.ratio for s in sources},
            "drawn_share": {s: round(v, 3) for s, v in shares.items()},
            "frame_size": {s.name: trees[s.name]["frame_size"] for s in sources},
            # What the mix would cost if each sample cost what it costs in its source's own dataset: at the shares
            # its samples drew (to compare with the measured figure), and at the ratios (what training averages).
            "ms_per_sample_per_worker_from_sources": round(sum(p * ms[s] for s, p in shares.items()), 3),
            "ms_per_sample_per_worker_at_ratios": round(sum(s.ratio / ratios * ms[s.name] for s in sources), 3),
        }
    for name, ds in datasets.items():
        print(json.dumps({
            "benchmark": "data_source",
            "source": name,
            **about[name],
            **setup,
            "samples_per_s": round(statistics.fmean(rates[name]), 1),
            "ms_per_sample_per_worker": round(ms[name], 3),
            "loader_rounds_samples_per_s": [round(r, 1) for r in rates[name]],
            "loader_wall_s": round(walls[name], 3),
            **({"ms_ratio_to_lasot": round(ms[name] / ms["lasot"], 3)} if "lasot" in ms else {}),
            **figures[name],
            "stats": ds.stats,
            **environment(argv),
        }))


def main(argv: list[str] | None = None) -> None:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True,
                        help="LaSOT root (generated there with --make_synthetic); with --sources, the folder of the "
                             "synthetic trees, one per source")
    parser.add_argument("--config", required=True,
                        help="experiment YAML: a path or a shipped config name, e.g. seqtrack_b192")
    parser.add_argument("--samples", type=int, default=300, help="samples per measurement")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader worker processes")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2, help="DataLoader rounds per pipeline, alternating")
    parser.add_argument("--make_synthetic", type=parse_size, metavar="WxH",
                        help="generate a synthetic tree of WxH frames at --root if it is missing")
    parser.add_argument("--sequences_per_class", type=int, default=4, help="of a synthetic LaSOT tree")
    parser.add_argument("--frames", type=int, default=60, help="per sequence of a synthetic tree (not coco17)")
    parser.add_argument("--sources", nargs="+", choices=list(SYNTHETIC_TREES), metavar="SOURCE",
                        help="measure each of these sources on a synthetic tree of its own (one JSON line each) "
                             f"instead of the comparison with the original: {', '.join(SYNTHETIC_TREES)}; config "
                             "overrides go before the options or after --")
    parser.add_argument("--mix", action="store_true",
                        help="with --sources: also their mix at equal ratios (the original's B256 recipe: "
                             f"--sources {' '.join(MIX_RECIPE)})")
    parser.add_argument("--frame_size", action="append", type=parse_source_size, metavar="SOURCE=WxH",
                        help="with --sources, repeatable: a frame size other than the default, "
                             f"{' '.join(f'{k}={v.size[0]}x{v.size[1]}' for k, v in SYNTHETIC_TREES.items())}")
    parser.add_argument("overrides", nargs="*", help="config overrides key.path=value")
    args = parser.parse_args(argv)
    if args.samples < 2 * args.batch_size:
        parser.error("--samples must be at least twice --batch_size (the first batch is not timed)")
    if args.sources is None and (args.mix or args.frame_size):
        parser.error("--mix and --frame_size go with --sources")
    if args.sources is not None and args.make_synthetic:
        parser.error("--make_synthetic is the LaSOT size of the default run; with --sources, trees are written "
                     "when missing, at --frame_size (e.g. lasot=1280x720)")
    if args.sources is not None and len(set(args.sources)) != len(args.sources):
        parser.error("--sources lists a source more than once")
    if args.mix and len(args.sources) < 2:
        parser.error("--mix needs at least two --sources")

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    root = Path(args.root).expanduser().resolve()
    if args.sources:
        cfg = load_config(args.config, [f"data.samples_per_epoch={args.samples}", *args.overrides])
        source_benchmarks(args, cfg, root, argv)
        return
    cfg = load_config(args.config, [f"data.datasets[0].root={root}", f"data.samples_per_epoch={args.samples}",
                                    *args.overrides])
    generated = False
    source = dataclasses.replace(cfg.data.datasets[0], synthetic=None)  # the tree at --root, read as it is
    if args.make_synthetic and not root.exists():
        make_synthetic_lasot(root, source.classes or ("book", "coin"), args.sequences_per_class, args.frames,
                             args.make_synthetic, seed=0)
        generated = True
    sequences = load_source(source, "data.datasets[0]")
    dataset = TrackingDataset(cfg.data, sequences, seed=cfg.train.seed)
    n = args.samples

    draws = [dataset.first_draw(i) for i in range(n)]
    paths = [[seq.frame_path(f) for f in ids] for seq, ids, _ in draws]
    for path in {p for sample in paths for p in sample}:  # warm the page cache for every measurement alike
        path.read_bytes()
    frame_h, frame_w = cv2.imread(str(paths[0][0])).shape[:2]
    scales = decoded_frames_by_scale(draws, cfg.data.reduced_decode)

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
        **_setup(cfg, args, n),
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
        **environment(argv),
    }))


if __name__ == "__main__":
    main()
