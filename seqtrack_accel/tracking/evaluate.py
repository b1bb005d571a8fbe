"""Run a tracker over the sequences of any dataset or benchmark, write result files, and score result folders.

Result folder layout, compatible with the original toolkit and other trackers' raw results:
``<sequence>.txt`` holds one ``x,y,w,h`` line per frame (pixels; comma, tab or space separated when read),
``<sequence>_time.txt`` one line of seconds per frame, ``produced_by.json`` what produced them (weights hash,
tracker settings, package version). A sequence whose ``<sequence>.txt`` exists is done: runs are resumable, and the
box file is written last and atomically, so it only exists once complete. A run resumes only over results that
the same weights and settings produced (``prepare_results_dir``).

    record = results_record("SeqTrack", seqtrack_settings(cfg), checkpoint.identity)
    run = run_tracker_on_sequences(model, cfg, sequences, Path("out/seqtrack"), record=record)
    summary = evaluate_results(Path("out/seqtrack"), sequences)   # == evaluate_predictions(run.predictions, ...)
    write_summary(Path("out"), {"seqtrack": summary})
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from .. import __version__
from ..config import Config, model_signature
from ..data.annotations import SKIP, Rows, parse_rows
from ..data.image import read_image
from ..files import read_text, write_json_atomic, write_text_atomic
from ..data.sources import evaluation_sequences
from .metrics import MetricsError, SequenceResult, sequence_errors, summarize
from .plots import save_plots
from .tracker import SeqTrackTracker

logger = logging.getLogger(__name__)

SUMMARY_FORMAT_VERSION = 1
RECORD_FILE = "produced_by.json"
RECORD_FORMAT_VERSION = 1
SCORE_KEYS = ("auc", "op50", "op75", "precision", "norm_precision")


class AnnotatedSequence(Protocol):
    """What evaluation needs of a sequence (``seqtrack_accel.data.sequence.Sequence``, of any reader)."""

    name: str
    class_name: str
    boxes: np.ndarray  # (N, 4) float32 x,y,w,h pixels
    visible: np.ndarray  # (N,) bool

    def frame_path(self, index: int) -> Path: ...

    def __len__(self) -> int: ...


class Tracker(Protocol):
    def initialize(self, frame: np.ndarray, box_xywh: np.ndarray) -> None: ...

    def track(self, frame: np.ndarray) -> tuple[np.ndarray, float]: ...


# ---------------------------------------------------------------------------------------------------------------
# result files
#
# A result folder holds, per sequence, <sequence>.txt: one line per frame, x,y,w,h in pixels (top-left origin),
# comma-separated, optionally followed by a fifth value, the tracker's confidence (seqtrack-track writes it, scoring
# does not read it); and <sequence>_time.txt, the seconds each frame took. It is pytracking's layout, which other
# trackers' result folders share: what seqtrack-track and seqtrack-evaluate write, either reads.


def results_file(results_dir: Path, name: str) -> Path:
    return Path(results_dir) / f"{name}.txt"


def times_file(results_dir: Path, name: str) -> Path:
    return Path(results_dir) / f"{name}_time.txt"


def box_lines(boxes: np.ndarray, confidences: np.ndarray | None = None) -> str:
    """One ``x,y,w,h`` line per frame, or ``x,y,w,h,confidence`` with ``confidences``; Python's shortest round-trip
    float text, so reading gives the same floats."""
    rows = np.asarray(boxes, dtype=np.float64)
    if confidences is not None:
        rows = np.column_stack([rows, np.asarray(confidences, dtype=np.float64)])
    return "".join(",".join(repr(float(v)) for v in row) + "\n" for row in rows)


def write_boxes(path: Path, boxes: np.ndarray) -> None:
    """One ``x,y,w,h`` line per frame. Python's shortest round-trip float text: reading gives the same floats."""
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{path}: boxes must be an (N, 4) x,y,w,h array, got shape {boxes.shape}")
    write_text_atomic(Path(path), box_lines(boxes))


