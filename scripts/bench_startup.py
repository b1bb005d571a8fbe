"""Start-up benchmark: seconds and memory until the training dataset is ready, on annotation-only trees of the B256
recipe's datasets at their real size, with a cold and a warm index cache.

    python scripts/bench_startup.py --out /tmp/startup_trees --scale 1.0 --repeats 3
    python scripts/bench_startup.py --out /tmp/startup_small --scale 0.1             # a quick run

It writes (once; later runs reuse them) annotation-only trees at ``--out``: LaSOT's 1,120 training sequences (2.83M
frames), GOT-10k's vot-train 7,086 sequences (list.txt lists 9,335), TrackingNet's 30,132 sequences (14.4M frames)
in 12 chunks, COCO 2017 train (118,287 images, 860,001 annotations, 8,993 of them crowds, JSON of about the real
file's size); ``--scale`` multiplies the sequences, images and annotations. Frames are empty files, and only those
the readers look for: the first and the last of each sequence, every COCO image (its folder is listed once). The
index caches go to ``--out``/index-cache (``$SEQTRACK_INDEX_CACHE``), emptied before each cold start.

Then, for each source and for the B256 mix (the four, ratios 1), in fresh processes: ``cold_s`` (the index cache
removed, so the reader parses every file and writes the cache) and ``warm_s`` (the cache there), both the
process's CPU seconds from the start of the import of the package to the TrackingDataset being built, and the wall
seconds (``*_wall_s``); ``main_rss_mb`` and ``main_peak_mb`` (VmRSS and VmHWM of /proc/self/status) after a warm
start; ``worker_uss_mb`` and ``worker_pss_mb`` of each of 2 DataLoader workers (forked, after ``gc.freeze`` as the
trainer does; ``--no_freeze``: without it, to see what it saves) after each has made every sequence of the dataset once and run a full garbage collection, read from
/proc/<pid>/smaps_rollup (Linux: USS = Private_Clean + Private_Dirty); and ``node_8x8_gb``, the extrapolation to 8
processes of 8 workers on one node: 8 main RSS + 64 worker USS (the pages they share counted once, in the main
processes). Each JSON line gives the median and the spread (min, max) over ``--repeats`` repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from seqtrack_accel.data.index_cache import CACHE_VARIABLE

LASOT_FRAMES, GOT10K_LISTED, GOT10K_FRAMES = 2_830_000, 9335, 1_403_000
TRACKINGNET_SEQUENCES, TRACKINGNET_FRAMES, TRACKINGNET_CHUNKS = 30_132, 14_400_000, 12
COCO_IMAGES, COCO_ANNOTATIONS, COCO_CROWD = 118_287, 860_001, 8_993
SOURCES = {
    "lasot": "{name: lasot, root: %s/lasot, split: train}",
    "got10k": "{name: got10k, root: %s/got10k, split: vottrain}",
    "trackingnet": "{name: trackingnet, root: %s/trackingnet}",
    "coco17": "{name: coco17, root: %s/coco}",
}


def lengths(total_frames: int, sequences: int, rng: np.random.Generator) -> np.ndarray:
    """Sequence lengths of mean total_frames / sequences, spread as real videos are (at least 30 frames)."""
    raw = rng.lognormal(0.0, 0.5, sequences)
    return np.maximum(30, np.round(raw / raw.sum() * total_frames)).astype(int)


def box_text(n: int, rng: np.random.Generator) -> str:
    boxes = rng.integers(1, 600, size=(n, 4))
    return "\n".join(",".join(map(str, row)) for row in boxes.tolist()) + "\n"


def touch_frames(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).touch()


def write_lasot(root: Path, scale: float, rng: np.random.Generator) -> None:
    from seqtrack_accel.data.lasot import protocol_test_sequences

    names = [(c, f"{c}-{i}") for c, tests in sorted(protocol_test_sequences().items()) for i in range(1, 21)
             if f"{c}-{i}" not in tests]
    names = names[:max(1, round(len(names) * scale))]
    for (class_name, name), n in zip(names, lengths(int(LASOT_FRAMES * scale), len(names), rng)):
        seq = root / class_name / name
        touch_frames(seq / "img", [f"{1:08d}.jpg", f"{n:08d}.jpg"])
        (seq / "groundtruth.txt").write_text(box_text(n, rng))
        for flags in ("full_occlusion.txt", "out_of_view.txt"):
            (seq / flags).write_text(",".join(map(str, (rng.random(n) < 0.05).astype(int).tolist())) + "\n")


def write_got10k(root: Path, scale: float, rng: np.random.Generator) -> None:
    from seqtrack_accel.data.got10k import split_indices

    train = root / "train"
    train.mkdir(parents=True)
    # list.txt scaled: vot-train keeps the sequences of its indices that it lists (a warning says so)
    listed = [f"GOT-10k_Train_{i:06d}" for i in range(1, max(200, round(GOT10K_LISTED * scale)) + 1)]
    (train / "list.txt").write_text("\n".join(listed) + "\n")
    chosen = [listed[i] for i in split_indices("vottrain") if i < len(listed)]
    for name, n in zip(chosen, lengths(int(GOT10K_FRAMES * len(chosen) / GOT10K_LISTED), len(chosen), rng)):
        seq = train / name
        touch_frames(seq, [f"{1:08d}.jpg", f"{n:08d}.jpg"])
        (seq / "groundtruth.txt").write_text(box_text(n, rng))
        (seq / "absence.label").write_text("\n".join(map(str, (rng.random(n) < 0.03).astype(int).tolist())) + "\n")
        (seq / "cover.label").write_text("\n".join(map(str, rng.integers(1, 9, n).tolist())) + "\n")
        (seq / "meta_info.ini").write_text(f"[METAINFO]\nobject_class: class{rng.integers(500)}\n")


def write_trackingnet(root: Path, scale: float, rng: np.random.Generator) -> None:
    count = max(TRACKINGNET_CHUNKS, round(TRACKINGNET_SEQUENCES * scale))
    for k, n in enumerate(lengths(int(TRACKINGNET_FRAMES * count / TRACKINGNET_SEQUENCES), count, rng)):
        chunk = root / f"TRAIN_{k % TRACKINGNET_CHUNKS}"
        name = f"seq{k:06d}"
        (chunk / "anno").mkdir(parents=True, exist_ok=True)
        (chunk / "anno" / f"{name}.txt").write_text(box_text(n, rng))
        touch_frames(chunk / "frames" / name, ["0.jpg", f"{n - 1}.jpg"])


def write_coco(root: Path, scale: float, rng: np.random.Generator) -> None:
    images, annotations = max(1, round(COCO_IMAGES * scale)), max(1, round(COCO_ANNOTATIONS * scale))
    files = [f"{i:012d}.jpg" for i in range(1, images + 1)]
    touch_frames(root / "train2017", files)
    image_of = rng.integers(images, size=annotations)
    boxes = np.round(rng.uniform(1, 400, size=(annotations, 4)), 2)
    crowd = np.zeros(annotations, dtype=int)
    crowd[rng.choice(annotations, size=round(COCO_CROWD * scale), replace=False)] = 1
    polygons = np.round(rng.uniform(0, 640, size=(annotations, 24)), 2)  # about the real file's 448 MB
    data = {
        "images": [{"id": i + 1, "file_name": f, "width": 640, "height": 480} for i, f in enumerate(files)],
        "categories": [{"id": c + 1, "name": f"category{c}", "supercategory": "thing"} for c in range(80)],
        "annotations": [{"id": a + 1, "image_id": int(image_of[a]) + 1, "category_id": int(a % 80) + 1,
                         "iscrowd": int(crowd[a]), "area": float(boxes[a, 2] * boxes[a, 3]),
                         "bbox": boxes[a].tolist(), "segmentation": [polygons[a].tolist()]}
                        for a in range(annotations)],
    }
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "instances_train2017.json").write_text(json.dumps(data))


def write_trees(out: Path, scale: float) -> None:
    for name, write in (("lasot", write_lasot), ("got10k", write_got10k), ("trackingnet", write_trackingnet),
                        ("coco", write_coco)):
        if not (out / name / ".complete").is_file():
            shutil.rmtree(out / name, ignore_errors=True)
            start = time.perf_counter()
            write(out / name, scale, np.random.default_rng(len(name)))
            (out / name / ".complete").touch()
            print(json.dumps({"wrote": name, "seconds": round(time.perf_counter() - start, 1)}), file=sys.stderr)


CHILD = r"""
import gc, json, os, resource, sys, time
start_cpu, start_wall = time.process_time(), time.perf_counter()
import torch
from torch.utils.data import DataLoader, Dataset
from seqtrack_accel.config import load_config
from seqtrack_accel.data import TrackingDataset, build_sources

