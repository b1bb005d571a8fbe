"""Files written by hand and text files read by hand.

Writes are atomic: a temporary file next to the target, then a rename, so a reader or a crash never sees half a file.
Every file this package writes by hand goes through here, and every text file it parses by hand (annotations, labels,
lists, result files) is read by ``read_text``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file next to ``path``, then rename it to ``path``.

    The temporary name is unique (several processes may write the same target), and it is removed if ``write``
    fails. Writers that infer a format from the file name (matplotlib) must be told the format.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def read_text(path: str | os.PathLike) -> str:
    """The text of a UTF-8 file, without the byte-order mark that Windows editors (Notepad, Excel's CSV) put first.

    A BOM is read as nothing, as a CRLF line end is read as a line end (``str.splitlines``): annotation files saved on
    Windows read as those saved elsewhere. A file that is not UTF-8 (UTF-16, say) is an error naming it.
    """
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start}); save it as UTF-8") from None


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def write_json_atomic(path: str | os.PathLike, values: dict) -> Path:
    return write_text_atomic(path, json.dumps(values, indent=1))
