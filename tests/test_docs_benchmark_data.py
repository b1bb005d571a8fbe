"""The examples of docs/benchmark_data.md run as written and do what the page says."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_benchmark_data_examples_run_as_written(tmp_path):
    blocks = re.findall(r"```bash\n(.*?)```", (REPO / "docs" / "benchmark_data.md").read_text(), re.S)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # the commands
    out = subprocess.run(["bash", "-e", "-c", "\n".join(blocks)], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    nfs, windows = (json.loads((tmp_path / "output" / name / "summary.json").read_text())
                    for name in ("nfs", "nfs_windows"))
    assert sorted(nfs["trackers"]["first-box"]["per_sequence"]) == ["bee", "car_camaro", "car_jumping"]
    assert (nfs["partial"]["sequences"], nfs["partial"]["of"], len(nfs["partial"]["missing"])) == (3, 100, 97)
    assert windows["trackers"]["first-box"]["per_sequence"] == nfs["trackers"]["first-box"]["per_sequence"]
    assert "warning: 3 of the 100 sequences of NFS (30 fps) are scored (97 missing under" in out.stderr
    assert "the summary scored 3 of the 100 sequences of nfs test only (it is marked partial)" in out.stdout
