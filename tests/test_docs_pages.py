"""Every Python example of the README and the docs pages below runs as written, from a folder that holds the
repository's configs/ (docs/data_sources.md's example: tests/test_docs_data_sources.py, which checks what it prints)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from seqtrack_accel.data.index_cache import CACHE_VARIABLE

REPO = Path(__file__).resolve().parents[1]
PAGES = ["README.md", "docs/training.md", "docs/data.md", "docs/pretrained_folder.md", "docs/export_folder.md",
         "docs/hub_end_of_run.md", "docs/checkpoints.md", "docs/data_index.md", "docs/procedural.md"]
SNIPPETS = [(page, snippet) for page in PAGES
            for snippet in re.findall(r"```python\n(.*?)```", (REPO / page).read_text(), re.S)]


@pytest.mark.parametrize("page, snippet", SNIPPETS, ids=[f"{page}-{i}" for i, (page, _) in enumerate(SNIPPETS)])
def test_docs_python_example_runs(page, snippet, tmp_path):
    (tmp_path / "configs").symlink_to(REPO / "configs")
    script = tmp_path / "example.py"
    script.write_text(snippet)
    env = {k: v for k, v in os.environ.items() if k != CACHE_VARIABLE}  # as a user runs it: the cache beside the data
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                         env=env)
    assert out.returncode == 0, out.stderr[-2000:]


def test_every_page_with_a_python_example_is_listed():
    pages = ["README.md", *(f"docs/{f.name}" for f in (REPO / "docs").glob("*.md"))]
    with_python = {p for p in pages if "```python\n" in (REPO / p).read_text()}
    assert with_python - {"docs/data_sources.md"} <= set(PAGES)


def test_the_documented_hub_setting_is_a_config_key():
    from seqtrack_accel.config import load_config

    text = (REPO / "docs/hub_end_of_run.md").read_text()
    assert "hub.unreachable_grace=30" in text
    assert load_config("demo", ["hub.unreachable_grace=30"]).hub.unreachable_grace == 30.0


def _anchor(heading: str) -> str:
    """GitHub's anchor of a markdown heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_link_between_pages_leads_to_a_file_and_heading():
    pages = [REPO / "README.md", *(REPO / "docs").glob("*.md")]
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+://", target):
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            assert linked.exists(), f"{page.name} links to {target}, which does not exist"
            if anchor:
                headings = re.findall(r"^#+ (.*)$", linked.read_text(), re.M)
                assert anchor in {_anchor(h) for h in headings}, f"{page.name} links to {target}: no such heading"
