"""LaSOT one-pass-evaluation metrics, exactly as the original evaluation toolkit computes them.

Original: ``lib/test/analysis/extract_results.py``.

Per sequence: overlaps and center errors of the predicted boxes against the ground truth, with
inclusive pixel coordinates; curves over thresholds; then the mean over sequences (and per class).

    errors = sequence_errors(pred_xywh, gt_xywh, visible, name="book-3")
    result = SequenceResult.from_errors(errors, class_name="book")
    summary = summarize([result, ...])   # {"overall": {...}, "per_class": {...}, "per_sequence": {...}}

All scores in summaries are percentages (x100), like the published tables.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

# Success curve: fraction of frames whose overlap is strictly above t, t = 0, 0.05, ..., 1.0 (21 values).
SUCCESS_THRESHOLDS = np.arange(21) / 20.0
# Precision curve: fraction of frames whose center error is <= t pixels, t = 0..50.
PRECISION_THRESHOLDS = np.arange(51, dtype=np.float64)
# Normalised precision curve: center difference divided by the ground-truth size per axis, t = 0..0.50.
NORM_PRECISION_THRESHOLDS = np.arange(51) / 100.0
OP50_INDEX = 10  # SUCCESS_THRESHOLDS[10] == 0.5
OP75_INDEX = 15  # SUCCESS_THRESHOLDS[15] == 0.75
PRECISION_INDEX = 20  # 20 pixels
NORM_PRECISION_INDEX = 20  # 0.20 of the ground-truth size


class MetricsError(ValueError):
    """Predictions or annotations of one sequence cannot be evaluated; the message names the sequence."""


@dataclass(frozen=True)
class SequenceErrors:
    """Per-frame errors of one sequence, each (N,) float64. Frames without a valid, visible target have
    overlap -1 and infinite center errors, so they count as failures at every threshold."""

    name: str
    overlap: np.ndarray  # IoU in [0, 1], -1 where the target is not valid
    center_error: np.ndarray  # pixels
    norm_center_error: np.ndarray  # unitless (per-axis difference / ground-truth w, h)
    valid: np.ndarray  # bool


def overlap_inclusive(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """IoU of x,y,w,h boxes (N, 4) in pixels with inclusive corners (``x2 = x + w - 1``). Returns (N,).

    Rows with a zero union come out as NaN; callers mask them (they only occur for invalid ground truth).
    """
    top_left = np.maximum(pred[:, :2], gt[:, :2])
    bottom_right = np.minimum(pred[:, :2] + pred[:, 2:] - 1.0, gt[:, :2] + gt[:, 2:] - 1.0)
    sides = np.clip(bottom_right - top_left + 1.0, 0.0, None)
    intersection = sides.prod(axis=1)
    union = pred[:, 2:].prod(axis=1) + gt[:, 2:].prod(axis=1) - intersection
    with np.errstate(divide="ignore", invalid="ignore"):
        return intersection / union


def _centers(boxes: np.ndarray) -> np.ndarray:
    # Inclusive pixel coordinates: a box covering pixels x..x+w-1 has its center at x + (w - 1) / 2.
    return boxes[:, :2] + 0.5 * (boxes[:, 2:] - 1.0)


def center_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Euclidean distance in pixels between box centers, (N, 4) x,y,w,h -> (N,)."""
    return np.sqrt(((_centers(pred) - _centers(gt)) ** 2).sum(axis=1))


def normalized_center_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Center distance with each axis divided by the ground-truth w (x) or h (y), (N, 4) -> (N,).

    Rows whose ground truth has a zero size come out infinite or NaN; callers mask them.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = (_centers(pred) - _centers(gt)) / gt[:, 2:]
        return np.sqrt((diff**2).sum(axis=1))


