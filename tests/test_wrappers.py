"""The thin wrappers (``scripts/*.py`` over ``seqtrack_accel.cli``, and ``train.py``) exit with their command's
status, so a shell script or CI job that runs one stops when it fails."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Each wrapper with a failing input and the status its command returns for it (2: bad input, 1: a Hub operation
# that failed). HF_ENDPOINT points at a closed port for the Hub tools.
FAILING = {
    "scripts/check_repo.py": (["org/model"], 1),
    "scripts/create_hf_repo.py": (["org/model"], 1),
    "scripts/evaluate.py": (["--checkpoint", "{tmp}/nothere"], 2),
    "scripts/make_synthetic_lasot.py": (["--out", "{tmp}"], 2),  # the folder exists
    "scripts/upload_checkpoint.py": (["{tmp}/nothere", "--repo_id", "org/model"], 1),
    "train.py": (["--config", "{tmp}/nothere.yaml"], 2),
}


def _wrappers() -> list[str]:
    """train.py and every script that only hands over to a command of the package."""
    scripts = sorted(p for p in (ROOT / "scripts").glob("*.py") if "from seqtrack_accel.cli." in p.read_text()
                     and "def " not in p.read_text())
    return ["train.py", *(p.relative_to(ROOT).as_posix() for p in scripts)]


def test_every_wrapper_has_a_failing_input_below():
    assert sorted(_wrappers()) == sorted(FAILING)


@pytest.mark.parametrize("script", sorted(FAILING))
def test_a_wrapper_exits_with_its_commands_status(script, tmp_path, closed_port, monkeypatch):
    argv, status = FAILING[script]
    monkeypatch.setattr(sys, "argv", [script, *(a.format(tmp=tmp_path) for a in argv)])
    with pytest.raises(SystemExit) as exit_info:  # a wrapper that drops the status returns instead
        runpy.run_path(str(ROOT / script), run_name="__main__")
    assert exit_info.value.code == status


def test_scripts_evaluate_fails_in_the_shell_when_the_evaluation_fails(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "evaluate.py"), "--checkpoint",
                           str(tmp_path / "nothere")], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith("error:") and "nothere" in done.stderr