def write_times(path: Path, seconds: np.ndarray) -> None:
    """One line of seconds per frame."""
    write_text_atomic(Path(path), "".join(f"{float(s)!r}\n" for s in np.asarray(seconds).reshape(-1)))


_FIX = "fix the tool that wrote it, or delete the file and track the sequence again"


def _read_rows(path: Path, columns: int, frames: int | None, extra: int = 0) -> Rows:
    """The rows of a result file (blank lines skipped), at most ``frames`` of them, each ``columns`` finite numbers
    and up to ``extra`` more values, not read."""
    rows = parse_rows(path, read_text(path).splitlines(), columns=columns, extra=extra, blank=SKIP, fix=_FIX,
                      names="x,y,w,h" if columns == 4 else "seconds")
    if frames is not None and len(rows.values) > frames:
        raise ValueError(f"{path} line {rows.lines[frames]}: more lines than the {frames} frames of the sequence; the "
                         f"file belongs to another sequence or has lines to spare: {_FIX}")
    return rows


def read_boxes(path: Path, frames: int | None = None) -> np.ndarray:
    """``x,y,w,h`` lines (comma, tab or space separated, as other trackers write them) -> (N, 4) float64. A fifth
    value on a line (the confidence ``seqtrack-track`` writes) is allowed and not read.

    ``frames``: the sequence's length; a file with more lines is an error. Values must be finite numbers.
    """
    return _read_rows(path, 4, frames, extra=1).values


def read_times(path: Path, frames: int | None = None) -> np.ndarray:
    """Seconds per frame -> (N,) float64: finite, >= 0, at most ``frames`` lines."""
    rows = _read_rows(path, 1, frames)
    seconds = rows.values[:, 0]
    negative = np.flatnonzero(seconds < 0)
    if len(negative):
        row = negative[0]
        raise ValueError(f"{path} line {rows.lines[row]}: {float(seconds[row])!r} seconds is negative; {_FIX}")
    return seconds


# ---------------------------------------------------------------------------------------------------------------
# what produced a result folder


class StaleResultsError(ValueError):
    """A result folder holds results of other weights or settings; the message says what differs and what to do."""


def results_record(tracker: str, settings: Mapping[str, Any], checkpoint: Mapping[str, str] | None = None) -> dict:
    """What produces a result folder: written into it as ``produced_by.json`` and compared when a run resumes.

    Args:
        tracker: the kind of tracker ("SeqTrack", "first-box").
        settings: what else changes its boxes (``seqtrack_settings``); ``run_tracker_on_sequences`` adds
            ``max_frames``.
        checkpoint: ``load_tracker_checkpoint(...).identity``, None for a tracker without weights. Its
            ``weights_sha256`` is compared; where the weights came from (``source``, ``hub_commit``) is recorded
            under ``loaded_from`` but not compared, since the same weights may be read from another place.
    """
    checkpoint = dict(checkpoint or {})
    return {"format_version": RECORD_FORMAT_VERSION, "tracker": tracker,
            "weights_sha256": checkpoint.pop("weights_sha256", None), "settings": dict(settings),
            "seqtrack_accel": __version__, "loaded_from": checkpoint}


def seqtrack_settings(cfg: Config, dtype: torch.dtype = torch.float32) -> dict:
    """The settings that change ``SeqTrackTracker``'s boxes, by dotted config key, and the dtype. The device is
    left out: CPU and GPU boxes differ by rounding only."""
    return {**model_signature(cfg), "data.search.factor": cfg.data.search.factor,
            "data.template.factor": cfg.data.template.factor, "data.mean": list(cfg.data.mean),
            "data.std": list(cfg.data.std), "eval.template_update_interval": cfg.eval.template_update_interval,
            "eval.template_update_threshold": cfg.eval.template_update_threshold, "eval.hanning": cfg.eval.hanning,
            "dtype": str(dtype).removeprefix("torch.")}


def read_record(results_dir: Path) -> dict | None:
    """The ``produced_by.json`` of a result folder, None if it has none."""
    path = Path(results_dir) / RECORD_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON ({e}); delete the folder's results and track again "
                         "(seqtrack-evaluate --overwrite)") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path} must hold a JSON object; delete the folder's results and track again "
                         "(seqtrack-evaluate --overwrite)")
    return record


