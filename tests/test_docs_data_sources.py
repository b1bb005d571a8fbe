"""The examples of docs/data_sources.md run as written and do what the page says (blocks whose first line says they
need real data are not run)."""

from __future__ import annotations

import json
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


def test_the_shell_examples_evaluate_another_folder_with_root_alone(tmp_path):
    blocks = [b for b in re.findall(r"```bash\n(.*?)```", PAGE, re.S) if not b.startswith("# needs")]
    assert blocks and not any(" /data/" in b or "=/data/" in b for b in blocks)  # nothing outside the test's folder
    out = _run(["bash", "-e", "-c", "\n".join(blocks)], tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads((tmp_path / "output" / "my_lasot" / "summary.json").read_text())
    assert sorted(summary["trackers"]["first-box"]["per_sequence"]) == ["cup-1", "cup-4"]
    assert not (tmp_path / "data" / "synthetic_lasot").exists()  # the demo's generator did not run


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
