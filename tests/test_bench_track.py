"""The tracking benchmark: cached against uncached decoding, printed as JSON lines."""

from __future__ import annotations

import json

from bench_track import main
from train_helpers import REPO, TINY


def test_bench_track_prints_both_settings_and_their_ratio_with_equal_boxes(synthetic_lasot, one_thread, capsys):
    main(["--config", str(REPO / "configs" / "demo.yaml"), "--frames", "4", "--rounds", "1", "--repeats", "2",
          "--device", "cpu", f"data.datasets[0].root={synthetic_lasot}", *TINY])
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [(line["benchmark"], line.get("use_cache")) for line in lines] == [
        ("track", True), ("track", False), ("track_cache", None)]
    summary = lines[-1]
    assert summary["fps_cached"] > 0 and summary["fps_uncached"] > 0 and "versions" in summary
    assert summary["max_box_difference_px"] < 1e-3  # the cache changes the speed, not the boxes
