"""The one reader of annotation lines: rows of numbers, one per frame, in every text format this package reads.

Ground truth of every dataset and benchmark (LaSOT, GOT-10k, TrackingNet, custom folders, LaSOT_ext, TNL2K, UAV123,
OTB100, NFS), result files (``<sequence>.txt``, ``<sequence>_time.txt``: ``tracking.result_files``) and the
``--box`` of ``seqtrack-track`` are read here, by one rule:

- values are separated by commas, semicolons, tabs or spaces, in any mix and runs (OTB mixes them, other trackers'
  result files use tabs);
- a line ends in LF or CRLF, and a UTF-8 byte-order mark at the start is nothing (``files.read_text``);
- blank lines at the end are a trailing newline, not rows;
- a blank line or a row of NaN inside the file means what the format says it means (``blank`` and ``nan``): an error
  naming the file and the line (LaSOT, GOT-10k, TrackingNet), a frame without the target (custom folders: a blank
  line; UAV123 and the other benchmarks: NaN), or nothing (result files skip blank lines).

    boxes, known = read_boxes(path, "LaSOT sequence")                   # (N, 4) float32; NaN rows are errors
    boxes, known = read_boxes(path, "UAV123 sequence", nan=ABSENT)      # NaN rows: box 0,0,0,0 and known False
    rows = read_rows(path, "result file", columns=4, blank=SKIP, extra=1)   # a fifth column is allowed, not read
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..files import read_text

ERROR = "error"  # a blank line or a NaN row is an error naming the file and the line
ABSENT = "absent"  # ... is a frame without the target: a NaN row, and False in ``Rows.present``
SKIP = "skip"  # a blank line is no row (result files)
SEPARATORS = "commas, semicolons, tabs or spaces"
_SEPARATOR = re.compile(r"[,;\s]+")
_SEPARATOR_IN_LINE = re.compile(r"[,;\t ]+")  # the same, but not across lines (the fast path keeps line ends)


@dataclass(frozen=True)
class Rows:
    """The rows of an annotation file.

    Attributes:
        values: float64 (N, columns); a row without the target (``ABSENT``) is NaN.
        present: bool (N,): the row holds numbers (False where ``ABSENT`` made it NaN).
        lines: int (N,): the 1-based line number of each row, for messages.
    """

    values: np.ndarray
    present: np.ndarray
    lines: np.ndarray


def split_values(text: str) -> list[str]:
    """The values of one line (or of a whole short text) by the separators of the module docstring."""
    text = text.strip()
    return _SEPARATOR.split(text) if text else []


def annotation_lines(path: str | Path, what: str) -> list[str]:
    """The lines of ``path``, trailing blank lines dropped; a missing or empty file is an error naming it (``what``
    says what needs the file, e.g. ``"LaSOT sequence"``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; every {what} needs one x,y,w,h line per frame")
    lines = read_text(path).splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise ValueError(f"{path} is empty; it needs one x,y,w,h line per frame")
    return lines


def parse_rows(path: str | Path, lines: list[str], *, columns: int = 4, first: int = 0, extra: int | None = 0,
               blank: str = ERROR, nan: str = ERROR, names: str = "x,y,w,h",
               fix: str = "fix the annotation") -> Rows:
    """The rows of ``lines`` (of the file ``path``, for messages).

    Args:
        columns: the values read from each line, from value ``first`` (0-based) on.
        extra: how many more values a line may hold after them, None for any number (they are not read: a result
            file's confidence; NFS's flags and label).
        blank: what a blank line is: ``ERROR``, ``ABSENT`` or ``SKIP``.
        nan: what a line holding NaN or an infinity is: ``ERROR`` or ``ABSENT``.
        names: what the values are, for messages.
        fix: what to do about a bad line, for messages.
    Raises:
        ValueError: the first bad line, naming the file and the 1-based line: another number of values, a value
            that is not a number, NaN or an infinity where ``nan`` is ``ERROR``, a blank line where ``blank`` is.
    """
    fast = _fast_rows(lines, columns) if first == 0 else None  # a blank line or a longer one takes the slow pass
    if fast is not None and (nan == ABSENT or np.isfinite(fast).all()):
        present = np.isfinite(fast).all(axis=1)
        fast[~present] = np.nan
        return Rows(fast, present, np.arange(1, len(lines) + 1))
    values, present, numbers = [], [], []
    width = first + columns
    for number, line in enumerate(lines, start=1):
        fields = split_values(line)
        if not fields:
            if blank == SKIP:
                continue
            if blank == ERROR:
                raise ValueError(f"{path} line {number}: a blank line where {names} values should be; {fix}")
            values.append([np.nan] * columns)
            present.append(False)
            numbers.append(number)
            continue
        if len(fields) < width or (extra is not None and len(fields) > width + extra):
            count = (f"{width}" if extra == 0 else f"at least {width}" if extra is None
                     else f"{width} to {width + extra}")
            raise ValueError(f"{path} line {number}: expected {count} values ({names}) separated by {SEPARATORS}, got "
                             f"{len(fields)}: {line!r}")
        try:
            row = [float(v) for v in fields[first:width]]
        except ValueError:
            raise ValueError(f"{path} line {number}: values must be numbers, got {line!r}") from None
        finite = all(np.isfinite(row))
        if not finite and nan == ERROR:
            raise ValueError(f"{path} line {number}: NaN or infinite value in {line!r}; {fix}")
        values.append(row if finite else [np.nan] * columns)
        present.append(finite)
        numbers.append(number)
    return Rows(np.array(values, dtype=np.float64).reshape(-1, columns), np.array(present, dtype=bool),
                np.array(numbers, dtype=np.int64))


def _fast_rows(lines: list[str], columns: int) -> np.ndarray | None:
    """(N, columns) float64 of well-formed lines in one conversion (LaSOT's files hold thousands of lines), or None
    when some line is not exactly ``columns`` numbers, so that the line-by-line pass finds and names it."""
    normalized = _SEPARATOR_IN_LINE.sub(",", "\n".join(lines)).split("\n")
    if not all(line.count(",") == columns - 1 for line in normalized):
        return None
    try:
        return np.array(",".join(normalized).split(","), dtype=np.float64).reshape(-1, columns)
    except ValueError:  # an empty or non-numeric value: the line-by-line pass names the line
        return None


def read_rows(path: str | Path, what: str, **rules) -> Rows:
    """``parse_rows`` of the file ``path`` (``annotation_lines``: it must exist and hold a row)."""
    return parse_rows(path, annotation_lines(path, what), **rules)


def read_boxes(path: str | Path, what: str, *, blank: str = ERROR, nan: str = ERROR) -> tuple[np.ndarray, np.ndarray]:
    """float32 (N, 4) ``x, y, w, h`` boxes and bool (N,) "the box is known" of a ground-truth file, one line per
    frame. A frame without the target (``blank`` or ``nan`` ``ABSENT``) has the box ``0, 0, 0, 0`` and False.
    Errors name the file and the 1-based line; ``what`` says what needs the file."""
    rows = read_rows(path, what, blank=blank, nan=nan)
    boxes = np.where(rows.present[:, None], rows.values, 0.0).astype(np.float32)
    return boxes, rows.present


def parse_box(text: str) -> np.ndarray:
    """One ``x,y,w,h`` box (pixels, top-left origin) -> (4,) float64, finite, w and h > 0 (``seqtrack-track
    --box``)."""
    try:
        box = np.array([float(v) for v in split_values(text)], dtype=np.float64)
    except ValueError:
        raise ValueError(f"the box {text!r} is not four numbers x,y,w,h") from None
    if box.shape != (4,) or not np.isfinite(box).all():
        raise ValueError(f"the box {text!r} is not four finite numbers x,y,w,h")
    if not (box[2] > 0 and box[3] > 0):
        raise ValueError(f"the box {text!r} has no area: w and h must be > 0")
    return box
