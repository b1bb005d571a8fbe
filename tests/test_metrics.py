"""LaSOT metrics, on boxes built here with hand-computed expectations."""

from __future__ import annotations

import numpy as np
import pytest

from seqtrack_accel.tracking.metrics import (
    MetricsError,
    SequenceResult,
    aggregate,
    overlap_inclusive,
    sequence_errors,
    summarize,
)

GT_BOX = [10.0, 20.0, 10.0, 10.0]


def _gt(frames: int) -> np.ndarray:
    return np.tile(np.array(GT_BOX), (frames, 1))


def _shifted(frames: int, dx: float) -> np.ndarray:
    pred = _gt(frames)
    pred[:, 0] += dx
    return pred


def _scores(pred, gt, visible=None, name="book-3") -> dict:
    visible = np.ones(len(gt), bool) if visible is None else visible
    return SequenceResult.from_errors(sequence_errors(pred, gt, visible, name), "book").scores()


def test_perfect_predictions_score_full_precision_and_20_of_21_success_thresholds():
    # Overlap 1 exceeds every threshold except t = 1.0 itself (strict >), so AUC = 20/21, as in the original.
    scores = _scores(_gt(5), _gt(5))
    assert scores["auc"] == pytest.approx(100.0 * 20 / 21)
    assert scores["op50"] == 100.0 and scores["op75"] == 100.0
    assert scores["precision"] == 100.0
    assert scores["norm_precision"] == 100.0


def test_constant_offset_predictions_match_hand_computed_scores():
    # 10x10 box shifted by 3 px: intersection 7x10 = 70, union 130, IoU 7/13 = 0.538 on frames 1..3;
    # frame 0 is the ground truth (IoU 1). Thresholds 0..0.50 (11 values): all 4 frames succeed;
    # 0.55..0.95 (9 values): only frame 0; 1.0: none.
    scores = _scores(_shifted(4, 3.0), _gt(4))
    assert scores["auc"] == pytest.approx(100.0 * (11 * 1.0 + 9 * 0.25) / 21)
    assert scores["op50"] == pytest.approx(100.0)
    assert scores["op75"] == pytest.approx(25.0)
    assert scores["precision"] == pytest.approx(100.0)  # center error 3 px <= 20
    assert scores["norm_precision"] == pytest.approx(25.0)  # 3 / 10 = 0.3 > 0.2 except frame 0


def test_constant_offset_overlaps_and_center_errors():
    errors = sequence_errors(_shifted(3, 3.0), _gt(3), np.ones(3, bool), "book-3")
    np.testing.assert_allclose(errors.overlap, [1.0, 7 / 13, 7 / 13])
    np.testing.assert_allclose(errors.center_error, [0.0, 3.0, 3.0])
    np.testing.assert_allclose(errors.norm_center_error, [0.0, 0.3, 0.3])


def test_invisible_frame_is_a_failure_that_stays_in_the_denominator():
    visible = np.array([True, True, False, True])
    errors = sequence_errors(_gt(4), _gt(4), visible, "book-3")
    assert errors.overlap[2] == -1.0 and np.isinf(errors.center_error[2]) and np.isinf(errors.norm_center_error[2])
    scores = _scores(_gt(4), _gt(4), visible)
    assert scores["precision"] == pytest.approx(75.0)
    assert scores["norm_precision"] == pytest.approx(75.0)
    assert scores["auc"] == pytest.approx(100.0 * 20 * 0.75 / 21)


def test_zero_size_ground_truth_frame_is_a_failure():
    gt = _gt(4)
    gt[3, 2] = 0.0
    errors = sequence_errors(_gt(4), gt, np.ones(4, bool), "book-3")
    assert errors.overlap.tolist() == [1.0, 1.0, 1.0, -1.0]
    assert np.isinf(errors.center_error[3])


def test_zero_size_prediction_takes_the_previous_prediction():
    pred = _shifted(4, 3.0)
    pred[2] = [50.0, 50.0, 0.0, 0.0]
    pred[3] = [60.0, 60.0, 5.0, 0.0]  # a run of zero sizes carries the last real prediction forward
    errors = sequence_errors(pred, _gt(4), np.ones(4, bool), "book-3")
    np.testing.assert_allclose(errors.overlap, [1.0, 7 / 13, 7 / 13, 7 / 13])


