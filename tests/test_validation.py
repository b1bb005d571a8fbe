"""Free-running validation: held-out crops, the mean-box prior, scores and the collapse test."""

from __future__ import annotations

import pytest
import torch
from train_helpers import tiny_config

from seqtrack_accel.data import build_train_dataset
from seqtrack_accel.model import boxes_to_tokens, build_model
from seqtrack_accel.training.validation import FreeRunValidation, collapsed_coordinates, prior_box, score

BINS = 4000
TARGETS = torch.tensor([[1000, 2000, 500, 600], [3000, 1500, 800, 400], [2000, 2500, 650, 700]])


def test_perfect_predictions_score_iou_one_and_full_spread():
    scores = score(TARGETS.clone(), TARGETS, torch.tensor([0.5, 0.5, 0.2, 0.2]), BINS)
    assert scores.iou == pytest.approx(1.0)
    assert scores.spread == pytest.approx((1.0, 1.0, 1.0, 1.0))
    assert scores.collapsed(0.2) == []


def test_the_same_box_for_every_input_is_flagged_as_collapsed_in_every_coordinate():
    constant = TARGETS[:1].expand_as(TARGETS).clone()
    scores = score(constant, TARGETS, torch.tensor([0.5, 0.5, 0.2, 0.2]), BINS)
    assert scores.spread == (0.0, 0.0, 0.0, 0.0)
    assert scores.collapsed(0.2) == ["cx", "cy", "w", "h"]


def test_only_the_coordinates_that_barely_vary_are_flagged():
    predicted = TARGETS.clone()
    predicted[:, 0] = 2000 + torch.tensor([0, 1, 2])  # cx varies by 2 tokens, the targets by 2000
    assert score(predicted, TARGETS, torch.zeros(4), BINS).collapsed(0.2) == ["cx"]


def test_a_coordinate_is_reported_only_when_it_stayed_collapsed_for_the_patience():
    spreads = [[0.0, 0.0, 0.0, 0.0], [0.5, 0.0, 0.1, 0.0], [0.9, 0.1, 0.3, 0.05]]
    assert collapsed_coordinates(spreads, 0.2, 3) == ["cy", "h"]
    assert collapsed_coordinates(spreads, 0.2, 4) == []  # not enough validations yet


def test_prior_iou_is_the_iou_of_the_prior_box_with_each_target():
    target = boxes_to_tokens(torch.tensor([[0.25, 0.25, 0.5, 0.5]]), BINS)  # cx, cy 0.5, w, h 0.5
    prior = torch.tensor([0.5, 0.5, 0.25, 0.25])  # a quarter of the target's area, inside it
    assert score(target, target, prior, BINS).prior_iou == pytest.approx(0.25, abs=1e-3)


def test_prior_box_is_the_mean_target_box_of_the_training_samples(synthetic_lasot):
    dataset = build_train_dataset(tiny_config(synthetic_lasot))
    samples = torch.stack([dataset[i]["search_anno"] for i in range(16)])
    expected = boxes_to_tokens(samples, BINS).float().mean(dim=0) / (BINS - 1)
    assert torch.allclose(prior_box(dataset, BINS, samples=16), expected, atol=1e-6)


def test_held_out_crops_are_the_same_at_every_build_and_for_every_training_seed(synthetic_lasot):
    a = FreeRunValidation.build(tiny_config(synthetic_lasot), build_train_dataset(tiny_config(synthetic_lasot)))
    cfg_b = tiny_config(synthetic_lasot, "train.seed=7")
    b = FreeRunValidation.build(cfg_b, build_train_dataset(cfg_b))
    assert all(torch.equal(a.samples[k], b.samples[k]) for k in a.samples)


def test_held_out_crops_come_from_the_validation_sequences(synthetic_lasot):
    cfg = tiny_config(synthetic_lasot)
    validation = FreeRunValidation.build(cfg, build_train_dataset(cfg))
    assert validation.sequence_names == ["book-3", "coin-3"]  # the test split of the synthetic tree


def test_run_restores_the_training_mode_and_returns_one_score_per_sample(synthetic_lasot, one_thread):
    cfg = tiny_config(synthetic_lasot, "eval.free_run_samples=8")
    validation = FreeRunValidation.build(cfg, build_train_dataset(cfg))
    model = build_model(cfg).train()
    scores = validation.run(model, "cpu")
    assert model.training and scores.samples == 8 and 0.0 <= scores.iou <= 1.0


def test_without_training_data_the_prior_is_the_mean_target_box_of_the_crops(synthetic_lasot):
    cfg = tiny_config(synthetic_lasot, "eval.free_run_samples=8")
    validation = FreeRunValidation.build(cfg, None)
    bins = cfg.model.bins
    expected = boxes_to_tokens(validation.samples["search_anno"], bins).float().mean(dim=0) / (bins - 1)
    assert torch.allclose(validation.prior_box, expected, atol=1e-6)