def status(key):
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(key)) / 1024

def rollup():
    fields = dict(l.split()[:2] for l in open("/proc/self/smaps_rollup") if l.split()[0].endswith(":"))
    kb = lambda k: int(fields[k + ":"])
    return (kb("Private_Clean") + kb("Private_Dirty")) / 1024, kb("Pss") / 1024

cfg = load_config(sys.argv[1], ["data.datasets=" + sys.argv[2]])
dataset = TrackingDataset(cfg.data, build_sources(cfg.data), seed=0)
ready = {"cpu_s": time.process_time() - start_cpu, "wall_s": time.perf_counter() - start_wall,
         "main_rss_mb": status("VmRSS"), "main_peak_mb": status("VmHWM")}
if sys.argv[3] != "-":
    class TouchEverySequence(Dataset):  # worker w makes every sequence of every source once, then collects
        def __len__(self):
            return 2
        def __getitem__(self, w):
            for source in dataset.sources:
                for k in range(len(source.sequences)):
                    source.sequences[k].visible.sum()
            gc.collect()
            return torch.tensor(rollup())
    gc.collect()
    if sys.argv[3] == "workers":  # "workers-unfrozen": the workers fork without gc.freeze
        gc.freeze()
    loader = DataLoader(TouchEverySequence(), batch_size=None, num_workers=2, multiprocessing_context="fork")
    memory = torch.stack(list(loader))
    ready["worker_uss_mb"], ready["worker_pss_mb"] = memory[:, 0].max().item(), memory[:, 1].max().item()
