"""The Python example of docs/data_sources.md prints what its comment says, and the error the page shows is the one an
old override gets (its shell examples: tests/test_docs_shell.py, which checks what they evaluate)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGE = (REPO / "docs" / "data_sources.md").read_text()


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # the commands
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_python_example_prints_what_its_comment_says(tmp_path):
    (snippet,) = re.findall(r"```python\n(.*?)```", PAGE, re.S)
    (tmp_path / "example.py").write_text(snippet)
    out = _run([sys.executable, "example.py"], tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "data.datasets[0] test ['cup-1', 'cup-4']"


def test_the_shown_error_is_the_one_an_old_override_gets():
    from seqtrack_accel.config import ConfigError, load_config

    shown = " ".join(re.search(r"```\n(config key 'data.root'.*?)```", PAGE, re.S).group(1).split())
    try:
        load_config("demo", ["data.root=/data/LaSOT"])
    except ConfigError as e:
        assert str(e) == shown
    else:
        raise AssertionError("data.root= was accepted")
