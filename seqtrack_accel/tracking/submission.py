"""Evaluation-server archives of the benchmarks without public ground truth: GOT-10k test and TrackingNet test.

From a result folder of this package (``<seq>.txt``: one ``x,y,w,h`` line per frame, ``<seq>_time.txt``: seconds per
frame; ``evaluate.run_tracker_on_sequences`` writes them), the zip the server takes:

- ``got10k_test``: ``<seq>/<seq>_001.txt`` (the boxes, ``%.3f`` comma separated, one line per frame) and
  ``<seq>/<seq>_time.txt`` (seconds per frame, ``%.8f``), with a ``<seq>/`` folder entry: what got-10k/toolkit's
  ``ExperimentGOT10k._record`` writes (``np.savetxt(record_file, boxes, fmt='%.3f', delimiter=',')`` and
  ``np.savetxt(time_file, times, fmt='%.8f', delimiter=',')``, ``got10k/experiments/got10k.py``, commit 956e728) and
  ``report`` zips with ``shutil.make_archive`` from the tracker's result folder. ``_001`` is the first repetition;
  a deterministic tracker runs once. The server splits box lines on commas (its answer in got-10k/toolkit issue
  #21: a file separated by spaces failed).
- ``trackingnet``: ``<seq>.txt`` per sequence at the archive's root, ``%.2f`` comma separated, as pytracking's
  ``pytracking/util_scripts/pack_trackingnet_results.py`` writes it; TrackingNet's server (TrackingNet-devkit
  ``metrics.py``) reads each file with ``pd.read_csv(sep=",")`` and rounds the values to whole pixels.

Every sequence of the split needs a result with exactly its number of frames (the servers score every frame);
the archive is written to a temporary file and renamed, so it exists only when complete.

    path, manifest = write_submission("output/evaluation/b256/got10k_test/SeqTrack", load_got10k(root, split="test"),
                                      "output/SeqTrack_got10k_test.zip", "got10k_test")
    check_submission(path, sequences, "got10k_test")
"""

from __future__ import annotations

import math
import os
import zipfile
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from ..data.sequence import Sequence
from ..files import atomic_write
from .evaluate import read_boxes, read_record, read_times, results_file, times_file

BENCHMARKS = ("got10k_test", "trackingnet")
_DECIMALS = {"got10k_test": 3, "trackingnet": 2}  # of the box files: the toolkit's %.3f, pytracking's %.2f
# A fixed timestamp: the same results give the same archive bytes.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_LISTED = 10  # names listed in an error about many sequences


class SubmissionError(ValueError):
    """A result folder or an archive does not make a valid submission; the message names the sequence or entry."""


def write_submission(results_dir: str | os.PathLike, sequences: Iterable[Sequence], zip_path: str | os.PathLike,
                     benchmark: str) -> tuple[Path, dict]:
    """Pack the results of ``sequences`` in ``results_dir`` into the evaluation server's zip at ``zip_path``.

    Args:
        results_dir: a result folder with ``<seq>.txt`` (and, for GOT-10k, ``<seq>_time.txt``) per sequence.
        sequences: every sequence of the split (``load_got10k(root, split="test")``,
            ``load_trackingnet(root, split="test")``); their lengths are the frames each result must have.
        zip_path: the archive to write (replaced if it exists).
        benchmark: ``got10k_test`` or ``trackingnet``.
    Returns:
        The archive's path and a manifest: benchmark, archive, results_dir, sequences, frames, files (entries, folder
        entries included) and produced_by (the folder's ``produced_by.json``, None without one).
    Raises:
        SubmissionError: an unknown benchmark, no sequences, a sequence listed twice, or sequences whose result file
            is missing or has another number of lines than frames (all of them named); nothing is written then.
        ValueError: a result file has a malformed line (the message names the file and line).
    """
    _check_benchmark(benchmark)
    sequences = _unique(sequences)
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise SubmissionError(f"result folder {results_dir} does not exist; track the {benchmark} sequences first "
                              "(seqtrack-evaluate --checkpoint ... --dataset " + benchmark + ")")
    entries = _entries(results_dir, sequences, benchmark)

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, text in entries:
                info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
                if name.endswith("/"):
                    info.external_attr = 0o40755 << 16 | 0x10  # a folder, as shutil.make_archive writes it
                    archive.writestr(info, "")
                else:
                    info.external_attr = 0o644 << 16
                    archive.writestr(info, text, compress_type=zipfile.ZIP_DEFLATED)

    path = atomic_write(zip_path, write)
    manifest = {"benchmark": benchmark, "archive": str(path), "results_dir": str(results_dir),
                "sequences": len(sequences), "frames": int(sum(len(s) for s in sequences)), "files": len(entries),
                "produced_by": read_record(results_dir)}
    return path, manifest