def test_first_frame_is_replaced_by_the_ground_truth():
    pred = _gt(3)
    pred[0] = [200.0, 200.0, 5.0, 5.0]
    errors = sequence_errors(pred, _gt(3), np.ones(3, bool), "book-3")
    assert errors.overlap[0] == 1.0 and errors.center_error[0] == 0.0


def test_overlap_uses_inclusive_pixel_corners_on_a_hand_example():
    # Pixels 0..3 and 2..5 on each axis: intersection 2x2 = 4, union 16 + 16 - 4 = 28.
    pred = np.array([[0.0, 0.0, 4.0, 4.0], [0.0, 0.0, 4.0, 4.0]])
    gt = np.array([[2.0, 2.0, 4.0, 4.0], [4.0, 0.0, 4.0, 4.0]])  # second: touching, no shared pixel
    np.testing.assert_allclose(overlap_inclusive(pred, gt), [4 / 28, 0.0])


def test_center_uses_inclusive_pixel_coordinates():
    # centers x + (w - 1) / 2: pred (0 + 1.5, 0 + 1.5), gt (0 + 4.5, 0 + 0.5): distance sqrt(9 + 1)
    errors = sequence_errors(np.array([[0.0, 0, 10, 2], [0.0, 0, 4, 4]]), np.array([[0.0, 0, 10, 2]] * 2),
                             np.ones(2, bool), "book-3")
    assert errors.center_error[1] == pytest.approx(np.sqrt(10.0))
    assert errors.norm_center_error[1] == pytest.approx(np.sqrt(0.3**2 + 0.5**2))


def test_nan_prediction_is_an_error_naming_the_sequence():
    pred = _gt(3)
    pred[1, 0] = np.nan
    with pytest.raises(MetricsError, match="coin-18"):
        sequence_errors(pred, _gt(3), np.ones(3, bool), "coin-18")


def test_infinite_prediction_is_an_error_naming_the_sequence_and_frame():
    pred = _gt(3)
    pred[2, 2] = np.inf
    with pytest.raises(MetricsError, match=r"coin-18: the prediction of frame 2 \(0-based\) is not finite"):
        sequence_errors(pred, _gt(3), np.ones(3, bool), "coin-18")


def test_negative_size_prediction_is_an_error_naming_the_sequence():
    pred = _gt(3)
    pred[2, 3] = -1.0
    with pytest.raises(MetricsError, match="coin-18.*negative"):
        sequence_errors(pred, _gt(3), np.ones(3, bool), "coin-18")


def test_fewer_predictions_than_frames_is_an_error_naming_the_sequence():
    with pytest.raises(MetricsError, match="book-3.*2 predicted boxes for 3"):
        sequence_errors(_gt(2), _gt(3), np.ones(3, bool), "book-3")


def test_aggregate_weighs_every_sequence_equally_whatever_its_length():
    short = SequenceResult.from_errors(sequence_errors(_gt(2), _gt(2), np.ones(2, bool), "book-3"), "book")
    visible = np.array([True, True, False, False])
    long = SequenceResult.from_errors(sequence_errors(_gt(4), _gt(4), visible, "coin-3"), "coin")
    # precision 100 and 50: the mean over sequences is 75 (frame-weighted it would be 4/6 = 66.7)
    assert aggregate([short, long])["precision"] == pytest.approx(75.0)


def test_summary_holds_overall_per_class_and_per_sequence_scores():
    results = [
        SequenceResult.from_errors(sequence_errors(_gt(2), _gt(2), np.ones(2, bool), "book-3"), "book"),
        SequenceResult.from_errors(sequence_errors(_gt(2), _gt(2), np.array([True, False]), "coin-3"), "coin"),
    ]
    summary = summarize(results)
    assert summary["per_class"]["book"]["precision"] == 100.0
    assert summary["per_class"]["coin"]["precision"] == 50.0
    assert summary["per_sequence"]["coin-3"]["class"] == "coin"
    assert summary["overall"]["precision"] == pytest.approx(75.0)
    assert summary["overall"]["sequences"] == 2 and len(summary["overall"]["success_curve"]) == 21