def clean_predictions(pred: np.ndarray, gt: np.ndarray, name: str) -> np.ndarray:
    """The predictions the toolkit actually scores: checked, zero sizes filled in, frame 0 set to the GT.

    Args:
        pred: (M, 4) x,y,w,h pixels, as read from the result file.
        gt: (N, 4) x,y,w,h pixels.
        name: the sequence, for error messages.
    Returns:
        (N, 4) float64. A prediction longer than the ground truth is cut to its length (as the original does
        for LaSOT); a shorter one is an error.
    """
    pred = np.array(pred, dtype=np.float64, copy=True)
    if pred.ndim != 2 or pred.shape[1] != 4:
        raise MetricsError(f"sequence {name}: predictions must be an (N, 4) x,y,w,h array, got shape {pred.shape}")
    if not np.isfinite(pred).all():
        frame = int(np.flatnonzero(~np.isfinite(pred).all(axis=1))[0])
        raise MetricsError(f"sequence {name}: the prediction of frame {frame} (0-based) is not finite "
                           f"{pred[frame].tolist()}; fix the tracker's output or delete its result file and track "
                           "the sequence again")
    if (pred[:, 2:] < 0).any():
        frame = int(np.flatnonzero((pred[:, 2:] < 0).any(axis=1))[0])
        raise MetricsError(f"sequence {name}: the prediction of frame {frame} (0-based) has a negative size "
                           f"{pred[frame, 2:].tolist()}; fix the tracker's output or delete its result file")
    if np.isnan(gt).any():
        raise MetricsError(f"sequence {name}: the ground truth holds NaN values; check its groundtruth.txt")
    if len(pred) < len(gt):
        raise MetricsError(f"sequence {name}: {len(pred)} predicted boxes for {len(gt)} ground-truth frames; "
                           "the result file is incomplete (delete it and track again), or evaluate with the same "
                           "max_frames as the tracking run")
    if len(pred) > len(gt):
        logger.warning("sequence %s: %d predicted boxes for %d ground-truth frames; the extra ones are ignored",
                       name, len(pred), len(gt))
        pred = pred[: len(gt)]

    # A zero-size prediction takes the previous frame's (already filled) prediction: forward fill, in the
    # original's order, i.e. before frame 0 is replaced by the ground truth.
    zero = (pred[:, 2:] == 0.0).any(axis=1)
    zero[0] = False
    source = np.maximum.accumulate(np.where(zero, 0, np.arange(len(pred))))
    pred = pred[source]
    pred[0] = gt[0]
    return pred


def sequence_errors(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray, name: str) -> SequenceErrors:
    """Per-frame overlaps and center errors of one sequence.

    Args:
        pred: (M, 4) predicted x,y,w,h in pixels, M >= N.
        gt: (N, 4) ground-truth x,y,w,h in pixels.
        visible: (N,) bool, False where the target is fully occluded or out of view.
        name: the sequence, named in every error.
    """
    gt = np.asarray(gt, dtype=np.float64)
    visible = np.asarray(visible, dtype=bool)
    if gt.ndim != 2 or gt.shape[1] != 4 or len(gt) == 0:
        raise MetricsError(f"sequence {name}: ground truth must be a non-empty (N, 4) array, got shape {gt.shape}")
    if visible.shape != (len(gt),):
        raise MetricsError(f"sequence {name}: visibility has shape {visible.shape}, expected ({len(gt)},)")
    pred = clean_predictions(pred, gt, name)
    valid = visible & (gt[:, 2] > 0) & (gt[:, 3] > 0)
    overlap = np.where(valid, overlap_inclusive(pred, gt), -1.0)
    center = np.where(valid, center_error(pred, gt), np.inf)
    norm_center = np.where(valid, normalized_center_error(pred, gt), np.inf)
    return SequenceErrors(name, overlap, center, norm_center, valid)


def success_curve(overlap: np.ndarray) -> np.ndarray:
    """(N,) overlaps -> (21,) fraction of frames with overlap > t; every frame is in the denominator."""
    return (overlap[:, None] > SUCCESS_THRESHOLDS[None, :]).mean(axis=0)