def _entries(results_dir: Path, sequences: list[Sequence], benchmark: str) -> list[tuple[str, str]]:
    """(archive name, text) of every entry, after checking every sequence's result files."""
    entries, problems = [], []
    for sequence in sequences:
        name, frames = sequence.name, len(sequence)
        box_path, time_path = results_file(results_dir, name), times_file(results_dir, name)
        needed = [box_path, time_path] if benchmark == "got10k_test" else [box_path]
        missing = [p.name for p in needed if not p.is_file()]
        if missing:
            problems.append(f"{name} ({' and '.join(missing)} missing)")
            continue
        boxes = read_boxes(box_path)
        seconds = read_times(time_path) if benchmark == "got10k_test" else None
        short = [f"{p.name} has {len(v)} lines" for p, v in ((box_path, boxes), (time_path, seconds))
                 if v is not None and len(v) != frames]
        if short:
            problems.append(f"{name} ({', '.join(short)} for {frames} frames)")
            continue
        box_text = "".join(",".join(f"{v:.{_DECIMALS[benchmark]}f}" for v in row) + "\n" for row in boxes.tolist())
        if benchmark == "got10k_test":
            entries += [(f"{name}/", ""), (f"{name}/{name}_001.txt", box_text),
                        (f"{name}/{name}_time.txt", "".join(f"{s:.8f}\n" for s in seconds.tolist()))]
        else:
            entries.append((f"{name}.txt", box_text))
    if problems:
        listed = "; ".join(problems[:_LISTED]) + (f"; and {len(problems) - _LISTED} more" if len(problems) > _LISTED
                                                  else "")
        raise SubmissionError(
            f"{results_dir}: {len(problems)} of the {len(sequences)} {benchmark} sequences have no complete result: "
            f"{listed}. The server scores every frame of every sequence: track them (seqtrack-evaluate resumes the "
            "missing ones; delete an incomplete or --max_frames result file first), then pack again")
    return entries


def check_submission(zip_path: str | os.PathLike, sequences: Iterable[Sequence], benchmark: str) -> dict:
    """Check an archive's layout file by file: the entry names, one line per frame, 4 finite comma-separated
    numbers per box line (GOT-10k: one finite number >= 0 per time line).

    Returns:
        ``{"benchmark", "sequences", "frames", "files"}`` of the archive.
    Raises:
        SubmissionError: not a zip, an entry missing or unexpected, or a file with another number of lines than
            frames or a malformed line (the message names the entry and line).
    """
    _check_benchmark(benchmark)
    sequences = _unique(sequences)
    zip_path = Path(zip_path)
    expected, folders = {}, set()
    for sequence in sequences:
        name = sequence.name
        if benchmark == "got10k_test":
            folders.add(f"{name}/")
            expected[f"{name}/{name}_001.txt"] = (len(sequence), 4)
            expected[f"{name}/{name}_time.txt"] = (len(sequence), 1)
        else:
            expected[f"{name}.txt"] = (len(sequence), 4)
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, FileNotFoundError) as e:
        raise SubmissionError(f"{zip_path} is not a readable zip archive ({e}); write it again "
                              "(write_submission)") from None
    with archive:
        names = archive.namelist()
        files = [n for n in names if not n.endswith("/")]
        unexpected = sorted(set(files) - expected.keys()) + sorted({n for n in names if n.endswith("/")} - folders)
        if unexpected:
            raise SubmissionError(f"{zip_path}: unexpected entries {unexpected[:_LISTED]}; a {benchmark} submission "
                                  "holds only the result files of the split's sequences")
        present = set(files)
        missing = [n for n in expected if n not in present]
        if missing:
            raise SubmissionError(f"{zip_path}: {len(missing)} entries missing, e.g. {missing[:_LISTED]}; pack the "
                                  "results again (write_submission)")
        if len(files) != len(set(files)):
            raise SubmissionError(f"{zip_path}: entries appear twice; pack the results again (write_submission)")
        for entry, (frames, columns) in expected.items():
            _check_lines(zip_path, entry, archive.read(entry).decode(), frames, columns)
    return {"benchmark": benchmark, "sequences": len(sequences), "frames": int(sum(len(s) for s in sequences)),
            "files": len(names)}


def _check_lines(zip_path: Path, entry: str, text: str, frames: int, columns: int) -> None:
    lines = text.splitlines()
    if len(lines) != frames:
        raise SubmissionError(f"{zip_path}: {entry} has {len(lines)} lines for the sequence's {frames} frames")
    for number, line in enumerate(lines, start=1):
        fields = line.split(",")
        try:
            values = [float(v) for v in fields] if len(fields) == columns else None
        except ValueError:
            values = None
        if values is None or not all(math.isfinite(v) for v in values) or (columns == 1 and values[0] < 0):
            what = "x,y,w,h: 4 finite numbers separated by commas" if columns == 4 else "seconds: a number >= 0"
            raise SubmissionError(f"{zip_path}: {entry} line {number}: expected {what}, got {line!r}")


def _check_benchmark(benchmark: str) -> None:
    if benchmark not in BENCHMARKS:
        raise SubmissionError(f"no evaluation-server archive for benchmark {benchmark!r}; known: "
                              f"{', '.join(BENCHMARKS)}")


def _unique(sequences: Iterable[Sequence]) -> list[Sequence]:
    sequences = list(sequences)
    if not sequences:
        raise SubmissionError("no sequences to pack; load the split's sequences (split test)")
    twice = sorted(n for n, count in Counter(s.name for s in sequences).items() if count > 1)
    if twice:
        raise SubmissionError(f"sequences listed more than once: {twice}; list each sequence once")
    return sequences

