"""SeqTrack inference and evaluation on any dataset or benchmark (original: ``lib/test/tracker/seqtrack.py``).

- ``tracker``: ``SeqTrackTracker`` (one video, frame by frame), ``FirstBoxTracker`` (baseline),
  ``load_tracker_model`` / ``load_tracker_checkpoint`` (training checkpoint folder, save_pretrained folder, either
  on the Hub as ``hf://ORG/NAME[@REVISION][/PATH]``, original ``.pth.tar``; the latter also returns the weights'
  identity).
- ``metrics``: per-sequence overlaps and center errors, success / precision / normalised precision curves.
- ``evaluate``: result files, tracking runs resumable per sequence and keyed to what produced them
  (``produced_by.json``), result-folder scoring, ``validate`` for training.
- ``benchmarks``: the protocols (one-pass, GOT-10k, server archives), the benchmarks of ``seqtrack-evaluate
  --dataset`` and one evaluation (``evaluation_set``, ``evaluate``): what ``seqtrack-evaluate`` calls.
- ``plots``: success and precision plots of several trackers.
"""

from __future__ import annotations

from .evaluate import (
    StaleResultsError,
    evaluate_predictions,
    evaluate_results,
    read_boxes,
    results_record,
    run_tracker_on_sequences,
    track_sequence,
    validate,
    write_boxes,
    write_summary,
)
from .metrics import MetricsError, SequenceResult, sequence_errors, summarize
from .tracker import FirstBoxTracker, SeqTrackTracker, TrackerCheckpoint, load_tracker_checkpoint, load_tracker_model

__all__ = [
    "FirstBoxTracker",
    "MetricsError",
    "SeqTrackTracker",
    "SequenceResult",
    "StaleResultsError",
    "TrackerCheckpoint",
    "evaluate_predictions",
    "evaluate_results",
    "load_tracker_checkpoint",
    "load_tracker_model",
    "read_boxes",
    "results_record",
    "run_tracker_on_sequences",
    "sequence_errors",
    "summarize",
    "track_sequence",
    "validate",
    "write_boxes",
    "write_summary",
]
