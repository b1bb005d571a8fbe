"""Evaluation protocols, the benchmarks ``seqtrack-evaluate --dataset NAME`` runs, and one evaluation (``evaluate``).

A benchmark is a dataset kind and split of the registry (``seqtrack_accel.data.sources.KINDS``: where its data is,
how it is read) with its protocol, the original SeqTrack's template update on it and its entry on a model card.
Without ``--dataset`` the config's evaluation source (``eval.dataset``, else the held-out split of the first
training source) is evaluated the same way, one-pass, never published.

    evaluation = evaluation_set(cfg, BENCHMARKS["uav123"], root="/data/UAV123")     # sequences, protocol, ...
    outcome = evaluate(evaluation, [TrackerRun("first-box", FirstBoxTracker, results_record("first-box", {}),
                                               report_speed=False)], {}, Path("out"), cfg)
    outcome.tables          # printed by seqtrack-evaluate; outcome.paths: summary.json, per_sequence.csv, plots

Protocols (each an object: an evaluation dispatches on the benchmark's, not on its name):
- ``ONE_PASS``: one-pass evaluation, AUC / precision / normalised precision as the LaSOT toolkit computes them
  (``seqtrack_accel.tracking.metrics``), per class where the dataset has classes and per attribute where it has them;
- ``GOT10K``: GOT-10k's AO, SR0.50, SR0.75 (``seqtrack_accel.tracking.got10k_metrics``), with the one-pass scores
  beside them;
- ``ServerArchive``: no ground truth beyond the first frame; the results are packed into the evaluation server's
  archive (``seqtrack_accel.tracking.submission``).

Template update (``eval.template_update_interval`` / ``eval.template_update_threshold``): the original looks the
benchmark's name up in ``cfg.TEST.UPDATE_INTERVALS`` of ``lib/config/seqtrack/config.py`` (LASOT 450,
LASOT_EXTENSION_SUBSET 9999, GOT10K_TEST 1, TRACKINGNET 25, TNL2K 25, OTB, NFS and UAV 9999, DEFAULT 9999) and uses
``UPDATE_THRESHOLD.DEFAULT`` 0.6 for all of them. GOT-10k val takes the test split's interval 1 here (the original
would fall back to DEFAULT for the name ``got10k_val``): val is where a GOT-10k test submission is rehearsed, so it
runs the tracker the submission runs. An ``eval.template_update_interval=...`` override on the command line wins.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import huggingface_hub

from ..config import Config, SourceConfig
from ..data.benchmarks import (lasot_ext_test_set, nfs_test_set, otb100_test_set, some_names, uav123_attributes,
                               uav123_test_set)
from ..data.custom import natural_key
from ..data.lasot import protocol_test_sequences
from ..data.sequence import Sequence
from ..data.sources import KINDS, evaluation_source, load_source, named, resolve_root
from ..hub.address import is_address, parse_address
from .evaluate import Tracker, evaluate_results, format_table, read_predictions, run_tracker_on_sequences, write_summary
from .got10k_metrics import got10k_scores
from .submission import check_submission, write_submission

UPDATE_THRESHOLD = 0.6  # the original's UPDATE_THRESHOLD.DEFAULT
NEVER = 9999  # the original's UPDATE_INTERVALS.DEFAULT: no update within a benchmark sequence


# ---------------------------------------------------------------------------------------------------------------
# protocols


@dataclass(frozen=True)
class Outcome:
    """What an evaluation produced.

    Attributes:
        trackers: tracker name -> its scores (``evaluate_results``; empty for a server protocol).
        paths: the files written by kind (``summary``, ``per_sequence``, the plots; a server protocol: none).
        tables: the plain-text tables of the scores, to print.
        submissions: a server protocol's archives, one record each (archive, tracker, sequences, frames, server).
        tracked: tracker name -> what this run tracked of it (``tracked_frames``, ``skipped_sequences``).
    """

    trackers: dict[str, dict] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)
    tables: list[str] = field(default_factory=list)
    submissions: list[dict] = field(default_factory=list)
    tracked: dict[str, dict] = field(default_factory=dict)


class OnePass:
    """One-pass evaluation: every result folder scored against the ground truth, one summary of them all."""

    writes_summary: ClassVar[bool] = True  # the scores go to summary.json (and so to a model card)
    whole_sequences: ClassVar[bool] = False  # True: --max_frames is refused

    def score(self, folder: Path, sequences: list[Sequence], attributes: dict | None, max_frames: int) -> dict:
        return evaluate_results(folder, sequences, max_frames, attributes)

    def tables(self, trackers: Mapping[str, dict]) -> list[str]:
        return [format_table(trackers)]

    def finish(self, evaluation: EvaluationSet, folders: Mapping[str, Path], output: Path, *, max_frames: int,
               plots: bool, extra: Mapping[str, Any], no_speed: Collection[str]) -> Outcome:
        """Score every folder, write ``summary.json``, ``per_sequence.csv`` and the plots to ``output``.
        ``no_speed``: trackers whose time per frame is no tracker's speed (a baseline's Python call)."""
        trackers = {name: self.score(folder, evaluation.sequences, evaluation.attributes, max_frames)
                    for name, folder in folders.items()}
        for name in no_speed:
            trackers[name].pop("speed", None)
        paths = write_summary(output, trackers, extra, plots=plots)
        return Outcome(trackers, paths, self.tables(trackers))


class GOT10kProtocol(OnePass):
    """GOT-10k's AO and SR (the GOT-10k toolkit's rules) beside the one-pass scores."""

    def score(self, folder: Path, sequences: list[Sequence], attributes: dict | None, max_frames: int) -> dict:
        summary = super().score(folder, sequences, attributes, max_frames)
        predictions = read_predictions(folder, sequences)
        if max_frames:  # the first frames only, as the one-pass scores
            sequences = [dataclasses.replace(s, boxes=s.boxes[:max_frames], visible=s.visible[:max_frames])
                         for s in sequences]
        summary["got10k"] = got10k_scores(predictions, sequences)
        return summary

    def tables(self, trackers: Mapping[str, dict]) -> list[str]:
        header = f"{'tracker':<16} {'seqs':>4} {'AO':>8} {'SR0.50':>8} {'SR0.75':>8}"
        lines = [header, "-" * len(header)]
        for name, summary in trackers.items():
            scores = summary["got10k"]["overall"]
            lines.append(f"{name:<16} {scores['sequences']:>4} {scores['ao']:>8.2f} {scores['sr50']:>8.2f} "
                         f"{scores['sr75']:>8.2f}")
        return [*super().tables(trackers), "\n".join(lines)]


@dataclass(frozen=True)
class ServerArchive:
    """No public ground truth: each result folder is packed into the evaluation server's archive and checked.

    Attributes:
        server: where the archive is submitted.
    """

    server: str
    writes_summary: ClassVar[bool] = False
    whole_sequences: ClassVar[bool] = True  # the server scores every frame

    def finish(self, evaluation: EvaluationSet, folders: Mapping[str, Path], output: Path, **_) -> Outcome:
        """``OUTPUT/<tracker>_<benchmark>_submission.zip`` of each folder."""
        name = evaluation.benchmark.name
        submissions = []
        for tracker, folder in folders.items():
            archive = output / f"{tracker}_{name}_submission.zip"
            write_submission(folder, evaluation.sequences, archive, name)
            checked = check_submission(archive, evaluation.sequences, name)
            submissions.append({"submission": str(archive), "tracker": tracker, "dataset": name,
                                "sequences": checked["sequences"], "frames": checked["frames"],
                                "files": checked["files"], "server": self.server})
        return Outcome(submissions=submissions)


ONE_PASS = OnePass()
GOT10K = GOT10kProtocol()
Protocol = OnePass | ServerArchive


# ---------------------------------------------------------------------------------------------------------------
# the benchmarks


@dataclass(frozen=True)
class Benchmark:
    """One benchmark's test set.

    Attributes:
        name: what ``--dataset`` takes.
        title: as papers name it.
        kind, split: the dataset kind (``seqtrack_accel.data.sources.KINDS``: its root's variable, layout, reader)
            and the split evaluated.
        protocol: how it is scored.
        update_interval, update_threshold: the original's template update on this benchmark.
        labels: root -> {sequence: attribute names}, for a benchmark that labels its sequences.
        test_set: class -> the names of its test sequences, for a benchmark whose set is fixed (a table, LaSOT's
            protocol split, LaSOT_ext's 15 x 10); None where the root's own list is the set (TNL2K, GOT-10k,
            TrackingNet), which is then taken as complete.
        public: a public benchmark, whose scores a model card lists (not your own sequences).
    """

    name: str
    title: str
    kind: str
    split: str
    protocol: Protocol
    update_interval: int
    update_threshold: float = UPDATE_THRESHOLD
    labels: Callable[[Path], dict[str, tuple[str, ...]]] | None = None
    test_set: Callable[[], Mapping[str, Collection[str]]] | None = None
    public: bool = True

    def source(self, root: str | os.PathLike | None = None, classes: Iterable[str] | None = None) -> SourceConfig:
        """The benchmark as a data source: at ``root`` (else its kind's environment variable), of ``classes``."""
        return SourceConfig(self.kind, root=os.fspath(root or ""), split=self.split,
                            classes=tuple(classes) if classes else None)

    def load(self, root: str | os.PathLike | None = None, classes: Iterable[str] | None = None) -> list[Sequence]:
        """Its sequences at ``root`` (``--root``; else its kind's environment variable)."""
        return load_source(self.source(root, classes), f"--dataset {self.name}", "--root")

    def resolved_root(self, root: str | os.PathLike | None = None) -> Path:
        """Its root: ``root`` (``--root``), else its kind's environment variable (``resolve_root``)."""
        return resolve_root(self.source(root), f"--dataset {self.name}", "--root")

    def attributes(self, root: Path) -> dict[str, tuple[str, ...]] | None:
        """Sequence name -> its attribute names, for benchmarks that label them (None for the others)."""
        return self.labels(root) if self.labels is not None else None

    def part_scored(self, scored: Iterable[str], classes: Collection[str] | None = None) -> dict | None:
        """What the sequences ``scored`` (names) lack of the benchmark's test set: None when they are all of it (or the
        set is not fixed), else summary.json's ``partial``: ``{"sequences": how many are scored, "of": how many the
        set holds, "missing": names not scored, "left_out": names of classes not in ``classes`` (None: all classes),
        "not_in_benchmark": scored names outside the set}``."""
        if self.test_set is None:
            return None
        expected = {name: class_name for class_name, names in self.test_set().items() for name in names}
        scored = set(scored)
        left_out = {n for n, c in expected.items() if classes is not None and c not in classes and n not in scored}
        missing = set(expected) - scored - left_out
        others = scored - set(expected)
        if not (missing or left_out or others):
            return None
        return {"sequences": len(scored), "of": len(expected), **{key: sorted(names, key=natural_key) for key, names in
                (("missing", missing), ("left_out", left_out), ("not_in_benchmark", others))}}

    def overrides(self) -> list[str]:
        """The config overrides that set this benchmark's tracker settings."""
        return [f"eval.template_update_interval={self.update_interval}",
                f"eval.template_update_threshold={self.update_threshold}"]


BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in (
    Benchmark("lasot", "LaSOT", "lasot", "test", ONE_PASS, 450, test_set=protocol_test_sequences),
    Benchmark("lasot_ext", "LaSOT_ext", "lasot_ext", "test", ONE_PASS, NEVER, test_set=lasot_ext_test_set),
    Benchmark("got10k_val", "GOT-10k val", "got10k", "val", GOT10K, 1),
    Benchmark("got10k_test", "GOT-10k test", "got10k", "test", ServerArchive("http://got-10k.aitestunion.com (Submit)"),
              1),
    Benchmark("trackingnet", "TrackingNet test", "trackingnet", "test",
              ServerArchive("https://tracking-net.org (its evaluation server on EvalAI)"), 25),
    Benchmark("tnl2k", "TNL2K", "tnl2k", "test", ONE_PASS, 25),
    Benchmark("uav123", "UAV123", "uav123", "test", ONE_PASS, NEVER, labels=uav123_attributes,
              test_set=uav123_test_set),
    Benchmark("otb100", "OTB100", "otb100", "test", ONE_PASS, NEVER, test_set=otb100_test_set),
    Benchmark("nfs", "NFS (30 fps)", "nfs", "test", ONE_PASS, NEVER, test_set=nfs_test_set),
    # Your own sequences (a custom folder, every sequence of it): as LaSOT is scored, with the default template update
    # of the original's other benchmarks.
    Benchmark("custom", "your sequences", "custom", "all", ONE_PASS, NEVER, public=False),
    # The procedural source's test split (objects of looks no training clip has), as written at --root: scored as
    # your own sequences are.
    Benchmark("procedural", "procedural clips test", "procedural", "test", ONE_PASS, NEVER, public=False),
)}


def get_benchmark(name: str) -> Benchmark:
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise ValueError(f"unknown benchmark {name!r}; --dataset takes one of {', '.join(BENCHMARKS)}") from None


# ---------------------------------------------------------------------------------------------------------------
# one evaluation


@dataclass(frozen=True)
class EvaluationSet:
    """What an evaluation tracks and how it scores it.

    Attributes:
        name: ``--dataset``'s benchmark name, ``config`` for the config's evaluation source (summary.json's
            ``dataset``).
        title: as the header names it: ``UAV123``, ``LaSOT test (the config's evaluation source)``.
        sequences: the sequences present under the root, of the chosen classes.
        root: where they are.
        protocol: how they are scored.
        benchmark: the named benchmark, None for the config's evaluation source.
        attributes: sequence -> attribute names, where the benchmark labels them.
        partial: what the sequences lack of the benchmark's test set (``Benchmark.part_scored``), None when whole.
    """

    name: str
    title: str
    sequences: list[Sequence]
    root: Path
    protocol: Protocol = ONE_PASS
    benchmark: Benchmark | None = None
    attributes: dict[str, tuple[str, ...]] | None = None
    partial: dict | None = None

    def partial_text(self) -> str:
        """``37 of the 100 sequences of NFS are scored (63 missing under ROOT: a, b, c, d, e and 58 more)``."""
        parts = [f"{len(names)} {what}" + (f": {some_names(names)}" if key == "missing" else "")
                 for key, what in (("missing", f"missing under {self.root}"), ("left_out", "of classes not chosen"),
                                   ("not_in_benchmark", "not in its test set"))
                 if (names := self.partial[key])]
        return f"{self.partial['sequences']} of the {self.partial['of']} sequences of {self.title} are scored " \
               f"({'; '.join(parts)})"


def evaluation_set(cfg: Config, benchmark: Benchmark | None = None, root: str | os.PathLike | None = None,
                   classes: Iterable[str] | None = None, sequences: Iterable[str] = ()) -> EvaluationSet:
    """The sequences to evaluate: ``benchmark``'s at ``root`` (else its kind's environment variable), or without a
    benchmark the config's evaluation source, whose root ``root`` replaces (the folder is read as it is, all its
    classes: no synthetic generator and no class list of the config apply to a root given here); of ``classes`` where
    given, and only those named in ``sequences`` where given (one tracked video scored against its ground truth)."""
    classes, names = tuple(classes) if classes else None, list(sequences)
    if benchmark is None:
        source, key = evaluation_source(cfg)
        if root:  # another folder: read as it is, every class of it (the config's classes are those of its own data)
            source = dataclasses.replace(source, root=os.fspath(root), synthetic=None, classes=None)
        if classes:
            source = dataclasses.replace(source, classes=classes)
        root_key = "--root" if root else None
        found = resolve_root(source, key, root_key)
        title = f"{KINDS[source.name].title} {source.split} (the config's evaluation source, {key})"
        chosen = named(load_source(source, key, root_key), names, f"{title} at {found}; check --sequences")
        return EvaluationSet("config", title, chosen, found)
    found = benchmark.resolved_root(root)
    sequences = named(benchmark.load(root, classes), names, f"{benchmark.title} at {found}; check --sequences")
    return EvaluationSet(benchmark.name, benchmark.title, sequences, found, benchmark.protocol, benchmark,
                         benchmark.attributes(found), benchmark.part_scored((s.name for s in sequences), classes))


def card_repo(checkpoint: str | None, push_to_hub: str | None, no_push: bool = False) -> str | None:
    """The model repo whose card gets the scores of ``checkpoint``: ``push_to_hub``, else the repo of an
    ``hf://ORG/NAME[@REVISION]`` checkpoint when a Hub token is set, unless ``no_push``; None for none."""
    if push_to_hub:
        return push_to_hub
    if no_push or not is_address(checkpoint) or huggingface_hub.get_token() is None:
        return None
    return parse_address(checkpoint).repo_id


def card_target(evaluation: EvaluationSet, repo: str | None, explicit: bool) -> tuple[str | None, list[str]]:
    """Where ``evaluation``'s scores are published (``repo``, from ``card_repo``, or None) and the warnings to show.

    Scores of part of a benchmark are published nowhere: an error when the push was asked for (``explicit``:
    ``--push_to_hub``), a warning otherwise; nor are those of the config's evaluation source, which is no named
    public benchmark (a warning), nor your own sequences' (a warning), nor a server protocol's, which has no scores
    here.
    """
    warnings = []
    if evaluation.partial:
        if explicit:
            raise ValueError(f"--push_to_hub publishes the scores of {evaluation.title}, but only "
                             f"{evaluation.partial_text()}; score the whole benchmark to publish them, or drop "
                             "--push_to_hub")
        warnings.append(f"{evaluation.partial_text()}: summary.json marks these scores partial, and they are not "
                        "published to a model card")
        return None, warnings
    if repo and (evaluation.benchmark is None or not evaluation.benchmark.public):
        datasets = ", ".join(name for name, b in BENCHMARKS.items() if b.protocol.writes_summary and b.public)
        warnings.append(f"the scores were not added to the model card of {repo}: the card lists a named "
                        f"benchmark's scores; evaluate with --dataset (one of {datasets}) to add them")
        return None, warnings
    return (repo if evaluation.protocol.writes_summary else None), warnings


@dataclass(frozen=True)
class TrackerRun:
    """A tracker an evaluation runs.

    Attributes:
        name: its result folder's name under the output folder, and its name in the summary.
        make: returns a fresh tracker for each sequence.
        record: what produces its results (``results_record``), kept in its folder's ``produced_by.json``.
        report_speed: False for a baseline, whose time per frame is that of a Python call, not a tracker's speed.
    """

    name: str
    make: Callable[[], Tracker]
    record: Mapping[str, Any]
    report_speed: bool = True


def result_folders(output: Path, runs: Iterable[TrackerRun], results: Iterable[str | os.PathLike],
                   names: Iterable[str] = ()) -> dict[str, Path]:
    """Tracker name -> result folder: ``output/<name>`` of each tracker run here, then each of ``results`` (other
    tools' folders) named by ``names`` or by its folder's name. A name used twice is an error."""
    runs, results, names = list(runs), [Path(r) for r in results], list(names)
    folders = {run.name: output / run.name for run in runs}
    given = names or [folder.resolve().name for folder in results]
    folders.update(zip(given, results))
    if len(folders) < len(runs) + len(results):
        raise ValueError(f"a tracker name is used twice in {[run.name for run in runs] + given}; give distinct "
                         "--name / --names")
    return folders


def evaluate(evaluation: EvaluationSet, runs: Iterable[TrackerRun], folders: Mapping[str, Path], output: Path,
             cfg: Config, *, max_frames: int = 0, overwrite: bool = False, plots: bool = True,
             extra: Mapping[str, Any] | None = None) -> Outcome:
    """Track ``evaluation``'s sequences with each of ``runs`` (resuming over results of the same record), then
    finish by its protocol over every folder of ``folders`` (``result_folders``): scores, summary and plots in
    ``output``, or the server's archives.

    Args:
        cfg: the crops and tracker settings.
        max_frames: frames tracked and scored per sequence (0: all); refused by a protocol of whole sequences.
        overwrite: track every sequence again over results of other weights or settings.
        plots: write the PNG plots.
        extra: added to summary.json (device, versions, config, ...).
    """
    runs = list(runs)
    if max_frames and evaluation.protocol.whole_sequences:
        raise ValueError(f"{evaluation.title} takes whole sequences: its server scores every frame; drop --max_frames")
    tracked = {}
    for run in runs:
        done = run_tracker_on_sequences(run.make, cfg, evaluation.sequences, folders[run.name], max_frames,
                                        record=run.record, overwrite=overwrite, report_speed=run.report_speed)
        tracked[run.name] = {"tracked_frames": done.frames, "skipped_sequences": len(done.skipped)}
    extra = {"dataset": evaluation.name, "benchmark": evaluation.title, "partial": evaluation.partial,
             **(extra or {}), "max_frames": max_frames, "result_folders": {n: str(f) for n, f in folders.items()}}
    outcome = evaluation.protocol.finish(evaluation, folders, output, max_frames=max_frames, plots=plots,
                                         extra=extra, no_speed=[run.name for run in runs if not run.report_speed])
    return dataclasses.replace(outcome, tracked=tracked)


def speed_line(outcome: Outcome, name: str, **context) -> str:
    """One JSON line of a tracker's speed over every frame of its result folder (so a resumed run still reports its
    whole speed), with what this run tracked and ``context`` (device, dtype, versions, config)."""
    speed = outcome.trackers[name].get("speed", {})
    return json.dumps({"metric": "tracking_speed", "tracker": name, "dataset": context.pop("dataset", None),
                       "fps": speed.get("fps"), "frames": speed.get("frames"), "seconds": speed.get("seconds"),
                       **outcome.tracked[name], **context}, allow_nan=False)
