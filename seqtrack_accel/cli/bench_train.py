"""Training-step benchmark: samples/s, step-time breakdown, peak memory, TFLOP/s and model FLOP utilisation.

    python scripts/bench_train.py --config configs/demo.yaml --steps 20
    python scripts/bench_train.py --config configs/seqtrack_b192.yaml --mixed-precision bf16 \\
        --batch-size auto --steps 50 --baseline data.root=/data/LaSOT

Prints one JSON line per measured setting, and with ``--baseline`` a ``train_speedup`` line. ``--baseline`` is the
original's setting (fp32, eager, PyTorch's unfused "math" attention, unfused AdamW) measured in the same run.
The breakdown synchronises the device between the parts of a step (only here, never in the trainer), so its total
is a little above the plain samples/s figure.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import time

import torch
from accelerate.utils.memory import should_reduce_batch_size
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.data import DataLoader
from torch.utils.flop_counter import FlopCounterMode

from ..config import load_config
from ..data import EpochSampler, build_train_dataset, normalize_batch, worker_init_fn
from ..model import build_model
from ..model.tokens import make_sequences, sequence_loss
from ..training.trainer import param_groups
from .bench_env import device_name, versions

# Dense bf16 peak of common training GPUs, TFLOP/s (vendor data sheets). Matched in this order against the CUDA
# device name, so the more specific names come first (H100 PCIe before H100 SXM, A100 before A10, L40S before L4).
BF16_PEAK_TFLOPS = {"H200": 989.0, "H100 PCIe": 756.0, "H100 NVL": 835.0, "H100": 989.0, "A100": 312.0,
                    "L40S": 362.0, "L40": 181.0, "A10": 125.0, "L4": 121.0, "RTX 4090": 165.0, "A6000": 155.0,
                    "V100": 125.0}


def peak_tflops(device_name: str) -> float | None:
    """The dense bf16 peak of the GPU called ``device_name``, or None for a GPU not in the table."""
    for key, value in BF16_PEAK_TFLOPS.items():
        if key in device_name:
            return value
    return None


def step_flops(model, batch, bins: int, mean, std) -> int:
    """FLOPs of one forward + backward pass, counted by torch's FLOP counter (matmuls and convolutions)."""
    inputs, targets = make_sequences(batch["search_anno"], bins)
    template_images, search_images = normalize_batch(batch, mean, std)
    with FlopCounterMode(display=False) as counter:
        logits = model(template_images, search_images, inputs)
        sequence_loss(logits, targets, bins).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def run(cfg, *, steps: int, warmup: int, mixed_precision: str, compile_model: bool, device: torch.device,
        math_attention: bool = False) -> dict:
    """Time ``steps`` training steps after ``warmup``; ``math_attention`` forces PyTorch's unfused attention."""
    def attention_backend():
        return sdpa_kernel(SDPBackend.MATH) if math_attention else contextlib.nullcontext()

    dataset = build_train_dataset(cfg)
    workers = cfg.data.num_workers
    loader = DataLoader(dataset, batch_size=cfg.train.batch_size, sampler=EpochSampler(cfg.data.samples_per_epoch),
                        num_workers=workers, pin_memory=device.type == "cuda", drop_last=True,
                        persistent_workers=workers > 0, prefetch_factor=cfg.train.prefetch_factor if workers else None,
                        worker_init_fn=worker_init_fn)
    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg).to(device).train()
    bins = cfg.model.bins
    optimizer = torch.optim.AdamW(param_groups(model, cfg), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay,
                                  fused=(device.type == "cuda" and cfg.train.fused_optimizer) or None)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(mixed_precision)
    fwd_model = torch.compile(model) if compile_model else model

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def to_device(batch):
        return {k: v.to(device, non_blocking=True) for k, v in batch.items()}

    it = iter(_forever(loader))
    flops = step_flops(model, to_device(next(it)), bins, cfg.data.mean, cfg.data.std)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    parts = {"data_wait": 0.0, "forward": 0.0, "backward": 0.0, "optimizer": 0.0}
    n_samples, t_start = 0, None
    for i in range(warmup + steps):
        if i == warmup:
            sync()
            t_start = time.perf_counter()
            parts = dict.fromkeys(parts, 0.0)
        t0 = time.perf_counter()
        batch = to_device(next(it))
        sync()
        t1 = time.perf_counter()
        inputs, targets = make_sequences(batch["search_anno"], bins)
        template_images, search_images = normalize_batch(batch, cfg.data.mean, cfg.data.std)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None), attention_backend():
            logits = fwd_model(template_images, search_images, inputs)
            loss = sequence_loss(logits, targets, bins, cfg.model.end_weight)
        sync()
        t2 = time.perf_counter()
        loss.backward()
        sync()
        t3 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        sync()
        t4 = time.perf_counter()
        parts["data_wait"] += t1 - t0
        parts["forward"] += t2 - t1
        parts["backward"] += t3 - t2
        parts["optimizer"] += t4 - t3
        n_samples += batch["search_anno"].shape[0] if i >= warmup else 0
    sync()
    elapsed = time.perf_counter() - t_start
    step_s = elapsed / steps
    name = device_name(device)
    result = {
        "benchmark": "train_step",
        "config": cfg.name,
        "encoder": cfg.model.encoder,
        "search_size": cfg.data.search.size,
        "template_size": cfg.data.template.size,
        "batch_size": cfg.train.batch_size,
        "mixed_precision": mixed_precision,
        "compile": compile_model,
        "fused_optimizer": bool(device.type == "cuda" and cfg.train.fused_optimizer),
        "attention": "math" if math_attention else "sdpa",
        "decoder": cfg.data.decoder,
        "device": name,
        "workers": workers,
        "steps": steps,
        "samples_per_s": n_samples / elapsed,
        "step_ms": 1000 * step_s,
        "breakdown_ms": {k: 1000 * v / steps for k, v in parts.items()},
        "data_wait_fraction": parts["data_wait"] / elapsed,
        "gflop_per_step": flops / 1e9,
        "achieved_tflops": flops / step_s / 1e12,
        "versions": versions(),
    }
    if device.type == "cuda":
        result["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
        peak = peak_tflops(name)
        if peak:
            result["peak_bf16_tflops"] = peak
            result["mfu"] = result["achieved_tflops"] / peak
    else:
        import resource

        result["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return result


def largest_batch_run(make_cfg, start_batch: int, **run_kwargs) -> dict:
    """``run`` at the largest batch that fits: ``start_batch``, halved after each out-of-memory error.

    Args:
        make_cfg: batch size -> the config to measure.
    Returns:
        ``run``'s result, with ``batch_search`` (the batch sizes tried, largest first).
    """
    tried = []
    batch_size = start_batch
    while batch_size >= 1:
        tried.append(batch_size)
        try:
            result = run(make_cfg(batch_size), **run_kwargs)
        except Exception as err:  # accelerate's test of "out of memory" (CUDA, CPU, MPS, cuDNN)
            if not should_reduce_batch_size(err):
                raise
            result = None
        if result is not None:
            result["batch_search"] = tried
            return result
        # Outside the except block: its traceback kept the failed attempt's tensors alive.
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        batch_size //= 2
    raise RuntimeError(f"no batch size fits in memory (tried {tried}); use a smaller model or crop size")


def _forever(loader):
    epoch = 0
    while True:
        loader.sampler.set_epoch(epoch)
        yield from loader
        epoch += 1


def _batch_size(text: str) -> int | str:
    if text == "auto":
        return text
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"batch size must be >= 1 or 'auto', got {text}")
    return value


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="demo", help="experiment YAML: a path or a shipped config name (default demo)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batch-size", type=_batch_size,
                   help="per-step batch, or 'auto': the largest that fits, from --max-batch-size down by halving "
                        "(GPUs; the baseline searches down from the batch the first setting used)")
    p.add_argument("--max-batch-size", type=int, default=256, help="where --batch-size auto starts")
    p.add_argument("--workers", type=int)
    p.add_argument("--mixed-precision", choices=["no", "bf16", "fp16"], default="no")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--baseline", action="store_true",
                   help="also measure the original's setting (fp32, eager, unfused attention and optimizer) in "
                        "the same run")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("overrides", nargs="*")
    args = p.parse_args(argv)
    overrides = list(args.overrides)
    if args.workers is not None:
        overrides.append(f"data.num_workers={args.workers}")
    device = torch.device(args.device)

    def make_cfg(batch_size: int | None, *extra: str):
        batch = [f"train.batch_size={batch_size}"] if batch_size else []
        return load_config(args.config, overrides + batch + list(extra))

    common = {"steps": args.steps, "warmup": args.warmup, "device": device}
    fast_kwargs = {**common, "mixed_precision": args.mixed_precision, "compile_model": args.compile}
    if args.batch_size == "auto":
        fast = largest_batch_run(make_cfg, args.max_batch_size, **fast_kwargs)
    else:
        fast = run(make_cfg(args.batch_size), **fast_kwargs)
    print(json.dumps(fast), flush=True)
    if args.baseline:
        base_kwargs = {**common, "mixed_precision": "no", "compile_model": False, "math_attention": True}
        if args.batch_size == "auto":
            base = largest_batch_run(lambda b: make_cfg(b, "train.fused_optimizer=false"), fast["batch_size"],
                                     **base_kwargs)
        else:
            base = run(make_cfg(args.batch_size, "train.fused_optimizer=false"), **base_kwargs)
        base["setting"] = "baseline_fp32_eager"
        print(json.dumps(base), flush=True)
        print(json.dumps({"benchmark": "train_speedup", "device": fast["device"],
                          "speedup": fast["samples_per_s"] / base["samples_per_s"]}), flush=True)


if __name__ == "__main__":
    main()
