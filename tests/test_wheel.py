"""The wheel is a complete package: it holds the experiment configs, and `seqtrack-train --config demo` runs from it
in a fresh virtual environment, from an empty folder, without the source tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# A few steps on a small synthetic tree: 4 steps of batch 8, no worker processes.
FEW_STEPS = [
    "data.samples_per_epoch=32",
    "train.batch_size=8",
    "data.num_workers=0",
    "eval.free_run_samples=16",
    "data.datasets[0].synthetic.frames=25",
    "data.datasets[0].synthetic.sequences_per_class=4",
]


def _run(args: list, **kwargs) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing may reach the source tree
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600,
                          env={**env, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}, **kwargs)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the package's sources, so that nothing is written into the repository and a stale
    build/ folder there cannot slip old files into the wheel."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "setup.cfg", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "seqtrack_accel", src / "seqtrack_accel", ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp_path_factory.mktemp("dist")
    out = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                "-w", dist, src])
    assert out.returncode == 0, out.stderr[-3000:]
    (built,) = dist.glob("seqtrack_accel-*.whl")
    return built


@pytest.fixture(scope="module")
def fresh_env(wheel, tmp_path_factory) -> Path:
    """A new virtual environment with the wheel installed (not editable) and without dependencies of its own: a .pth
    file lends it this environment's site-packages (torch and the rest) instead of downloading them. The .pth files
    inside a directory listed that way are not processed, so this environment's editable install does not apply."""
    env = tmp_path_factory.mktemp("venv")
    venv.create(env, with_pip=False)
    python = env / "bin" / "python"
    out = _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--quiet", wheel])
    assert out.returncode == 0, out.stderr[-3000:]
    site_packages = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    Path(site_packages, "outer_environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return env


def test_wheel_holds_the_configs_of_the_repository(wheel):
    in_wheel = {n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".yaml")}
    assert in_wheel == {f"seqtrack_accel/configs/{p.name}" for p in (REPO / "configs").glob("*.yaml")}
    assert "seqtrack_accel/configs/demo.yaml" in in_wheel


def test_wheel_holds_no_test_server_and_no_speed_benchmark(wheel):
    # The speed benchmarks are scripts/bench_*.py; the package's tracking benchmarks (data/benchmarks.py, the test
    # sets of LaSOT, GOT-10k, ...) are what users evaluate on and belong in it.
    modules = [n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".py")]
    assert modules and not [n for n in modules
                            if "testing" in n or "fake_hub" in n or Path(n).name.startswith("bench_")]


def test_fresh_environment_imports_the_package_from_the_wheel(fresh_env, tmp_path):
    out = _run([fresh_env / "bin" / "python", "-c", "import seqtrack_accel; print(seqtrack_accel.__file__)"],
               cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert Path(out.stdout.strip()).resolve().is_relative_to(fresh_env.resolve())


def test_installed_seqtrack_train_runs_the_shipped_demo_from_an_empty_folder(fresh_env, tmp_path):
    out = _run([fresh_env / "bin" / "seqtrack-train", "--config", "demo", "--epochs", "1", *FEW_STEPS], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "runs" / "demo" / "phase_1" / "checkpoints" / "checkpoint_1" / "training_state.json").is_file()
