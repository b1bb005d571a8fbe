"""The data benchmark script runs end to end, reports its figures as one JSON line (per source and for their mix
with --sources), and its baselines make the dataset's crops."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from bench_data import lookup_normalize, main, original_sample

from seqtrack_accel.config import load_config
from seqtrack_accel.data import TrackingDataset, load_lasot, normalize_crops

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"


def test_bench_prints_one_json_line_with_its_figures(synthetic_lasot, capsys):
    main(["--root", str(synthetic_lasot), "--config", str(DEMO_CONFIG), "--samples", "8",
          "--batch_size", "4", "--workers", "0"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    report = json.loads(lines[0])
    for key in ("samples_per_s", "ms_per_sample_per_worker", "straightforward_ms_per_sample_per_worker",
                "speedup_per_worker", "speedup_inprocess", "decoder", "versions", "cpu"):
        assert key in report
    assert set(report["inprocess_ms_per_sample"]) == {"decode_full", "straightforward", "lean_straightforward",
                                                      "ours"}
    assert report["config"] == "demo" and report["samples"] == 8


def test_bench_sources_prints_one_json_line_per_source_and_one_for_the_mix(tmp_path, capsys):
    sources = ["lasot", "got10k", "trackingnet", "coco17"]
    main(["--root", str(tmp_path), "--config", str(DEMO_CONFIG), "--samples", "8", "--batch_size", "4",
          "--workers", "0", "--frames", "25", "--sources", *sources, "--mix",
          *(arg for name in sources for arg in ("--frame_size", f"{name}=160x120"))])
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [line["source"] for line in lines] == [*sources, "mix"]
    for line in lines:
        assert line["benchmark"] == "data_source" and line["config"] == "demo" and line["samples"] == 8
        assert line["samples_per_s"] > 0 and line["ms_per_sample_per_worker"] > 0
        assert len(line["loader_rounds_samples_per_s"]) == 2
        for key in ("decoded_frames_by_scale", "ms_ratio_to_lasot", "versions", "cpu", "device"):
            assert key in line
    by_source = {line["source"]: line for line in lines}
    for name in sources:
        assert by_source[name]["frame_size"] == [160, 120] and by_source[name]["generated"]
        assert by_source[name]["root"] == str(tmp_path / f"{name}-160x120")
    assert by_source["coco17"]["decoded_frames_per_sample"] == 1.0  # a still image is decoded once per sample
    mix = by_source["mix"]
    assert mix["sources"] == dict.fromkeys(sources, 1.0)
    assert sum(mix["drawn_share"].values()) == pytest.approx(1.0, abs=0.01)
    assert mix["ms_per_sample_per_worker_from_sources"] > 0 and mix["ms_per_sample_per_worker_at_ratios"] > 0


def test_bench_sources_measures_the_procedural_source_rendered_and_written_as_a_tree(tmp_path, capsys):
    main(["--root", str(tmp_path), "--config", str(DEMO_CONFIG), "--samples", "8", "--batch_size", "4",
          "--workers", "0", "--rounds", "1", "--frames", "20", "--sequences_per_class", "1",
          "--sources", "procedural", "procedural_tree", "--frame_size", "procedural=128x96",
          "--frame_size", "procedural_tree=128x96", "data.datasets=[{name: procedural, procedural: {backgrounds: 2}}]"])
    rendered, tree = (json.loads(line) for line in capsys.readouterr().out.strip().splitlines())
    assert rendered["source"] == "procedural" and rendered["rendered"] and rendered["rendered_frames_per_sample"] > 0
    assert not (tmp_path / "procedural-128x96").exists() and rendered["ms_per_sample_per_worker"] > 0
    assert tree["source"] == "procedural_tree" and tree["generated"] and tree["sequences"] == 2
    assert tree["synthetic"]["dataset"] == "procedural" and tree["decoded_frames_per_sample"] > 0


def test_bench_sources_reuses_the_trees_it_wrote_in_root(tmp_path, capsys):
    args = ["--root", str(tmp_path), "--config", str(DEMO_CONFIG), "--samples", "8", "--batch_size", "4",
            "--workers", "0", "--rounds", "1", "--frames", "25", "--sources", "lasot", "--frame_size", "lasot=160x120"]
    main(args)
    main(args)
    first, second = (json.loads(line) for line in capsys.readouterr().out.strip().splitlines())
    assert first["generated"] and not second["generated"]
    assert first["synthetic"] == second["synthetic"] and first["synthetic"]["width"] == 160


def test_straightforward_baseline_makes_the_same_crops_as_the_dataset(synthetic_lasot):
    """The benchmark compares like with like: the original's way gives our crops, up to resampling details."""
    cfg = load_config(DEMO_CONFIG, [f"data.datasets[0].root={synthetic_lasot}", "data.decoder=opencv"])
    dataset = TrackingDataset(cfg.data, load_lasot(synthetic_lasot, cfg.data.datasets[0].classes), seed=0)
    mirrored = []
    for i in range(8):
        sequence, frame_ids, plans = dataset.first_draw(i)
        original = original_sample([sequence.frame_path(f) for f in frame_ids], plans, cfg.data.mean, cfg.data.std)
        sample = dataset[i]
        ours = normalize_crops(sample["search_images"], sample["search_brightness"], cfg.data.mean, cfg.data.std)
        assert (original[-1] - ours).abs().mean() < 0.02, f"sample {i}"  # normalised units: about one grey level
        mirrored.append(plans[-1].mirror)
    assert any(mirrored) and not all(mirrored)  # both ways of making a crop were compared


def test_lean_baseline_lookup_is_the_map_of_normalize_crops():
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, size=(2, 5, 6, 3), dtype=np.uint8)
    brightness = (0.85, 1.15)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    batched = normalize_crops(torch.from_numpy(crops).permute(0, 3, 1, 2), torch.tensor(brightness), mean, std)
    expected = torch.stack([lookup_normalize(c, mean, std, b) for c, b in zip(crops, brightness)])
    torch.testing.assert_close(batched, expected, rtol=1e-5, atol=1e-5)
