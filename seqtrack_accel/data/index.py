"""A dataset's sequences as a few numpy columns, with each ``Sequence`` made when it is asked for.

The training sets are large (TrackingNet: 30k sequences of 14.4M frames; COCO: 851k one-image sequences). Held as
one Python object per sequence they take a second per 100k objects to build, hundreds of MB per process, and every
DataLoader worker copies them page by page as reference counts change (copy-on-write). Held as columns, they are a
handful of arrays, memory-mapped from the index cache (``index_cache``) and shared by every process and worker:

    index.names[k], index.class_of(k)         strings, without making the sequence
    index.lengths, index.visible_counts       int64 (S,): frames and visible frames of each sequence
    index[k]                                  the k-th ``Sequence``; its boxes and visible are views of the columns
    index.take(positions)                     the sequences at ``positions``, sharing the columns

``SequenceIndex`` is a ``collections.abc.Sequence`` of ``Sequence``: code that iterates over sequences, takes
``len()`` or indexes it reads it as the list it replaces.
"""

from __future__ import annotations

import collections.abc
from pathlib import Path

import numpy as np

from .sequence import Sequence


class Strings(collections.abc.Sequence):
    """Many strings as one UTF-8 byte array and the offsets of each string's end (``chars[ends[i-1]:ends[i]]``)."""

    def __init__(self, chars: np.ndarray, ends: np.ndarray):
        self.chars, self.ends = chars, ends

    @classmethod
    def of(cls, values: collections.abc.Iterable[str]) -> Strings:
        encoded = [v.encode() for v in values]
        ends = np.cumsum([len(e) for e in encoded], dtype=np.int64) if encoded else np.zeros(0, dtype=np.int64)
        return cls(np.frombuffer(b"".join(encoded), dtype=np.uint8), ends)

    def __len__(self) -> int:
        return int(self.ends.shape[0])

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = int(i)
        start = int(self.ends[i - 1]) if i > 0 else 0
        return self.chars[start:int(self.ends[i])].tobytes().decode()


# The columns of an index, as the cache file stores them: name -> what it holds. S sequences, M frames in all.
COLUMNS = {
    "name_chars": "uint8: the sequences' names (Strings)", "name_ends": "int64 (S,)",
    "dir_chars": "uint8: the frame folders, absolute (Strings)", "dir_ends": "int64 (D,)",
    "file_chars": "uint8: explicit frame file names (Strings; COCO, custom)", "file_ends": "int64 (F,)",
    "class_ids": "int32 (S,): index into meta classes", "dir_ids": "int32 (S,)",
    "pattern_ids": "int32 (S,): index into meta patterns (frame_name, first_frame)", "still": "bool (S,)",
    "offsets": "int64 (S + 1,): sequence k's frames are rows offsets[k]:offsets[k+1] of boxes and visible",
    "visible_counts": "int64 (S,)", "boxes": "float32 (M, 4)", "visible": "bool (M,)",
    "file_ids": "int32 (M,): index into the frame files, -1 where the frame is named by its pattern",
}


