"""Box tokens, teacher-forcing sequences, the sequence loss and the logged IoU."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import box_convert

from seqtrack_accel.model.tokens import (
    boxes_to_tokens,
    center_token_loss,
    end_token,
    make_sequences,
    sequence_loss,
    start_token,
    teacher_forced_iou,
    tokens_to_boxes,
    vocab_size,
)

BINS = 4000


def test_end_and_start_follow_the_coordinate_tokens():
    assert (end_token(BINS), start_token(BINS), vocab_size(BINS)) == (4000, 4001, 4002)


def test_token_round_trip_is_within_one_bin():
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(256, 2, generator=g) * 0.5
    boxes = torch.cat([xy, torch.rand(256, 2, generator=g) * 0.5], dim=1)  # stays inside the crop
    back = tokens_to_boxes(boxes_to_tokens(boxes, BINS), BINS)
    error = box_convert(boxes, "xywh", "cxcywh") - back
    # floor quantisation: the decoded value is at most one bin below the true one, never above
    assert error.min() >= -1e-6
    assert error.max() <= 1 / (BINS - 1) + 1e-6


def test_tokens_are_floor_of_value_times_bins_minus_one():
    tokens = boxes_to_tokens(torch.tensor([[0.25, 0.25, 0.5, 0.5]]), 11)  # cxcywh 0.5, 0.5, 0.5, 0.5
    assert tokens.tolist() == [[5, 5, 5, 5]]
    assert tokens.dtype == torch.long


def test_a_box_leaving_the_crop_is_clamped_as_corners():
    # x1,y1,x2,y2 = (-0.2, 0.5, 0.2, 1.3) -> clamped (0, 0.5, 0.2, 1.0) -> cx,cy,w,h = (0.1, 0.75, 0.2, 0.5)
    tokens = boxes_to_tokens(torch.tensor([[-0.2, 0.5, 0.4, 0.8]]), 101)
    assert tokens.tolist() == [[10, 75, 20, 50]]


def test_a_box_covering_more_than_the_crop_gives_the_extreme_tokens():
    tokens = boxes_to_tokens(torch.tensor([[-1.0, -1.0, 3.0, 3.0]]), BINS)
    assert tokens.tolist() == [[(BINS - 1) // 2, (BINS - 1) // 2, BINS - 1, BINS - 1]]


def test_sequences_are_start_plus_box_and_box_plus_end():
    inputs, targets = make_sequences(torch.tensor([[0.25, 0.25, 0.5, 0.5]]), 11)
    assert inputs.tolist() == [[12, 5, 5, 5, 5]]
    assert targets.tolist() == [[5, 5, 5, 5, 11]]


def test_loss_is_the_weight_normalised_mean_with_end_and_start_weighted_down():
    g = torch.Generator().manual_seed(0)
    bins = 20
    logits = torch.randn(3, 5, vocab_size(bins), generator=g)
    _, targets = make_sequences(torch.rand(3, 4, generator=g) * 0.5, bins)
    per_token = F.cross_entropy(logits.reshape(-1, bins + 2), targets.reshape(-1), reduction="none")
    weights = torch.where(targets.reshape(-1) >= bins, 0.01, 1.0)
    expected = (per_token * weights).sum() / weights.sum()
    torch.testing.assert_close(sequence_loss(logits, targets, bins, end_weight=0.01), expected)


def test_with_end_weight_zero_the_end_position_does_not_count():
    g = torch.Generator().manual_seed(1)
    bins = 20
    logits = torch.randn(2, 5, vocab_size(bins), generator=g)
    _, targets = make_sequences(torch.rand(2, 4, generator=g) * 0.5, bins)
    changed = logits.clone()
    changed[:, 4] = torch.randn(2, vocab_size(bins), generator=g) * 10
    assert torch.equal(sequence_loss(logits, targets, bins, end_weight=0.0),
                       sequence_loss(changed, targets, bins, end_weight=0.0))
    assert sequence_loss(logits, targets, bins, end_weight=1.0) != sequence_loss(changed, targets, bins, end_weight=1.0)


def test_loss_rejects_logits_of_another_vocabulary():
    with pytest.raises(ValueError, match="bins=20"):
        sequence_loss(torch.zeros(1, 5, 30), torch.zeros(1, 5, dtype=torch.long), 20)


def test_iou_of_perfect_logits_is_one():
    bins = 50
    _, targets = make_sequences(torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.5, 0.1, 0.2, 0.6]]), bins)
    logits = F.one_hot(targets, vocab_size(bins)).float() * 10
    torch.testing.assert_close(teacher_forced_iou(logits, targets, bins), torch.ones(2))


def test_iou_takes_the_argmax_over_coordinate_classes_only():
    bins = 50
    _, targets = make_sequences(torch.tensor([[0.1, 0.2, 0.3, 0.4]]), bins)
    logits = F.one_hot(targets, vocab_size(bins)).float() * 10
    logits[:, :4, end_token(bins)] = 100.0  # END and START outscore the true token, but are not coordinates
    logits[:, :4, start_token(bins)] = 100.0
    torch.testing.assert_close(teacher_forced_iou(logits, targets, bins), torch.ones(1))


def test_iou_of_a_shifted_prediction():
    bins = 101
    targets = torch.tensor([[50, 50, 20, 20, bins]])
    predicted = torch.tensor([[60, 50, 20, 20, bins]])  # shifted by half the width: IoU = 10*20 / (2*400 - 200)
    logits = F.one_hot(predicted, vocab_size(bins)).float()
    torch.testing.assert_close(teacher_forced_iou(logits, targets, bins), torch.tensor([1 / 3]))


def test_the_centre_loss_targets_the_search_token_holding_the_box_centre():
    # a 4 x 4 grid: centre (0.6, 0.3) lies in column 2, row 1, token 1 * 4 + 2 = 6; (0.1, 0.9): column 0, row 3
    boxes = torch.tensor([[0.5, 0.2, 0.2, 0.2], [0.0, 0.85, 0.2, 0.1]])
    memory = torch.randn(2, 16, 8)
    expected = F.cross_entropy(memory[..., 0], torch.tensor([6, 12]))
    torch.testing.assert_close(center_token_loss(memory, boxes), expected)


def test_the_centre_loss_clamps_a_centre_outside_the_crop_to_the_nearest_token():
    memory = torch.zeros(1, 4, 3)
    memory[0, 3, 0] = 50.0  # the last token (row 1, column 1) scores highest
    assert center_token_loss(memory, torch.tensor([[0.9, 0.95, 0.4, 0.3]])) < 1e-6  # centre (1.1, 1.1)


def test_the_centre_loss_rejects_a_memory_that_is_not_a_square_grid():
    with pytest.raises(ValueError, match="square number of search tokens"):
        center_token_loss(torch.zeros(2, 12, 8), torch.zeros(2, 4))
