"""The data benchmark script runs end to end and reports its figures as one JSON line."""

from __future__ import annotations

import json
from pathlib import Path

from seqtrack_accel.cli.bench_data import main, original_sample
from seqtrack_accel.config import load_config
from seqtrack_accel.data.dataset import TrackingDataset
from seqtrack_accel.data.lasot import load_lasot
from seqtrack_accel.data.processing import normalize_crops

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"


def test_bench_prints_one_json_line_with_its_figures(synthetic_lasot, capsys):
    main(["--root", str(synthetic_lasot), "--config", str(DEMO_CONFIG), "--samples", "8",
          "--batch-size", "4", "--workers", "0"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    report = json.loads(lines[0])
    for key in ("samples_per_s", "ms_per_sample_per_worker", "straightforward_ms_per_sample_per_worker",
                "speedup_per_worker", "speedup_inprocess", "decoder", "versions", "cpu"):
        assert key in report
    assert set(report["inprocess_ms_per_sample"]) == {"decode_full", "straightforward", "lean_straightforward",
                                                      "ours"}
    assert report["config"] == "demo" and report["samples"] == 8


def test_straightforward_baseline_makes_the_same_crops_as_the_dataset(synthetic_lasot):
    """The benchmark compares like with like: the original's way gives our crops, up to resampling details."""
    cfg = load_config(DEMO_CONFIG, [f"data.root={synthetic_lasot}", "data.decoder=opencv"])
    dataset = TrackingDataset(cfg.data, load_lasot(synthetic_lasot, cfg.data.classes), seed=0)
    for i in range(8):
        sequence, frame_ids, plans = dataset.first_draw(i)
        original = original_sample([sequence.frame_path(f) for f in frame_ids], plans, cfg.data.mean, cfg.data.std)
        sample = dataset[i]
        ours = normalize_crops(sample["search_images"], sample["search_brightness"], cfg.data.mean, cfg.data.std)
        assert (original[-1] - ours).abs().mean() < 0.02, f"sample {i}"  # normalised units: about one grey level
