"""GOT-10k's AO, SR0.50 and SR0.75, exactly as the official toolkit scores the val split.

Source: got-10k/toolkit (commit 956e7286fdf209cbb125adac9a46376bd8297ffb), ``got10k/experiments/got10k.py``
(``ExperimentGOT10k.report`` and ``_evaluate``) and ``got10k/utils/metrics.py`` (``rect_iou``, ``_intersection``).
What it does, and so what is done here:

- The first frame is left out (``rect_iou(b[1:], anno[1:], ...)``): the tracker was given its box.
- Of the others, only frames with ``cover.label > 0`` are scored (``covers = meta['cover'][1:]``,
  ``t[covers > 0]``). ``absence.label`` is not read, nor is the box's size: a frame is scored or not by its cover
  alone. (The readers' ``Sequence.visible`` also asks for ``absence == 0`` and a box with an area, so it is not
  used here; ``cover.label`` is read from the sequence folder.)
- The IoU is continuous: corners ``x`` and ``x + w``, ``inter / (union + eps)`` with ``eps = np.finfo(float).eps``,
  clipped to [0, 1]. (LaSOT's inclusive corners ``x + w - 1`` with sides ``+ 1`` give the same IoU of the same
  boxes; what differs is the clipping below and which frames are scored.)
- Before it, both boxes are clipped to the image (``bound`` = ``meta_info.ini``'s ``resolution: (W, H)``) the
  toolkit's way: ``x`` to [0, W], then ``w`` to [0, W - x] with the clipped ``x``, and the same for ``y``, ``h``.
  A box sticking out on the left is thereby shifted right, not cut: x = -10, w = 30 becomes x = 0, w = 30.
- A sequence's AO is the mean IoU of its scored frames. The overall AO is the mean over ALL scored frames of all
  sequences pooled (``np.concatenate`` of the per-sequence IoUs), so a long sequence weighs more: not the mean of
  the per-sequence AOs.
- SR at a threshold is the fraction of frames with an IoU strictly above it (``ious > 0.5``; the success curve uses
  ``np.greater`` too). The toolkit's report holds SR0.50 only; SR0.75 is the same rule at 0.75, the value of its
  success curve at ``np.linspace(0, 1, 101)[75] == 0.75``.
- A result file must have exactly the sequence's number of lines (``assert b.shape == anno.shape``). Here a longer
  one is cut to the sequence, with a warning, as the package's LaSOT scoring does (results tracked in full, scored
  with ``max_frames``); a shorter one is an error.

Not reproduced: the toolkit reads boxes back from files it wrote with ``%.3f``; the boxes given here are scored as
they are. It pools the IoUs of up to 3 repetitions of a non-deterministic tracker; a result folder here
holds one run.

    scores = got10k_scores(predictions, load_got10k(root, split="val"))
    scores["overall"]   # {"ao": ..., "sr50": ..., "sr75": ..., "sequences": 180, "frames": frames scored}

Scores are percentages (x100), like the rest of the package.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

import numpy as np

from ..data.got10k import read_cover, read_resolution
from ..data.sequence import Sequence
from .metrics import MetricsError

logger = logging.getLogger(__name__)

SR_THRESHOLDS = {"sr50": 0.5, "sr75": 0.75}


def rect_iou(pred: np.ndarray, gt: np.ndarray, bound: tuple[float, float]) -> np.ndarray:
    """The toolkit's ``rect_iou`` with ``bound``: IoU of x,y,w,h boxes (N, 4) after clipping both to the image.

    Args:
        pred, gt: (N, 4) x,y,w,h in pixels; not modified (the toolkit clips its arguments in place).
        bound: the image's (width, height) in pixels.
    Returns:
        (N,) float64 in [0, 1]; 0 where both boxes are empty.
    """
    pred, gt = _clip_to_image(pred, bound), _clip_to_image(gt, bound)
    x1 = np.maximum(pred[:, 0], gt[:, 0])
    y1 = np.maximum(pred[:, 1], gt[:, 1])
    x2 = np.minimum(pred[:, 0] + pred[:, 2], gt[:, 0] + gt[:, 2])
    y2 = np.minimum(pred[:, 1] + pred[:, 3], gt[:, 1] + gt[:, 3])
    intersection = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    union = pred[:, 2] * pred[:, 3] + gt[:, 2] * gt[:, 3] - intersection
    return np.clip(intersection / (union + np.finfo(float).eps), 0.0, 1.0)


def _clip_to_image(boxes: np.ndarray, bound: tuple[float, float]) -> np.ndarray:
    """The toolkit's clipping: x to [0, W], then w to [0, W - x] with the clipped x (same for y, h)."""
    boxes = np.array(boxes, dtype=np.float64, copy=True)
    width, height = bound
    boxes[:, 0] = np.clip(boxes[:, 0], 0, width)
    boxes[:, 1] = np.clip(boxes[:, 1], 0, height)
    boxes[:, 2] = np.clip(boxes[:, 2], 0, width - boxes[:, 0])
    boxes[:, 3] = np.clip(boxes[:, 3], 0, height - boxes[:, 1])
    return boxes