def _compared(record: Mapping[str, Any]) -> dict[str, Any]:
    """The fields that must be equal for results to be reused, as dotted keys (``loaded_from`` is not compared)."""
    flat = {}
    for key, value in record.items():
        if key == "loaded_from":
            continue
        if isinstance(value, Mapping):
            flat.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    return flat


def prepare_results_dir(results_dir: Path, record: Mapping[str, Any], overwrite: bool = False) -> None:
    """Make ``results_dir`` a folder of ``record``'s results, and write the record there before anything is tracked.

    Result files already there are kept for a resume when the folder's record equals ``record`` (but for
    ``loaded_from``); with ``overwrite`` every result file (``*.txt``) there is deleted first. Otherwise
    ``StaleResultsError`` names what differs: results of two checkpoints or two settings are never mixed.
    """
    results_dir = Path(results_dir)
    record = json.loads(json.dumps(record))  # as it reads back: tuples become lists
    existing = sorted(results_dir.glob("*.txt")) if results_dir.is_dir() else []
    if existing and overwrite:
        for path in existing:
            path.unlink()
        logger.info("%s: deleted the %d result files of an earlier run (overwrite)", results_dir, len(existing))
    elif existing:
        what_to_do = ("; to discard them and track again pass --overwrite (overwrite=True in Python), or write to "
                      "another --output or --name")
        old = read_record(results_dir)
        if old is None:
            raise StaleResultsError(f"{results_dir} holds {len(existing)} result files but no {RECORD_FILE} saying "
                                    "what produced them (an older seqtrack-evaluate or another tool)" + what_to_do)
        old, new = _compared(old), _compared(record)
        differences = [f"{key} {old.get(key)!r} there, {new.get(key)!r} now" for key in sorted(old.keys() | new.keys())
                       if old.get(key) != new.get(key)]
        if differences:
            raise StaleResultsError(f"{results_dir} holds results of other weights or settings: "
                                    + ", ".join(differences) + what_to_do)
    write_json_atomic(results_dir / RECORD_FILE, record)


# ---------------------------------------------------------------------------------------------------------------
# tracking


