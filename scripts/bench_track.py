"""Tracking benchmark: frames/s of the tracker with the decoder's KV cache against uncached decoding.

    python scripts/bench_track.py --config configs/demo.yaml --frames 60
    python scripts/bench_track.py --config configs/seqtrack_b192.yaml --device cuda --dtype bfloat16 --frames 300
    python scripts/bench_track.py --checkpoint runs/demo/phase_1/checkpoints/checkpoint_16 --frames 100

Runs ``SeqTrackTracker`` over the first ``--frames`` frames of one LaSOT test sequence (frames are decoded
before timing, so only ``track()`` is timed: crop, encoder, 4 decoding steps, host transfer). Cached and uncached
runs alternate for ``--rounds`` rounds, in the same process on the same frames. A second measurement times, on
fixed crops, the encoder and the 4 decoding steps (``model.decode_boxes``) with and without the cache, so the
decoder's share of a frame is visible.
Without ``--checkpoint`` the model is the config's network with random weights (the speed does not depend on
the weights; the boxes do, and are checked to be the same with and without the cache).

Prints one JSON line per setting (``benchmark: track``) and one with the ratios (``benchmark: track_cache``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np
import torch

from bench_env import device_name, versions
from seqtrack_accel.cli import add_device_arguments, torch_dtype
from seqtrack_accel.config import load_config, with_scratch_init
from seqtrack_accel.data import evaluation_sequences, read_image
from seqtrack_accel.model import build_model
from seqtrack_accel.tracking import SeqTrackTracker, load_tracker_model
from seqtrack_accel.cli import ArgumentParser



def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def track_frames(tracker: SeqTrackTracker, frames: list[np.ndarray], init_box: np.ndarray) -> tuple[float, np.ndarray]:
    """Seconds spent in ``track()`` over ``frames[1:]`` and the boxes, after ``initialize`` on ``frames[0]``."""
    tracker.initialize(frames[0], init_box)
    boxes = np.empty((len(frames) - 1, 4))
    start = time.perf_counter()
    for k, frame in enumerate(frames[1:]):
        boxes[k], _ = tracker.track(frame)  # returns host numpy: one synchronisation per frame, as in real use
    return time.perf_counter() - start, boxes


@torch.inference_mode()
def time_decoding(model, templates, search, device, dtype, repeats: int) -> dict[str, float]:
    """Median milliseconds of ``model.encode`` and of ``model.decode_boxes`` with and without the cache, on the
    same encoder output, the three interleaved."""
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
        memory = model.encode(templates, search)
    calls = {"encode_ms": lambda: model.encode(templates, search),
             "decode_ms_cached": lambda: model.decode_boxes(memory, use_cache=True),
             "decode_ms_uncached": lambda: model.decode_boxes(memory, use_cache=False)}
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, fn in calls.items():
            _sync(device)
            start = time.perf_counter()
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
                fn()
            _sync(device)
            times[name].append(time.perf_counter() - start)
    return {name: 1000 * statistics.median(values) for name, values in times.items()}


def main(argv: list[str] | None = None) -> None:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="config YAML, a path or a shipped config name: crop sizes, model, data root "
                                    "(default: the checkpoint's own config, else demo)")
    p.add_argument("--checkpoint", help="track with these weights (anything seqtrack-evaluate --checkpoint takes)")
    p.add_argument("--sequence", help="test sequence to track (default: the first of the evaluation split)")
    p.add_argument("--frames", type=int, default=60, help="frames tracked per run (the first initialises)")
    p.add_argument("--rounds", type=int, default=2, help="cached/uncached runs, alternating")
    p.add_argument("--repeats", type=int, default=20, help="timed encoder / decoding calls per setting")
    add_device_arguments(p)
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("overrides", nargs="*", metavar="key.path=value")
    args = p.parse_args(argv)
    if args.frames < 2:
        p.error("--frames must be at least 2 (the first frame initialises the tracker)")
    if args.threads:
        torch.set_num_threads(args.threads)
    device, dtype = torch.device(args.device), torch_dtype(args.dtype)

    if args.checkpoint:
        model, cfg = load_tracker_model(args.checkpoint,
                                        load_config(args.config, args.overrides) if args.config else None)
    else:
        cfg = load_config(args.config or "demo", args.overrides)
        torch.manual_seed(cfg.train.seed)
        model = build_model(with_scratch_init(cfg))
    model = model.to(device).eval()
    sequence = evaluation_sequences(cfg, [args.sequence] if args.sequence else ())[0]
    count = min(args.frames, len(sequence))
    frames = [read_image(sequence.frame_path(i)) for i in range(count)]
    init_box = np.asarray(sequence.boxes[0], dtype=np.float64)

    trackers = {cached: SeqTrackTracker(model, cfg, device=device, dtype=dtype, use_cache=cached)
                for cached in (True, False)}
    track_frames(trackers[True], frames[:3], init_box)  # warm-up: kernels, allocator, autocast caches
    track_frames(trackers[False], frames[:3], init_box)
    seconds: dict[bool, list[float]] = {True: [], False: []}
    boxes: dict[bool, np.ndarray] = {}
    for _ in range(args.rounds):
        for cached in (True, False):
            elapsed, boxes[cached] = track_frames(trackers[cached], frames, init_box)
            seconds[cached].append(elapsed)

    search_cfg, template_cfg = cfg.data.search, cfg.data.template
    generator = torch.Generator().manual_seed(0)
    templates = torch.randn(1, template_cfg.number, 3, template_cfg.size, template_cfg.size,
                            generator=generator).to(device)
    search = torch.randn(1, 3, search_cfg.size, search_cfg.size, generator=generator).to(device)
    decoding = time_decoding(model, templates, search, device, dtype, args.repeats)

    common = {"config": cfg.name, "encoder": cfg.model.encoder, "search_size": search_cfg.size,
              "template_size": template_cfg.size, "device": device_name(device), "dtype": args.dtype,
              "threads": torch.get_num_threads(), "sequence": sequence.name, "frames": count - 1,
              "checkpoint": args.checkpoint}
    fps = {}
    for cached in (True, False):
        fps[cached] = (count - 1) * len(seconds[cached]) / sum(seconds[cached])
        print(json.dumps({"benchmark": "track", **common, "use_cache": cached, "fps": fps[cached],
                          "ms_per_frame": 1000 / fps[cached],
                          "fps_per_round": [(count - 1) / s for s in seconds[cached]],
                          "encode_ms": decoding["encode_ms"],
                          "decode_ms": decoding["decode_ms_cached" if cached else "decode_ms_uncached"]}), flush=True)
    print(json.dumps({
        "benchmark": "track_cache", **common,
        "fps_cached": fps[True], "fps_uncached": fps[False], "fps_ratio": fps[True] / fps[False],
        **decoding, "decode_speedup": decoding["decode_ms_uncached"] / decoding["decode_ms_cached"],
        "max_box_difference_px": float(np.abs(boxes[True] - boxes[False]).max()),
        "versions": versions(),
        "argv": sys.argv[1:] if argv is None else list(argv),
    }), flush=True)


if __name__ == "__main__":
    main()
