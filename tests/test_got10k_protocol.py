"""GOT-10k's AO / SR0.50 / SR0.75, checked against values computed by hand with got-10k/toolkit's rules."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from seqtrack_accel.data.got10k import load_got10k
from seqtrack_accel.data.sequence import Sequence
from seqtrack_accel.data.synthetic import make_synthetic_got10k
from seqtrack_accel.tracking.got10k_metrics import got10k_scores, rect_iou
from seqtrack_accel.tracking.metrics import MetricsError, overlap_inclusive

SIZE = (100, 100)  # width, height of every hand-made sequence's frames


def _sequence(name, gt, visible=None):
    gt = np.array(gt, dtype=np.float32)
    visible = np.ones(len(gt), dtype=bool) if visible is None else np.array(visible)
    return Sequence(name=name, class_name="", frames_dir=Path("/nonexistent") / name, boxes=gt, visible=visible)


# Sequence A, 4 frames. Frame 0 is the given box (not scored: its prediction is nonsense on purpose); frame 1:
# IoU 200 / 600 = 1/3; frame 2: the target is absent (cover 0), the prediction misses (IoU 0, not scored); frame 3:
# IoU 60 / 100 = 0.6. Sequence B, 3 frames, both predictions sticking out of the 100 x 100 image: frame 1 on the
# right, clipped to x 90..100: IoU 100 / 200 = 0.5 (unclipped: 0.25); frame 2 on the left, x -10..20 shifted by the
# toolkit's clipping to 0..30: IoU 100 / 300 = 1/3 (unclipped or cut to 0..20: 0).
A_GT = [[0, 0, 10, 10], [10, 10, 20, 20], [0, 0, 0, 0], [0, 0, 10, 10]]
A_PRED = [[50, 50, 5, 5], [20, 10, 20, 20], [80, 80, 5, 5], [0, 0, 6, 10]]
A_COVER = [8, 8, 0, 8]
B_GT = [[0, 0, 10, 10], [80, 0, 20, 10], [20, 0, 10, 10]]
B_PRED = [[0, 0, 10, 10], [90, 0, 30, 10], [-10, 0, 30, 10]]
B_COVER = [8, 8, 8]


def _scores(a_pred=A_PRED, a_cover=A_COVER, a_visible=None):
    sequences = [_sequence("A", A_GT, a_visible), _sequence("B", B_GT)]
    predictions = {"A": np.array(a_pred, dtype=np.float64), "B": np.array(B_PRED, dtype=np.float64)}
    return got10k_scores(predictions, sequences, image_sizes={"A": SIZE, "B": SIZE},
                         covers={"A": np.array(a_cover), "B": np.array(B_COVER)})


def test_hand_made_sequences_score_the_toolkits_values():
    scores = _scores()
    a, b = scores["per_sequence"]["A"], scores["per_sequence"]["B"]
    assert a == pytest.approx({"ao": 100 * (1 / 3 + 0.6) / 2, "sr50": 50.0, "sr75": 0.0, "frames": 2})
    assert b == pytest.approx({"ao": 100 * (0.5 + 1 / 3) / 2, "sr50": 0.0, "sr75": 0.0, "frames": 2})
    assert scores["overall"] == pytest.approx(
        {"ao": 100 * (1 / 3 + 0.6 + 0.5 + 1 / 3) / 4, "sr50": 25.0, "sr75": 0.0, "sequences": 2, "frames": 4})


def test_overall_ao_pools_the_frames_of_all_sequences_rather_than_averaging_sequences():
    # A third frame in A (IoU 1) makes A longer than B: the pooled mean and the mean of the two AOs differ.
    sequences = [_sequence("A", A_GT + [[5, 5, 10, 10]]), _sequence("B", B_GT)]
    predictions = {"A": np.array(A_PRED + [[5, 5, 10, 10]], float), "B": np.array(B_PRED, float)}
    scores = got10k_scores(predictions, sequences, image_sizes={"A": SIZE, "B": SIZE},
                           covers={"A": np.array(A_COVER + [8]), "B": np.array(B_COVER)})
    pooled = 100 * (1 / 3 + 0.6 + 1 + 0.5 + 1 / 3) / 5
    per_sequence = (100 * (1 / 3 + 0.6 + 1) / 3 + 100 * (0.5 + 1 / 3) / 2) / 2
    assert scores["overall"]["ao"] == pytest.approx(pooled)
    assert abs(pooled - per_sequence) > 2
    assert scores["overall"]["sr50"] == pytest.approx(40.0) and scores["overall"]["sr75"] == pytest.approx(20.0)


def test_the_first_frame_is_not_scored():
    perfect_first = [A_GT[0]] + A_PRED[1:]
    assert _scores(a_pred=perfect_first) == _scores()
    assert _scores()["per_sequence"]["A"]["frames"] == 2  # of 4: frame 0 and the absent frame 2 are left out


def test_frames_are_scored_by_cover_alone():
    # Cover > 0 on the absent frame 2: its IoU of 0 is scored, although the sequence's visible flag is False there
    # (the toolkit reads neither absence.label nor the box's area).
    scores = _scores(a_cover=[8, 8, 1, 8], a_visible=[True, True, False, True])
    assert scores["per_sequence"]["A"] == pytest.approx({"ao": 100 * (1 / 3 + 0 + 0.6) / 3, "sr50": 100 / 3,
                                                         "sr75": 0.0, "frames": 3})


def test_success_needs_an_iou_strictly_above_the_threshold():
    exactly_half = rect_iou(np.array([[90.0, 0, 30, 10]]), np.array([[80.0, 0, 20, 10]]), SIZE)
    assert exactly_half[0] == 0.5
    assert _scores()["per_sequence"]["B"]["sr50"] == 0.0


def test_boxes_are_clipped_to_the_image_the_toolkits_way():
    gt = np.array([[80.0, 0, 20, 10], [20, 0, 10, 10], [0, 0, 10, 10]])
    pred = np.array([[90.0, 0, 30, 10], [-10, 0, 30, 10], [0, 0, 10, 10]])
    np.testing.assert_allclose(rect_iou(pred, gt, SIZE), [0.5, 1 / 3, 1.0])
    np.testing.assert_allclose(overlap_inclusive(pred, gt), [0.25, 0.0, 1.0])  # LaSOT's IoU: no clipping
    np.testing.assert_array_equal(pred[1], [-10, 0, 30, 10])  # the caller's arrays are left as they were


def test_a_box_entirely_outside_the_image_overlaps_nothing():
    assert rect_iou(np.array([[150.0, 0, 20, 10]]), np.array([[80.0, 0, 20, 10]]), SIZE)[0] == 0.0


def test_a_short_prediction_is_an_error_naming_the_sequence():
    with pytest.raises(MetricsError, match=r"sequence A: 3 predicted boxes for 4 ground-truth frames"):
        _scores(a_pred=A_PRED[:3])


def test_a_longer_prediction_is_cut_to_the_sequence_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="seqtrack_accel.tracking.got10k_metrics"):
        assert _scores(a_pred=A_PRED + [[1, 1, 1, 1]]) == _scores()
    assert "sequence A: 5 predicted boxes for 4 ground-truth frames" in caplog.text


def test_a_non_finite_prediction_is_an_error_naming_the_sequence_and_frame():
    with pytest.raises(MetricsError, match=r"sequence A: the prediction of frame 3 \(0-based\) is not finite"):
        _scores(a_pred=A_PRED[:3] + [[0, 0, np.nan, 10]])


def test_a_sequence_without_predictions_is_an_error_naming_it():
    with pytest.raises(MetricsError, match=r"sequence B: no predictions; track it first"):
        got10k_scores({"A": np.array(A_PRED, float)}, [_sequence("A", A_GT), _sequence("B", B_GT)],
                      image_sizes={"A": SIZE, "B": SIZE}, covers={"A": np.array(A_COVER), "B": np.array(B_COVER)})


def test_a_test_split_sequence_is_refused_and_pointed_to_the_submission():
    first_box_only = [[0, 0, 10, 10]] + [[np.nan] * 4] * 3
    with pytest.raises(MetricsError, match=r"sequence T: .*pack a submission"):
        got10k_scores({"T": np.array(A_PRED, float)}, [_sequence("T", first_box_only, [True, False, False, False])],
                      image_sizes={"T": SIZE}, covers={"T": np.array([8, 8, 8, 8])})


@pytest.fixture(scope="module")
def got10k_val(tmp_path_factory):
    return make_synthetic_got10k(tmp_path_factory.mktemp("got10k") / "GOT-10k", sequences=1, frames=20,
                                 size=(64, 48), seed=1, val_sequences=3)


def test_by_default_cover_label_and_meta_info_resolution_are_read_from_the_sequence_folders(got10k_val):
    sequences = load_got10k(got10k_val, split="val")
    # Shifted 3 pixels left and up: predictions near the top-left border get clipped.
    predictions = {s.name: s.boxes.astype(np.float64) - [3, 3, 0, 0] for s in sequences}
    covers = {s.name: np.loadtxt(s.frames_dir / "cover.label", dtype=int) for s in sequences}
    assert any((c == 0).any() for c in covers.values())  # some frame is not scored
    expected = got10k_scores(predictions, sequences, image_sizes={s.name: (64, 48) for s in sequences}, covers=covers)
    assert got10k_scores(predictions, sequences) == expected
    assert expected["overall"]["frames"] == sum(int((c[1:] > 0).sum()) for c in covers.values())


def test_a_sequence_folder_without_its_label_files_is_an_error_naming_the_file(got10k_val):
    sequence = load_got10k(got10k_val, split="val")[0]
    moved = _sequence(sequence.name, sequence.boxes)
    with pytest.raises(FileNotFoundError, match=rf"{moved.frames_dir}/cover.label is missing"):
        got10k_scores({moved.name: sequence.boxes}, [moved], image_sizes={moved.name: SIZE})
    with pytest.raises(FileNotFoundError, match=rf"{moved.frames_dir}/meta_info.ini is missing.*image_sizes="):
        got10k_scores({moved.name: sequence.boxes}, [moved], covers={moved.name: np.ones(len(sequence))})