def track_sequence(tracker: Tracker, sequence: AnnotatedSequence, max_frames: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Track one sequence from its first ground-truth box.

    Returns:
        boxes: (n, 4) float64 x,y,w,h pixels, frame 0 is the initial box; n = len(sequence), or max_frames if
            smaller and > 0.
        seconds: (n,) time spent in ``initialize`` (frame 0) and ``track`` (other frames), image reading excluded.
    """
    frames = len(sequence) if max_frames <= 0 else min(len(sequence), max_frames)
    init_box = np.asarray(sequence.boxes[0], dtype=np.float64)
    if not (init_box[2] > 0 and init_box[3] > 0):
        raise ValueError(f"sequence {sequence.name}: the first ground-truth box {init_box.tolist()} has no area, "
                         "so there is nothing to initialise the tracker on; check its groundtruth.txt")
    boxes = np.empty((frames, 4), dtype=np.float64)
    seconds = np.empty(frames, dtype=np.float64)
    for index in range(frames):
        image = read_image(sequence.frame_path(index))
        start = time.perf_counter()
        if index == 0:
            tracker.initialize(image, init_box)
            boxes[0] = init_box
        else:
            boxes[index], _ = tracker.track(image)
        seconds[index] = time.perf_counter() - start
    return boxes, seconds


@dataclass
class TrackingRun:
    """What ``run_tracker_on_sequences`` did: boxes and seconds of the sequences it tracked, names it skipped."""

    predictions: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (n, 4) x,y,w,h pixels
    seconds: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (n,)
    skipped: list[str] = field(default_factory=list)

    @property
    def frames(self) -> int:
        return int(sum(len(s) for s in self.seconds.values()))

    @property
    def fps(self) -> float:
        """Frames per second over the sequences tracked in this run (NaN if none was)."""
        total = float(sum(s.sum() for s in self.seconds.values()))
        return self.frames / total if total > 0 else float("nan")


def _tracker_factory(tracker: torch.nn.Module | Callable[[], Tracker], cfg: Config) -> Callable[[], Tracker]:
    if isinstance(tracker, torch.nn.Module):
        model = tracker
        device = next(model.parameters()).device
        return lambda: SeqTrackTracker(model, cfg, device=device)
    return tracker


def run_tracker_on_sequences(
    tracker: torch.nn.Module | Callable[[], Tracker],
    cfg: Config,
    sequences: Sequence[AnnotatedSequence],
    results_dir: Path,
    max_frames: int = 0,
    *,
    record: Mapping[str, Any],
    overwrite: bool = False,
    report_speed: bool = True,
) -> TrackingRun:
    """Track every sequence whose result file is missing and write ``<name>.txt`` and ``<name>_time.txt``.

    Args:
        tracker: a SeqTrack model (tracked with ``SeqTrackTracker`` on the model's device, fp32), or a callable
            returning a fresh object with ``initialize(frame, box)`` and ``track(frame) -> (box, confidence)``.
        cfg: crops and tracking settings (``data.search``, ``data.template``, ``eval``).
        sequences: the sequences (``seqtrack_accel.data.sequence.Sequence``), each tracked from its first box.
        results_dir: created if missing; sequences with an existing ``<name>.txt`` are skipped (resume).
        max_frames: frames per sequence (0: all).
        record: what produces the results (``results_record``); written, with ``max_frames``, as the folder's
            ``produced_by.json`` before the first sequence is tracked. Results there of another record are an
            error (``StaleResultsError``), never resumed.
        overwrite: delete the results already in ``results_dir`` and track every sequence again.
        report_speed: log each sequence's frames per second; False for a baseline such as ``FirstBoxTracker``,
            whose time per frame is that of a Python call (microseconds), not a tracker's speed.
    """
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    prepare_results_dir(results_dir, {**record, "max_frames": max_frames}, overwrite)
    make_tracker = _tracker_factory(tracker, cfg)
    run = TrackingRun()
    for number, sequence in enumerate(sequences, start=1):
        if results_file(results_dir, sequence.name).exists():
            run.skipped.append(sequence.name)
            logger.info("[%d/%d] %s: result file exists, skipped", number, len(sequences), sequence.name)
            continue
        boxes, seconds = track_sequence(make_tracker(), sequence, max_frames)
        # Times first, boxes last: the box file marks the sequence as done.
        write_times(times_file(results_dir, sequence.name), seconds)
        write_boxes(results_file(results_dir, sequence.name), boxes)
        run.predictions[sequence.name] = boxes
        run.seconds[sequence.name] = seconds
        speed = f", {len(boxes) / max(seconds.sum(), 1e-12):.1f} frames/s" if report_speed else ""
        logger.info("[%d/%d] %s: %d frames%s", number, len(sequences), sequence.name, len(boxes), speed)
    return run


# ---------------------------------------------------------------------------------------------------------------
# scoring


def evaluate_predictions(predictions: Mapping[str, np.ndarray], sequences: Sequence[AnnotatedSequence],
                         max_frames: int = 0, attributes: Mapping[str, Sequence[str]] | None = None) -> dict:
    """Score in-memory predictions ``{name: (n, 4) x,y,w,h}`` of ``sequences`` (see ``metrics.summarize``).

    With ``max_frames > 0`` only the first ``max_frames`` ground-truth frames of each sequence are scored;
    ``attributes`` (sequence name -> attribute names) adds the per-attribute scores.
    """
    results = []
    for sequence in sequences:
        if sequence.name not in predictions:
            raise KeyError(f"sequence {sequence.name}: no predictions; track it first")
        stop = len(sequence) if max_frames <= 0 else min(len(sequence), max_frames)
        errors = sequence_errors(predictions[sequence.name], np.asarray(sequence.boxes[:stop], np.float64),
                                 np.asarray(sequence.visible[:stop], bool), sequence.name)
        results.append(SequenceResult.from_errors(errors, sequence.class_name))
    return summarize(results, attributes)


def read_predictions(results_dir: Path, sequences: Sequence[AnnotatedSequence]) -> dict[str, np.ndarray]:
    """``{name: (n, 4) x,y,w,h}`` from a result folder's ``<sequence>.txt`` files, one per sequence."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise FileNotFoundError(f"result folder {results_dir} does not exist; run the tracker first "
                                "(seqtrack-evaluate --checkpoint ...) or check the --results path")
    predictions = {}
    for sequence in sequences:
        path = results_file(results_dir, sequence.name)
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: sequence {sequence.name} has no results in {results_dir}; "
                                    "track it (seqtrack-evaluate --checkpoint ... resumes) or leave its class out "
                                    "with --classes")
        predictions[sequence.name] = read_boxes(path, frames=len(sequence))
    return predictions