def sequence_ious(pred: np.ndarray, gt: np.ndarray, cover: np.ndarray, bound: tuple[float, float],
                  name: str) -> np.ndarray:
    """The IoUs the toolkit scores in one sequence: frames 1.. (0-based) whose cover is > 0.

    Args:
        pred: (M, 4) predicted x,y,w,h in pixels, M >= N (longer: cut to N, with a warning).
        gt: (N, 4) ground-truth x,y,w,h in pixels.
        cover: (N,) or longer ``cover.label`` values (0..8); the first N are used.
        bound: the image's (width, height).
        name: the sequence, named in every error.
    Returns:
        (K,) float64, K = the number of frames after the first with cover > 0.
    """
    gt = np.asarray(gt, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    cover = np.asarray(cover)
    n = len(gt)
    if gt.ndim != 2 or gt.shape[1] != 4 or n == 0:
        raise MetricsError(f"sequence {name}: ground truth must be a non-empty (N, 4) array, got shape {gt.shape}")
    if pred.ndim != 2 or pred.shape[1] != 4:
        raise MetricsError(f"sequence {name}: predictions must be an (N, 4) x,y,w,h array, got shape {pred.shape}")
    if len(pred) < n:
        raise MetricsError(f"sequence {name}: {len(pred)} predicted boxes for {n} ground-truth frames; the result "
                           "file is incomplete (delete it and track again), or score with the same max_frames as the "
                           "tracking run")
    if len(pred) > n:
        logger.warning("sequence %s: %d predicted boxes for %d ground-truth frames; the extra ones are ignored",
                       name, len(pred), n)
        pred = pred[:n]
    if cover.ndim != 1 or len(cover) < n:
        raise MetricsError(f"sequence {name}: {len(cover)} cover values for {n} frames; cover.label needs one line "
                           "per frame")
    bad = ~np.isfinite(pred[1:]).all(axis=1)
    if bad.any():
        frame = int(np.flatnonzero(bad)[0]) + 1
        raise MetricsError(f"sequence {name}: the prediction of frame {frame} (0-based) is not finite "
                           f"{pred[frame].tolist()}; fix the tracker's output or delete its result file and track "
                           "the sequence again")
    scored = np.flatnonzero(cover[1:n] > 0) + 1
    if not np.isfinite(gt[scored]).all():
        raise MetricsError(f"sequence {name}: its ground truth is not finite beyond the first frame; a test-split "
                           "sequence (GOT-10k test, TrackingNet) is scored by its evaluation server: pack a "
                           "submission (tracking.submission) instead")
    if not (len(bound) == 2 and all(np.isfinite(v) and v > 0 for v in bound)):
        raise MetricsError(f"sequence {name}: the image size must be (width, height) > 0, got {tuple(bound)}")
    return rect_iou(pred[scored], gt[scored], bound)


def _scores(ious: np.ndarray) -> dict[str, float]:
    if len(ious) == 0:  # the toolkit's np.mean of nothing
        return {"ao": float("nan"), **{key: float("nan") for key in SR_THRESHOLDS}}
    return {"ao": float(ious.mean() * 100.0),
            **{key: float((ious > t).mean() * 100.0) for key, t in SR_THRESHOLDS.items()}}


def got10k_scores(predictions: Mapping[str, np.ndarray], sequences: Iterable[Sequence], *,
                  image_sizes: Mapping[str, tuple[int, int]] | None = None,
                  covers: Mapping[str, np.ndarray] | None = None) -> dict:
    """AO, SR0.50 and SR0.75 of ``predictions`` on GOT-10k sequences (val), as the toolkit computes them.

    Args:
        predictions: ``{name: (N, 4) x,y,w,h}`` in pixels, one row per frame (frame 0 is not scored).
        sequences: the sequences (``load_got10k(root, split="val")``); their ``boxes`` are the ground truth and
            their length the frames scored (a sequence cut to its first frames is scored on those).
        image_sizes: ``{name: (width, height)}``; None: each sequence folder's ``meta_info.ini`` ``resolution``.
        covers: ``{name: (N,) cover.label values}``; None: each sequence folder's ``cover.label``.
    Returns:
        ``{"overall": {"ao", "sr50", "sr75", "sequences", "frames"}, "per_sequence": {name: {"ao", "sr50",
        "sr75", "frames"}}}``: scores x100, ``frames`` the number of frames scored. The overall scores pool the
        frames of all sequences. A sequence without a scored frame has NaN scores (the toolkit's mean of nothing).
    Raises:
        MetricsError: a sequence has no predictions, too few, non-finite ones or no ground truth (a test split),
            is listed twice, or no frame at all is scored; the message names the sequence.
        FileNotFoundError, ValueError: ``cover.label`` or ``meta_info.ini`` is missing or malformed (the message
            names the file).
    """
    per_sequence, pooled = {}, []
    for sequence in sequences:
        name = sequence.name
        if name in per_sequence:
            raise MetricsError(f"sequence {name} is listed twice; score each sequence once")
        if name not in predictions:
            raise MetricsError(f"sequence {name}: no predictions; track it first")
        cover = read_cover(sequence.frames_dir) if covers is None else _lookup(covers, name, "covers")
        bound = read_resolution(sequence.frames_dir) if image_sizes is None else _lookup(image_sizes, name,
                                                                                         "image_sizes")
        ious = sequence_ious(predictions[name], sequence.boxes, cover, tuple(bound), name)
        per_sequence[name] = {**_scores(ious), "frames": int(len(ious))}
        pooled.append(ious)
    ious = np.concatenate(pooled) if pooled else np.zeros(0)
    if len(ious) == 0:
        raise MetricsError("no frame to score: no sequences, or none has a frame after the first with cover.label > "
                           "0; check the sequence list")
    overall = {**_scores(ious), "sequences": len(per_sequence), "frames": int(len(ious))}
    return {"overall": overall, "per_sequence": per_sequence}


def _lookup(values: Mapping, name: str, what: str):
    if name not in values:
        raise MetricsError(f"sequence {name}: not in {what}; give every sequence's value, or None to read them from "
                           "the sequence folders")
    return values[name]