print(json.dumps(ready))
"""


def measure(config: str, sources: str, workers: str) -> dict:
    """One fresh process: ``workers`` is "-" (no workers), "workers" or "workers-unfrozen" (no gc.freeze)."""
    result = subprocess.run([sys.executable, "-c", CHILD, config, sources, workers],
                            capture_output=True, text=True, check=False, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if result.returncode != 0:
        raise RuntimeError(f"the measuring process failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def spread(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2), "max": round(max(values), 2)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="where the trees are written (then reused)")
    parser.add_argument("--scale", type=float, default=1.0, help="1.0: the real sizes; less for a quick run")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--no_freeze", action="store_true",
                        help="fork the workers without gc.freeze (what the trainer did before it froze)")
    parser.add_argument("--sources", nargs="+", default=[*SOURCES, "mix"], choices=[*SOURCES, "mix"])
    parser.add_argument("--config", default=str(Path(__file__).resolve().parents[1] / "configs" / "seqtrack_b256.yaml"))
    args = parser.parse_args(argv)
    out = args.out.resolve()
    write_trees(out, args.scale)
    cache = out / "index-cache"  # one folder for every source's cache (GOT-10k's would sit in train/), emptied for cold
    os.environ[CACHE_VARIABLE] = str(cache)
    for name in args.sources:
        names = list(SOURCES) if name == "mix" else [name]
        sources = "[" + ", ".join(SOURCES[n] % out for n in names) + "]"
        runs = []
        for _ in range(args.repeats):
            shutil.rmtree(cache, ignore_errors=True)  # cold: no index cache
            cold = measure(args.config, sources, workers="-")
            warm = measure(args.config, sources, workers="workers-unfrozen" if args.no_freeze else "workers")
            runs.append({"cold_s": cold["cpu_s"], "cold_wall_s": cold["wall_s"], "cold_peak_mb": cold["main_peak_mb"],
                         "warm_s": warm["cpu_s"], "warm_wall_s": warm["wall_s"], **{k: warm[k] for k in (
                             "main_rss_mb", "main_peak_mb", "worker_uss_mb", "worker_pss_mb")},
                         "node_8x8_gb": (8 * warm["main_rss_mb"] + 64 * warm["worker_uss_mb"]) / 1024})
        print(json.dumps({"benchmark": "startup", "source": name, "scale": args.scale, "repeats": args.repeats,
                          "gc_freeze": not args.no_freeze,
                          **{key: spread([r[key] for r in runs]) for key in runs[0]}}), flush=True)


if __name__ == "__main__":
    main()
