"""The generalisation benchmark: free-running scores of a checkpoint on several trees, and the gaps between them."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from bench_generalisation import main, teacher_forced_reading

from seqtrack_accel.data.lasot import load_lasot
from seqtrack_accel.tracking import load_tracker_model
from seqtrack_accel.training.validation import FreeRunValidation


def test_a_tree_scored_twice_gives_equal_lines_and_a_gap_of_zero(checkpoint, synthetic_lasot, one_thread, capsys):
    main(["--checkpoint", checkpoint, "--roots", str(synthetic_lasot), str(synthetic_lasot), "--samples", "8"])
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    first, second, gap = lines
    assert first == second and first["benchmark"] == "free_run" and first["samples"] == 8
    assert gap["benchmark"] == "free_run_gap" and gap["gap"] == {str(synthetic_lasot): 0.0}


def test_the_teacher_forced_reading_separates_a_found_centre_from_an_ignored_size(checkpoint, synthetic_lasot,
                                                                                  one_thread):
    _, cfg = load_tracker_model(checkpoint)
    cfg = dataclasses.replace(cfg, eval=dataclasses.replace(cfg.eval, free_run_samples=16))
    validation = FreeRunValidation.build(cfg, None, load_lasot(synthetic_lasot, split="all"))
    bins = cfg.model.bins

    class CentreOnly(torch.nn.Module):
        """Certain of the true centre (the teacher-forced input's next token), the same size for every crop."""

        def forward(self, templates, search, inputs):
            answer = inputs[:, 1:].clone()
            answer[:, 2:] = bins // 3
            logits = torch.full((len(inputs), inputs.shape[1], bins + 2), -1e4)
            logits.scatter_(2, answer[:, :, None], 0.0)
            return logits

    reading = teacher_forced_reading(CentreOnly(), validation)
    assert reading == {"cx": pytest.approx(1.0), "cy": pytest.approx(1.0), "w": 0.0, "h": 0.0, "scale": 0.0}
