"""Every Python example in the README runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SNIPPETS = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.S)


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_readme_python_example_runs(index, tmp_path):
    (tmp_path / "configs").symlink_to(REPO / "configs")
    script = tmp_path / "example.py"
    script.write_text(SNIPPETS[index])
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
