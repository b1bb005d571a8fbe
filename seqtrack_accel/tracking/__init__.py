"""SeqTrack inference and LaSOT evaluation (original: ``lib/test/tracker/seqtrack.py``).

- ``tracker``: ``SeqTrackTracker`` (one video, frame by frame), ``FirstBoxTracker`` (baseline),
  ``load_tracker_model`` (training checkpoint folder, save_pretrained folder / Hub repo, original ``.pth.tar``).
- ``metrics``: per-sequence overlaps and center errors, success / precision / normalised precision curves.
- ``evaluate``: result files, resumable tracking runs, result-folder scoring, ``validate`` for training.
- ``plots``: success and precision plots of several trackers.
"""

from __future__ import annotations

from .evaluate import (
    evaluate_predictions,
    evaluate_results,
    read_boxes,
    run_tracker_on_sequences,
    track_sequence,
    validate,
    write_boxes,
    write_summary,
)
from .metrics import MetricsError, SequenceResult, sequence_errors, summarize
from .tracker import FirstBoxTracker, SeqTrackTracker, load_tracker_model

__all__ = [
    "FirstBoxTracker",
    "MetricsError",
    "SeqTrackTracker",
    "SequenceResult",
    "evaluate_predictions",
    "evaluate_results",
    "load_tracker_model",
    "read_boxes",
    "run_tracker_on_sequences",
    "sequence_errors",
    "summarize",
    "track_sequence",
    "validate",
    "write_boxes",
    "write_summary",
]
