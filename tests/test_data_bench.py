"""The data benchmark script runs end to end and reports its figures as one JSON line."""

from __future__ import annotations

import json
from pathlib import Path

from seqtrack_accel.cli.bench_data import main

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"


def test_bench_prints_one_json_line_with_its_figures(synthetic_lasot, capsys):
    main(["--root", str(synthetic_lasot), "--config", str(DEMO_CONFIG), "--samples", "8",
          "--batch-size", "4", "--workers", "0"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    report = json.loads(lines[0])
    for key in ("samples_per_s", "ms_per_sample_per_worker", "decode_full_ms_per_sample",
                "ratio_per_worker_to_decode_full", "straightforward_ms_per_sample", "versions", "cpu"):
        assert key in report
    assert report["config"] == "demo" and report["samples"] == 8
