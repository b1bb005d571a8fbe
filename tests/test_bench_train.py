"""The training benchmark: the optimised setting and the original's fp32 eager setting, in one run."""

from __future__ import annotations

import json

from seqtrack_accel.cli.bench_train import main, peak_tflops
from train_helpers import REPO, TINY


def test_bench_train_prints_both_settings_and_the_speedup(synthetic_lasot, one_thread, capsys):
    main(["--config", str(REPO / "configs" / "demo.yaml"), "--steps", "2", "--warmup", "1", "--baseline",
          "--device", "cpu", f"data.root={synthetic_lasot}", *TINY])
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [line["benchmark"] for line in lines] == ["train_step", "train_step", "train_speedup"]
    fast, base, speedup = lines
    assert (fast["attention"], base["attention"], base["setting"]) == ("sdpa", "math", "baseline_fp32_eager")
    for key in ("samples_per_s", "step_ms", "data_wait_fraction", "gflop_per_step", "versions", "device"):
        assert key in fast
    assert speedup["speedup"] == fast["samples_per_s"] / base["samples_per_s"]


def test_peak_flops_tell_the_h100_parts_apart():
    assert peak_tflops("NVIDIA H100 80GB HBM3") == peak_tflops("NVIDIA H200") == 989.0
    assert peak_tflops("NVIDIA H100 PCIe") == 756.0 and peak_tflops("NVIDIA A100-SXM4-80GB") == 312.0
