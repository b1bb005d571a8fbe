"""The training benchmark: the optimised setting and the original's fp32 eager setting, in one run."""

from __future__ import annotations

import json

import bench_train
from bench_train import main, peak_tflops
from train_helpers import REPO, TINY

from seqtrack_accel.config import load_config


def test_bench_train_prints_both_settings_and_the_speedup(synthetic_lasot, one_thread, capsys):
    main(["--config", str(REPO / "configs" / "demo.yaml"), "--steps", "2", "--warmup", "1", "--baseline",
          "--device", "cpu", f"data.datasets[0].root={synthetic_lasot}", *TINY])
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [line["benchmark"] for line in lines] == ["train_step", "train_step", "train_speedup"]
    fast, base, speedup = lines
    assert (fast["attention"], base["attention"], base["setting"]) == ("sdpa", "math", "baseline_fp32_eager")
    for key in ("samples_per_s", "step_ms", "data_wait_fraction", "gflop_per_step", "versions", "device"):
        assert key in fast
    assert speedup["speedup"] == fast["samples_per_s"] / base["samples_per_s"]
    assert fast["gflop_per_step"] > 0


def test_peak_flops_tell_the_h100_parts_apart():
    assert peak_tflops("NVIDIA H100 80GB HBM3") == peak_tflops("NVIDIA H200") == 989.0
    assert peak_tflops("NVIDIA H100 PCIe") == 756.0 and peak_tflops("NVIDIA A100-SXM4-80GB") == 312.0


def test_auto_batch_halves_after_out_of_memory_until_a_batch_fits(monkeypatch):
    def fake_run(cfg, **kwargs):
        if cfg.train.batch_size > 8:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return {"batch_size": cfg.train.batch_size}

    monkeypatch.setattr(bench_train, "run", fake_run)
    make_cfg = lambda batch: load_config(REPO / "configs" / "demo.yaml", [f"train.batch_size={batch}"])  # noqa: E731
    result = bench_train.largest_batch_run(make_cfg, 32)
    assert result == {"batch_size": 8, "batch_search": [32, 16, 8]}


def test_bench_times_the_trainers_own_step(synthetic_lasot, one_thread, monkeypatch):
    from accelerate.state import AcceleratorState

    from seqtrack_accel.training import Trainer

    calls = []
    original = Trainer.train_step
    monkeypatch.setattr(Trainer, "train_step", lambda self, batch: calls.append(1) or original(self, batch))
    AcceleratorState._reset_state(True)
    cfg = load_config(REPO / "configs" / "demo.yaml", [f"data.datasets[0].root={synthetic_lasot}", *TINY])
    result = bench_train.run(cfg, steps=3, warmup=1)
    assert len(calls) == 1 + 1 + 3  # the FLOP count, the warm-up, the timed steps
    assert result["steps"] == 3 and result["samples_per_s"] > 0