def evaluate_results(results_dir: Path, sequences: Sequence[AnnotatedSequence], max_frames: int = 0,
                     attributes: Mapping[str, Sequence[str]] | None = None) -> dict:
    """Score a result folder (this package's or any tool's ``<sequence>.txt`` files).

    Returns ``{"overall", "per_class", "per_sequence"}`` (scores x100, see ``metrics.summarize``) plus
    ``"speed"`` (frames, seconds, fps) when every sequence has a ``<sequence>_time.txt``, and ``"produced_by"``
    (the folder's ``produced_by.json``) when it has one.
    """
    results_dir = Path(results_dir)
    predictions = read_predictions(results_dir, sequences)
    try:
        summary = evaluate_predictions(predictions, sequences, max_frames, attributes)
    except MetricsError as e:  # the message names the sequence; several folders may be scored together
        raise MetricsError(f"{results_dir}: {e}") from e
    time_paths = [times_file(results_dir, s.name) for s in sequences]
    if all(p.is_file() for p in time_paths):
        seconds = np.concatenate([read_times(p, frames=len(s)) for p, s in zip(time_paths, sequences)])
        total = float(seconds.sum())
        summary["speed"] = {"frames": int(seconds.size), "seconds": total,
                            "fps": seconds.size / total if total > 0 else None}
    record = read_record(results_dir)
    if record is not None:
        summary["produced_by"] = record
    return summary


def validate(model: torch.nn.Module, cfg: Config, sequences: Sequence[AnnotatedSequence] | None = None,
             max_frames: int | None = None) -> dict[str, float]:
    """Track ``sequences`` in memory with ``model`` (unwrapped, on its device, fp32) and score them.

    Used during training: ``sequences`` defaults to ``evaluation_sequences(cfg, cfg.eval.validate_sequences)`` and
    ``max_frames`` to ``cfg.eval.max_frames``. The model's train/eval mode is restored afterwards.
    Returns ``auc``, ``op50``, ``op75``, ``precision``, ``norm_precision`` (x100) and ``fps``.
    """
    if sequences is None:
        sequences = evaluation_sequences(cfg, cfg.eval.validate_sequences)
    max_frames = cfg.eval.max_frames if max_frames is None else max_frames
    was_training = model.training
    device = next(model.parameters()).device
    predictions, frames, seconds = {}, 0, 0.0
    try:
        for sequence in sequences:
            boxes, times = track_sequence(SeqTrackTracker(model, cfg, device=device), sequence, max_frames)
            predictions[sequence.name] = boxes
            frames += len(times)
            seconds += float(times.sum())
    finally:
        model.train(was_training)
    overall = evaluate_predictions(predictions, sequences, max_frames)["overall"]
    return {**{k: overall[k] for k in SCORE_KEYS}, "fps": frames / seconds if seconds > 0 else float("nan")}


# ---------------------------------------------------------------------------------------------------------------
# reports


