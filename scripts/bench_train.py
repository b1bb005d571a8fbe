"""Training-step benchmark: samples/s, data wait, peak memory, TFLOP/s and model FLOP utilisation of the trainer's
own step (``Trainer.train_step``: Accelerate's mixed precision, accumulation, clipping and optimizer step).

    python scripts/bench_train.py --config demo --steps 20 --baseline
    python scripts/bench_train.py --config seqtrack_b192 --mixed_precision bf16 --batch_size auto --steps 50 \\
        --baseline data.datasets[0].root=/data/LaSOT

Prints one JSON line per measured setting, and with ``--baseline`` a ``train_speedup`` line. ``--baseline`` is the
original's setting (fp32, eager, PyTorch's unfused "math" attention, unfused AdamW), measured in the same run.
Each setting runs in its own child process, because Accelerate fixes the device and the mixed precision once per
process (``ACCELERATE_USE_CPU`` and ``ACCELERATE_MIXED_PRECISION`` are how a launcher sets them).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import subprocess
import sys
import tempfile
import time

import torch
from accelerate.utils.memory import should_reduce_batch_size
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from bench_env import device_name, versions
from seqtrack_accel.config import load_config
from seqtrack_accel.training import Trainer
from seqtrack_accel.cli import ArgumentParser

# Dense bf16 peak of common training GPUs, TFLOP/s (vendor data sheets). Matched in this order against the CUDA
# device name, so the more specific names come first (H100 PCIe before H100 SXM, A100 before A10, L40S before L4).
BF16_PEAK_TFLOPS = {"H200": 989.0, "H100 PCIe": 756.0, "H100 NVL": 835.0, "H100": 989.0, "A100": 312.0,
                    "L40S": 362.0, "L40": 181.0, "A10": 125.0, "L4": 121.0, "RTX 4090": 165.0, "A6000": 155.0,
                    "V100": 125.0}
# Settings that keep the benchmark to the step: no free-running validation, no image grids, no step checkpoints.
QUIET = ["eval.free_run_every_epochs=0", "train.log_images=0", "train.checkpoint_every_steps=0"]


def peak_tflops(device_name: str) -> float | None:
    """The dense bf16 peak of the GPU called ``device_name``, or None for a GPU not in the table."""
    for key, value in BF16_PEAK_TFLOPS.items():
        if key in device_name:
            return value
    return None


def run(cfg, *, steps: int, warmup: int, math_attention: bool = False) -> dict:
    """Time ``steps`` calls of ``Trainer.train_step`` after ``warmup``, in a throw-away run folder.

    The device and mixed precision are Accelerate's (this process's environment); ``math_attention`` forces
    PyTorch's unfused attention around each step.
    """
    attention = (lambda: sdpa_kernel(SDPBackend.MATH)) if math_attention else contextlib.nullcontext
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(cfg, run_dir=run_dir, epochs=1)
        trainer.setup()
        acc = trainer.accelerator
        device = acc.device

        def sync():
            if device.type == "cuda":
                torch.cuda.synchronize()

        batches = _forever(trainer.loader)
        # One step's forward and backward FLOPs, counted per operator, so compiled code runs eagerly here.
        with FlopCounterMode(display=False) as counter, attention(), torch.compiler.set_stance("force_eager"):
            trainer.train_step(next(batches))
        flops = counter.get_total_flops()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        data_wait, samples = 0.0, 0
        for i in range(warmup + steps):
            if i == warmup:
                sync()
                start, data_wait, samples = time.perf_counter(), 0.0, 0
            t0 = time.perf_counter()
            batch = next(batches)
            sync()
            data_wait += time.perf_counter() - t0
            with attention():
                trainer.train_step(batch)
            samples += batch["search_anno"].shape[0]
        sync()
        elapsed = time.perf_counter() - start
        trainer.close()
    step_s = elapsed / steps
    name = device_name(device)
    result = {
        "benchmark": "train_step",
        "config": cfg.name,
        "encoder": cfg.model.encoder,
        "search_size": cfg.data.search.size,
        "template_size": cfg.data.template.size,
        "batch_size": cfg.train.batch_size,
        "mixed_precision": acc.mixed_precision,
        "compile": cfg.train.compile,
        "fused_optimizer": bool(device.type == "cuda" and cfg.train.fused_optimizer),
        "attention": "math" if math_attention else "sdpa",
        "decoder": cfg.data.decoder,
        "device": name,
        "workers": cfg.data.num_workers,
        "steps": steps,
        "samples_per_s": samples / elapsed,
        "step_ms": 1000 * step_s,
        "data_wait_ms": 1000 * data_wait / steps,
        "data_wait_fraction": data_wait / elapsed,
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
        loader.set_epoch(epoch)
        yield from loader
        epoch += 1


def _batch_size(text: str) -> int | str:
    if text == "auto":
        return text
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"batch size must be >= 1 or 'auto', got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="demo", help="experiment YAML: a path or a shipped config name (default demo)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batch_size", type=_batch_size,
                   help="per-step batch, or 'auto': the largest that fits, from --max_batch_size down by halving "
                        "(GPUs; the baseline searches down from the batch the first setting used)")
    p.add_argument("--max_batch_size", type=int, default=256, help="where --batch_size auto starts")
    p.add_argument("--workers", type=int)
    p.add_argument("--mixed_precision", choices=["no", "bf16", "fp16"], default="no")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--baseline", action="store_true",
                   help="also measure the original's setting (fp32, eager, unfused attention and optimizer) in "
                        "the same run")
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--setting", choices=["optimised", "baseline"], help=argparse.SUPPRESS)  # one child process
    p.add_argument("overrides", nargs="*")
    return p


def measure_setting(args: argparse.Namespace) -> dict:
    """One setting, in this process (the child side of ``main``)."""
    overrides = list(args.overrides) + QUIET
    if args.workers is not None:
        overrides.append(f"data.num_workers={args.workers}")
    baseline = args.setting == "baseline"
    overrides += ["train.fused_optimizer=false", "train.compile=false"] if baseline else (
        ["train.compile=true"] if args.compile else [])

    def make_cfg(batch_size):
        return load_config(args.config, overrides + ([f"train.batch_size={batch_size}"] if batch_size else []))

    kwargs = {"steps": args.steps, "warmup": args.warmup, "math_attention": baseline}
    if args.batch_size == "auto":
        result = largest_batch_run(make_cfg, args.max_batch_size, **kwargs)
    else:
        result = run(make_cfg(args.batch_size), **kwargs)
    if baseline:
        result["setting"] = "baseline_fp32_eager"
    return result


def _child(argv: list[str], setting: str, mixed_precision: str, device: str) -> dict:
    env = {**os.environ, "ACCELERATE_MIXED_PRECISION": mixed_precision,
           "ACCELERATE_USE_CPU": "true" if device == "cpu" else "false"}
    out = subprocess.run([sys.executable, __file__, *argv, "--setting", setting], env=env, capture_output=True,
                         text=True)
    if out.returncode != 0:
        raise RuntimeError(f"the {setting} setting failed (exit {out.returncode}):\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    if args.setting is not None:
        print(json.dumps(measure_setting(args)), flush=True)
        return
    fast = _child(argv, "optimised", args.mixed_precision, args.device)
    print(json.dumps(fast), flush=True)
    if args.baseline:
        base_argv = list(argv)
        if args.batch_size == "auto":  # search down from the batch the optimised setting used
            base_argv += ["--max_batch_size", str(fast["batch_size"])]
        base = _child(base_argv, "baseline", "no", args.device)
        print(json.dumps(base), flush=True)
        print(json.dumps({"benchmark": "train_speedup", "device": fast["device"],
                          "speedup": fast["samples_per_s"] / base["samples_per_s"]}), flush=True)


if __name__ == "__main__":
    main()