def precision_curve(center: np.ndarray) -> np.ndarray:
    """(N,) center errors in pixels -> (51,) fraction of frames with error <= t, t = 0..50 px."""
    return (center[:, None] <= PRECISION_THRESHOLDS[None, :]).mean(axis=0)


def norm_precision_curve(norm_center: np.ndarray) -> np.ndarray:
    """(N,) normalised center errors -> (51,) fraction of frames with error <= t, t = 0..0.50."""
    return (norm_center[:, None] <= NORM_PRECISION_THRESHOLDS[None, :]).mean(axis=0)


@dataclass(frozen=True)
class SequenceResult:
    """The curves of one sequence, as fractions in [0, 1]."""

    name: str
    class_name: str
    frames: int
    success: np.ndarray  # (21,)
    precision: np.ndarray  # (51,)
    norm_precision: np.ndarray  # (51,)

    @classmethod
    def from_errors(cls, errors: SequenceErrors, class_name: str) -> SequenceResult:
        return cls(
            name=errors.name,
            class_name=class_name,
            frames=len(errors.overlap),
            success=success_curve(errors.overlap),
            precision=precision_curve(errors.center_error),
            norm_precision=norm_precision_curve(errors.norm_center_error),
        )

    def scores(self) -> dict[str, float]:
        """AUC, OP50, OP75, precision @20 px and normalised precision @0.20, all x100."""
        return _scores(self.success, self.precision, self.norm_precision)


def _scores(success: np.ndarray, precision: np.ndarray, norm_precision: np.ndarray) -> dict[str, float]:
    return {
        "auc": float(success.mean() * 100.0),
        "op50": float(success[OP50_INDEX] * 100.0),
        "op75": float(success[OP75_INDEX] * 100.0),
        "precision": float(precision[PRECISION_INDEX] * 100.0),
        "norm_precision": float(norm_precision[NORM_PRECISION_INDEX] * 100.0),
    }


def aggregate(results: Iterable[SequenceResult]) -> dict:
    """Mean over sequences (each sequence weighs the same, whatever its length).

    Returns the scores (x100), ``sequences``, ``frames`` and the mean curves (x100) under ``success_curve``,
    ``precision_curve`` and ``norm_precision_curve``.
    """
    results = list(results)
    if not results:
        raise MetricsError("no sequences to aggregate; check the sequence list and the class filter")
    success = np.mean([r.success for r in results], axis=0)
    precision = np.mean([r.precision for r in results], axis=0)
    norm_precision = np.mean([r.norm_precision for r in results], axis=0)
    return {
        **_scores(success, precision, norm_precision),
        "sequences": len(results),
        "frames": int(sum(r.frames for r in results)),
        "success_curve": (success * 100.0).tolist(),
        "precision_curve": (precision * 100.0).tolist(),
        "norm_precision_curve": (norm_precision * 100.0).tolist(),
    }


def summarize(results: Iterable[SequenceResult], attributes: Mapping[str, Iterable[str]] | None = None) -> dict:
    """``{"overall": aggregate, "per_class": {class: aggregate}, "per_sequence": {name: scores + class}}``, and
    ``"per_attribute": {attribute: aggregate}`` when ``attributes`` (sequence name -> its attribute names, as
    UAV123 labels them) is given. Sequences without a class (``""``: TNL2K, UAV123, ...) are in no class row."""
    results = list(results)
    names = [r.name for r in results]
    if len(set(names)) != len(names):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        raise MetricsError(f"sequences listed more than once: {duplicates}")
    classes = sorted({r.class_name for r in results} - {""})
    summary = {
        "overall": aggregate(results),
        "per_class": {c: aggregate(r for r in results if r.class_name == c) for c in classes},
        "per_sequence": {
            r.name: {"class": r.class_name, "frames": r.frames, **r.scores()} for r in results
        },
    }
    if attributes is not None:
        members = {r.name: set(attributes.get(r.name, ())) for r in results}
        labels = sorted(set().union(*members.values())) if members else []
        summary["per_attribute"] = {a: aggregate(r for r in results if a in members[r.name]) for a in labels}
    return summary
