"""The index cache: each dataset's index (``index.SequenceIndex``) built once, stored, and memory-mapped by every
process and DataLoader worker that reads it.

    index = cached_index("lasot", 1, root, {"split": "train"}, inputs=annotation_files, build=read_everything)

Where: ``$SEQTRACK_INDEX_CACHE`` when set; else ``<root>/.seqtrack-index/`` when the dataset's root is writable;
else ``$XDG_CACHE_HOME/seqtrack-accel/index/`` (``~/.cache/...``). The file is named by its key: the reader and its
version, the resolved root and the reader's arguments. It holds the fingerprint of what it was built from: the
path, size and modification time of every annotation file the reader reads (``inputs``), so an edited, added or
removed annotation file makes it stale; it is then rebuilt, and the log says why. Frames are not part of the
fingerprint: the readers check them when they build (a frame deleted later is a read error of the sampler, which
re-draws and counts it).

Several processes (the ranks of a node, or of several nodes on a shared filesystem with working ``flock``) start
at once: the first takes a lock beside the cache file and builds, the others wait on the lock and then map what it
wrote, so one parser runs per dataset, not one per rank. The file is written atomically (``files.atomic_write``).
A cache file that cannot be read (cut short, not an index, of another format version, with inconsistent columns)
is rebuilt with a warning naming it.

File layout: ``MAGIC``, an 8-byte little-endian header length, a JSON header (format, key, fingerprint, classes,
frame-name patterns, reader notes, and each column's dtype, shape and byte offset), then the columns' bytes, each
at a 64-byte aligned offset, read with ``numpy.memmap`` (no copy; pages are shared between processes).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from ..files import atomic_write
from .index import COLUMNS, SequenceIndex, as_index
from .sequence import Sequence

logger = logging.getLogger(__name__)

FORMAT = 1
MAGIC = b"SEQTRACK-INDEX\n"
CACHE_VARIABLE = "SEQTRACK_INDEX_CACHE"
FOLDER = ".seqtrack-index"  # beside the data; the readers skip names that start with "."
_ALIGN = 64


class DamagedCache(ValueError):
    """A cache file that is not a readable index."""


def cached_index(reader: str, version: int, root: Path, arguments: dict, *, inputs: Callable[[], Iterable[Path]],
                 build: Callable[[], SequenceIndex | list[Sequence]]) -> SequenceIndex:
    """The index of ``build()``, from the cache when it is current, else built, stored and read back.

    Args:
        reader: the reader's name (``"lasot"``), for the file name and messages.
        version: the reader's version: raise it whenever what ``build`` returns for the same files changes.
        root: the dataset's root.
        arguments: whatever else decides what ``build`` returns (split, classes, chunks), JSON-serialisable.
        inputs: the annotation files ``build`` reads (a missing one is part of the fingerprint too).
        build: reads the dataset; its errors (a malformed file, a missing frame) propagate.
    """
    key = {"format": FORMAT, "reader": reader, "version": version, "root": str(Path(root).resolve()),
           "arguments": arguments}
    path = cache_path(Path(root), key)
    fingerprint = listing_digest(inputs())
    index, _ = _open(path, key, fingerprint)
    if index is not None:
        return index
    with _locked(path):
        index, why = _open(path, key, fingerprint)  # another process may have built it while this one waited
        if index is not None:
            return index
        if why.startswith("damaged"):
            logger.warning("the index cache %s is %s; rebuilding it", path, why)
        else:
            logger.info("%s index cache %s (%s)", "building the" if why == "missing" else "rebuilding the stale",
                        path, why)
        start = time.perf_counter()
        built = as_index(build())
        write_index(path, built, key, fingerprint)
        logger.info("built the %s index of %d sequences, %d frames in %.1f s: %s", reader, len(built), built.frames,
                    time.perf_counter() - start, path)
    index, why = _open(path, key, fingerprint)
    if index is None:
        raise RuntimeError(f"the index cache {path} just written cannot be read back ({why}); check the disk")
    return index


def cache_path(root: Path, key: dict) -> Path:
    """Where the index of ``key`` is cached (module docstring)."""
    name = f"{key['reader']}-{hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]}.idx"
    if os.environ.get(CACHE_VARIABLE):
        return Path(os.environ[CACHE_VARIABLE]).expanduser() / name
    if os.access(root, os.W_OK):
        return root / FOLDER / name
    home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(home) / "seqtrack-accel" / "index" / name


def listing_digest(paths: Iterable[Path]) -> str:
    """SHA-256 of the path, size and modification time (ns) of each of ``paths``, in order; a missing one counts."""
    digest = hashlib.sha256()
    for path in paths:
        try:
            stat = os.stat(path)
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        except FileNotFoundError:
            digest.update(f"{path}\0missing\n".encode())
    return digest.hexdigest()


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive ``flock`` on ``<path>.lock``, held while one process builds (the others wait here)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def write_index(path: Path, index: SequenceIndex, key: dict, fingerprint: str) -> None:
    """``index`` (its rows, in its order) into the cache file ``path``, atomically."""
    if not index.whole:
        index = SequenceIndex.from_sequences(index, index.notes)  # a selection: store just its sequences
    layout, offset = {}, 0
    for name in COLUMNS:
        array = np.ascontiguousarray(index.columns[name])
        layout[name] = [array.dtype.str, list(array.shape), offset]
        offset += _aligned(array.nbytes)
    header = json.dumps({"format": FORMAT, "key": key, "fingerprint": fingerprint, "classes": index.classes,
                         "patterns": index.patterns, "notes": index.notes, "columns": layout}).encode()
    start = _aligned(len(MAGIC) + 8 + len(header))

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            f.write(MAGIC + len(header).to_bytes(8, "little") + header)
            for name, (_, _, at) in layout.items():
                f.seek(start + at)
                f.write(memoryview(np.ascontiguousarray(index.columns[name])).cast("B"))
            f.truncate(start + offset)

    atomic_write(path, write)


def read_index(path: Path) -> tuple[dict, SequenceIndex]:
    """The header and the memory-mapped index of a cache file; DamagedCache says what is wrong with it."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(len(MAGIC) + 8)
        if len(head) < len(MAGIC) + 8 or not head.startswith(MAGIC):
            raise DamagedCache("not an index file (no header)")
        length = int.from_bytes(head[len(MAGIC):], "little")
        if length > size:
            raise DamagedCache(f"cut short (its header claims {length} bytes of {size})")
        try:
            header = json.loads(f.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise DamagedCache(f"unreadable (its header is not JSON: {e})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise DamagedCache(f"of another format ({header.get('format') if isinstance(header, dict) else None!r}, "
                           f"this version reads {FORMAT})")
    start = _aligned(len(MAGIC) + 8 + length)
    mapped = np.memmap(path, dtype=np.uint8, mode="r")
    columns = {}
    try:
        for name in COLUMNS:
            dtype, shape, at = header["columns"][name]
            dtype = np.dtype(dtype)
            nbytes = int(np.prod(shape)) * dtype.itemsize
            if start + at + nbytes > size:
                raise DamagedCache(f"cut short ({size} bytes; column {name} ends at {start + at + nbytes})")
            columns[name] = mapped[start + at:start + at + nbytes].view(dtype).reshape(shape)
        index = SequenceIndex(columns, header["classes"], header["patterns"], notes=header["notes"])
    except DamagedCache:
        raise
    except (KeyError, TypeError, ValueError) as e:
        raise DamagedCache(f"inconsistent ({type(e).__name__}: {e})") from None
    _check_columns(index)
    return header, index


def _aligned(nbytes: int) -> int:
    """``nbytes`` rounded up to the columns' alignment."""
    return -(-nbytes // _ALIGN) * _ALIGN


def _check_columns(index: SequenceIndex) -> None:
    """The columns fit together (offsets run from 0 to the frames, ids index their tables): a cheap check, not a
    checksum of the boxes."""
    c = index.columns
    sequences, frames = c["name_ends"].shape[0], c["boxes"].shape[0]
    offsets = c["offsets"]
    problems = [
        offsets.shape != (sequences + 1,) or offsets[0] != 0 or offsets[-1] != frames
        or bool((np.diff(offsets) < 0).any()),
        c["visible"].shape != (frames,) or c["boxes"].shape[1:] != (4,),
        c["file_ids"].shape[0] not in (0, frames),
        any(c[k].shape != (sequences,) for k in ("class_ids", "dir_ids", "pattern_ids", "still", "visible_counts")),
    ]
    for ids, table in (("class_ids", len(index.classes)), ("dir_ids", c["dir_ends"].shape[0]),
                       ("pattern_ids", len(index.patterns))):
        problems.append(sequences > 0 and (int(c[ids].min()) < 0 or int(c[ids].max()) >= table))
    for strings in ("name", "dir", "file"):
        ends = c[f"{strings}_ends"]
        problems.append(ends.shape[0] > 0 and int(ends[-1]) != c[f"{strings}_chars"].shape[0])
    if any(problems):
        raise DamagedCache("inconsistent (its columns do not fit together)")


def _open(path: Path, key: dict, fingerprint: str) -> tuple[SequenceIndex | None, str]:
    """The cached index when it is current, else None and why not: missing, stale (...), damaged (...)."""
    if not path.is_file():
        return None, "missing"
    try:
        header, index = read_index(path)
    except DamagedCache as e:
        return None, f"damaged: {e}"
    if header.get("key") != key:
        return None, "stale: built for another key"
    if header.get("fingerprint") != fingerprint:
        return None, "stale: its annotation files changed since it was built"
    return index, "current"