def write_summary(out_dir: Path, trackers: Mapping[str, dict], extra: Mapping[str, Any] | None = None,
                  plots: bool = True) -> dict[str, Path]:
    """Write ``summary.json``, ``per_sequence.csv`` and (``plots``) the three PNG plots of ``trackers``.

    Args:
        trackers: ``{tracker name: evaluate_results(...) output}``.
        extra: added to the JSON (device, versions, config, ...).
    Returns the written paths by kind.
    """
    out_dir = Path(out_dir)
    document = {"format_version": SUMMARY_FORMAT_VERSION, **(extra or {}), "trackers": dict(trackers)}
    write_text_atomic(out_dir / "summary.json", json.dumps(document, indent=1) + "\n")
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["tracker", "sequence", "class", "frames", *SCORE_KEYS])
    for tracker_name, summary in trackers.items():
        for name, row in summary["per_sequence"].items():
            writer.writerow([tracker_name, name, row["class"], row["frames"], *(f"{row[k]:.4f}" for k in SCORE_KEYS)])
    write_text_atomic(out_dir / "per_sequence.csv", text.getvalue())
    paths = {"summary": out_dir / "summary.json", "per_sequence": out_dir / "per_sequence.csv"}
    if plots:
        overall = {name: summary["overall"] for name, summary in trackers.items()}
        success, precision, norm_precision = save_plots(overall, out_dir)
        paths.update(success=success, precision=precision, norm_precision=norm_precision)
    return paths


def format_table(trackers: Mapping[str, dict]) -> str:
    """A plain-text table of the overall, per-class and per-attribute scores of each tracker."""
    rows = [(tracker_name, subset, scores) for tracker_name, summary in trackers.items()
            for subset, scores in [("all", summary["overall"]), *summary["per_class"].items(),
                                   *summary.get("per_attribute", {}).items()]]
    width = max([12, *(len(subset) for _, subset, _ in rows)])
    header = f"{'tracker':<16} {'subset':<{width}} {'seqs':>4} " + " ".join(f"{k:>14}" for k in SCORE_KEYS)
    lines = [header, "-" * len(header)]
    for tracker_name, subset, scores in rows:
        lines.append(f"{tracker_name:<16} {subset:<{width}} {scores['sequences']:>4} "
                     + " ".join(f"{scores[k]:>14.2f}" for k in SCORE_KEYS))
    return "\n".join(lines)


def read_summary(path: Path) -> dict:
    """The ``summary.json`` at ``path`` (``write_summary``'s); ValueError naming the file when it is not one."""
    path = Path(path)
    try:
        document = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not JSON ({e}): give a summary.json written by seqtrack-evaluate") from None
    trackers = document.get("trackers") if isinstance(document, dict) else None
    if not isinstance(trackers, dict) or not trackers:
        raise ValueError(f"{path} names no trackers: give a summary.json written by seqtrack-evaluate")
    if document.get("format_version", 0) > SUMMARY_FORMAT_VERSION:
        raise ValueError(f"{path} has format_version {document['format_version']}; this seqtrack-accel reads up to "
                         f"{SUMMARY_FORMAT_VERSION}: upgrade seqtrack-accel")
    for name, summary in trackers.items():
        if not isinstance(summary, dict) or not {"overall", "per_sequence"} <= summary.keys():
            raise ValueError(f"{path}: tracker {name!r} has no overall and per-sequence scores; write the file again "
                             "with seqtrack-evaluate")
    return document


def per_sequence_table(trackers: Mapping[str, dict], keys: Sequence[str] = ("auc", "precision")
                       ) -> tuple[list[str], list[list]]:
    """The per-sequence ``keys`` scores of several trackers side by side: (header, rows).

    One row per sequence, in the first tracker's order and then those only later trackers have: sequence, class,
    frames, then each tracker's scores (x100, 2 decimals); None where a tracker has no result for the sequence.
    """
    names = list(dict.fromkeys(name for summary in trackers.values() for name in summary["per_sequence"]))
    header = ["sequence", "class", "frames", *(f"{tracker} {key}" for tracker in trackers for key in keys)]
    rows = []
    for name in names:
        known = next(s["per_sequence"][name] for s in trackers.values() if name in s["per_sequence"])
        scores = [round(s["per_sequence"][name][key], 2) if name in s["per_sequence"] else None
                  for s in trackers.values() for key in keys]
        rows.append([name, known["class"], known["frames"], *scores])
    return header, rows