class SequenceIndex(collections.abc.Sequence):
    """The sequences of one dataset as columns (module docstring).

    Args:
        columns: the arrays of ``COLUMNS`` (read-only; memory-mapped when read from a cache file).
        classes: the class names ``class_ids`` index.
        patterns: the ``(frame_name, first_frame)`` pairs ``pattern_ids`` index (``Sequence.frame_name``).
        rows: the stored sequences this index holds, in its order (None: all of them).
        notes: what the reader found worth saying when it built the index (JSON-serialisable; COCO: counts of the
            annotations it left out).
    """

    def __init__(self, columns: dict[str, np.ndarray], classes: list[str], patterns: list[tuple[str, int]],
                 rows: np.ndarray | None = None, notes: dict | None = None):
        self.columns = columns
        self.notes = dict(notes or {})
        self.classes = list(classes)
        self.patterns = [(str(name), int(first)) for name, first in patterns]
        self._names = Strings(columns["name_chars"], columns["name_ends"])
        self._dirs = Strings(columns["dir_chars"], columns["dir_ends"])
        self._files = Strings(columns["file_chars"], columns["file_ends"])
        self.rows = np.arange(len(self._names), dtype=np.int64) if rows is None else rows
        self.names = _Taken(self._names, self.rows)  # names[k]: the name of sequence k, without making it

    @classmethod
    def from_sequences(cls, sequences: collections.abc.Iterable[Sequence], notes: dict | None = None) -> SequenceIndex:
        """The index of ``Sequence`` objects (a reader's, once, before it is cached)."""
        sequences = list(sequences)
        classes, dirs, patterns, files = {}, {}, {}, {}
        file_ids = []
        for s in sequences:
            ids = [files.setdefault(f, len(files)) for f in s.frame_files] if s.frame_files else [-1] * len(s)
            file_ids.extend(ids)
        lengths = np.array([len(s) for s in sequences], dtype=np.int64)
        columns = {
            "name_chars": None, "dir_chars": None, "file_chars": None,
            "class_ids": np.array([classes.setdefault(s.class_name, len(classes)) for s in sequences], np.int32),
            "dir_ids": np.array([dirs.setdefault(str(s.frames_dir), len(dirs)) for s in sequences], np.int32),
            "pattern_ids": np.array([patterns.setdefault((s.frame_name, s.first_frame), len(patterns))
                                     for s in sequences], np.int32),
            "still": np.array([s.still for s in sequences], dtype=bool),
            "offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            "visible_counts": np.array([int(s.visible.sum()) for s in sequences], dtype=np.int64),
            "boxes": np.concatenate([s.boxes for s in sequences]).astype(np.float32) if sequences
            else np.zeros((0, 4), np.float32),
            "visible": np.concatenate([s.visible for s in sequences]).astype(bool) if sequences
            else np.zeros(0, bool),
            "file_ids": np.array(file_ids, dtype=np.int32),
        }
        for prefix, strings in (("name", [s.name for s in sequences]), ("dir", dirs), ("file", files)):
            packed = Strings.of(strings)
            columns[f"{prefix}_chars"], columns[f"{prefix}_ends"] = packed.chars, packed.ends
        return cls(freeze(columns), list(classes), list(patterns), notes=notes)

    # ------------------------------------------------------------------------------------------------ the columns

    @property
    def lengths(self) -> np.ndarray:
        """int64 (S,): the frames of each sequence."""
        offsets = self.columns["offsets"]
        return offsets[self.rows + 1] - offsets[self.rows]

    @property
    def visible_counts(self) -> np.ndarray:
        """int64 (S,): the visible frames of each sequence."""
        return self.columns["visible_counts"][self.rows]

    @property
    def still(self) -> np.ndarray:
        """bool (S,): the sequence is one still image (COCO)."""
        return self.columns["still"][self.rows]

    @property
    def first_visible(self) -> np.ndarray:
        """bool (S,): the first frame is visible."""
        return self.columns["visible"][self.columns["offsets"][self.rows]]

    @property
    def frames(self) -> int:
        """The frames of every sequence together."""
        return int(self.lengths.sum())

    def class_of(self, k: int) -> str:
        return self.classes[int(self.columns["class_ids"][self.rows[k]])]

    def class_names(self) -> set[str]:
        """The classes the sequences have (``""`` for none)."""
        return {self.classes[i] for i in np.unique(self.columns["class_ids"][self.rows])}

    def of_classes(self, classes: collections.abc.Iterable[str]) -> SequenceIndex:
        """The sequences of ``classes``, in this index's order."""
        wanted = [i for i, name in enumerate(self.classes) if name in set(classes)]
        return self.take(np.flatnonzero(np.isin(self.columns["class_ids"][self.rows], wanted)))

    def take(self, positions) -> SequenceIndex:
        """The sequences at ``positions`` (of this index), in that order, sharing the columns."""
        return SequenceIndex(self.columns, self.classes, self.patterns,
                             self.rows[np.asarray(positions, dtype=np.int64)], self.notes)

    @property
    def whole(self) -> bool:
        """The index holds every stored sequence, in the stored order (it is no ``take`` of another)."""
        return len(self.rows) == len(self._names) and bool((self.rows == np.arange(len(self.rows))).all())

    # ------------------------------------------------------------------------------------------ as a Sequence list

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def __getitem__(self, k):
        if isinstance(k, slice):
            return self.take(np.arange(len(self))[k])
        k = int(k)
        if not -len(self) <= k < len(self):
            raise IndexError(f"sequence {k} of an index of {len(self)}")
        row = int(self.rows[k])
        c = self.columns
        start, end = int(c["offsets"][row]), int(c["offsets"][row + 1])
        frame_name, first_frame = self.patterns[int(c["pattern_ids"][row])]
        file_ids = c["file_ids"][start:end] if c["file_ids"].shape[0] else ()
        frame_files = tuple(self._files[i] for i in file_ids) if len(file_ids) and file_ids[0] >= 0 else ()
        return Sequence(name=self._names[row],
                        class_name=self.classes[int(c["class_ids"][row])],
                        frames_dir=Path(self._dirs[int(c["dir_ids"][row])]), boxes=c["boxes"][start:end],
                        visible=c["visible"][start:end], frame_name=frame_name, first_frame=first_frame,
                        frame_files=frame_files, still=bool(c["still"][row]))

    def __repr__(self) -> str:
        return f"SequenceIndex({len(self)} sequences, {self.frames} frames)"


class _Taken(collections.abc.Sequence):
    """The strings of ``strings`` at ``rows``."""

    def __init__(self, strings: Strings, rows: np.ndarray):
        self.strings, self.rows = strings, rows

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return self.strings[self.rows[i]]


def freeze(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``columns`` made read-only, as the memory-mapped ones of a cache file are."""
    for array in columns.values():
        array.setflags(write=False)
    return columns


def as_index(sequences: SequenceIndex | collections.abc.Iterable[Sequence]) -> SequenceIndex:
    """``sequences`` as an index: itself, or the index of a list of ``Sequence`` objects."""
    return sequences if isinstance(sequences, SequenceIndex) else SequenceIndex.from_sequences(sequences)
