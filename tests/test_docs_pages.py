"""Every Python example of the docs pages below runs as written (the README's: tests/test_readme.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from seqtrack_accel.data.index_cache import CACHE_VARIABLE

REPO = Path(__file__).resolve().parents[1]
PAGES = ["docs/pretrained_folder.md", "docs/export_folder.md", "docs/hub_end_of_run.md", "docs/checkpoints.md",
         "docs/data_index.md"]
SNIPPETS = [(page, snippet) for page in PAGES
            for snippet in re.findall(r"```python\n(.*?)```", (REPO / page).read_text(), re.S)]


@pytest.mark.parametrize("page, snippet", SNIPPETS, ids=[f"{page}-{i}" for i, (page, _) in enumerate(SNIPPETS)])
def test_docs_python_example_runs(page, snippet, tmp_path):
    script = tmp_path / "example.py"
    script.write_text(snippet)
    env = {k: v for k, v in os.environ.items() if k != CACHE_VARIABLE}  # as a user runs it: the cache beside the data
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                         env=env)
    assert out.returncode == 0, out.stderr[-2000:]


def test_the_documented_hub_setting_is_a_config_key():
    from seqtrack_accel.config import load_config

    text = (REPO / "docs/hub_end_of_run.md").read_text()
    assert "hub.unreachable_grace=30" in text
    assert load_config("demo", ["hub.unreachable_grace=30"]).hub.unreachable_grace == 30.0
