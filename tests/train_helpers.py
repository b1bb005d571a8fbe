"""Shared pieces of the trainer tests: a tiny config on the synthetic tree, and run helpers."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from model_helpers import one_torch_thread

from seqtrack_accel.config import Config, load_config
from seqtrack_accel.training import Trainer

REPO = Path(__file__).resolve().parents[1]

# 4 steps of batch 4 per epoch; a 6-token ViT-tiny; no worker processes (they only cost start-up time here).
TINY = [
    "data.datasets[0].synthetic=null",
    "data.samples_per_epoch=16",
    "data.max_sample_interval=20",
    "data.search.size=32",
    "data.template.size=16",
    "data.num_workers=0",
    "train.batch_size=4",
    "train.print_interval=2",
    "train.keep_last=10",
    "train.log_images=2",
    "train.lr_drop_epoch=2",
    "eval.free_run_samples=32",
]


def tiny_config(root: Path, *extra: str) -> Config:
    return load_config(REPO / "configs" / "demo.yaml", [f"data.datasets[0].root={root}", *TINY, *extra])


def train(cfg: Config, run_dir: Path, **kwargs):
    """One in-process training run, with one intra-op thread (``model_helpers.one_torch_thread``): every run of the
    tests uses the same thread count, so bit-identical comparisons compare like with like."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(True)  # a new Accelerator per run inside one test process
    with one_torch_thread():
        return Trainer(cfg, run_dir=run_dir, **kwargs).fit()


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def resumes_exactly(cfg: Config, folder: Path) -> bool:
    """Whether 2 epochs in one go (``folder/straight``) and 1 epoch, then a resume to the 2nd (``folder/resumed``),
    end with the same weights."""
    train(cfg, folder / "straight", epochs=2)
    train(cfg, folder / "resumed", epochs=1)
    train(cfg, folder / "resumed", epochs=2, resume_from="latest")
    final = "phase_1/checkpoints/checkpoint_2/model.safetensors"
    return sha(folder / "straight" / final) == sha(folder / "resumed" / final)


SUBPROCESS_ENV = {"PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


def cli_args(root: Path, *extra: str) -> list[str]:
    return ["--config", str(REPO / "configs" / "demo.yaml"), f"data.datasets[0].root={root}", *TINY, *extra]


def free_port() -> int:
    """A local TCP port that nothing listened on a moment ago."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(args: list[str], *, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, **SUBPROCESS_ENV}
    return subprocess.run([sys.executable, str(REPO / "train.py"), *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=REPO)
