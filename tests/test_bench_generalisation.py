"""The generalisation benchmark: free-running scores of a checkpoint on several trees, and the gaps between them."""

from __future__ import annotations

import json

from bench_generalisation import main


def test_a_tree_scored_twice_gives_equal_lines_and_a_gap_of_zero(checkpoint, synthetic_lasot, one_thread, capsys):
    main(["--checkpoint", checkpoint, "--roots", str(synthetic_lasot), str(synthetic_lasot), "--samples", "8"])
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    first, second, gap = lines
    assert first == second and first["benchmark"] == "free_run" and first["samples"] == 8
    assert gap["benchmark"] == "free_run_gap" and gap["gap"] == {str(synthetic_lasot): 0.0}
