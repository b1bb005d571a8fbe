"""The run folder and the training state: what a run leaves on disk and how to read it.

    DIR/config.yaml                                   the run's resolved config
    DIR/best.json                                     the best checkpoint by ``train.best_metric`` (``BEST_FILE``)
    DIR/.lock                                         held while a run trains (``RunLock``)
    DIR/phase_N/checkpoints/checkpoint_E/             after epoch E; ``checkpoint_E_stepS`` inside epoch E
                            .../training_state.json   ``TrainingState``: counters, ``History``, model signature
                            .../model.safetensors     + Accelerate's optimizer, scheduler, RNG files, config.yaml

Checkpoint names, their order, listing, verifying and the best checkpoint are here; writing them is the trainer's
(``seqtrack_accel.training.saver``), mirroring them the Hub code's. This module sits at the bottom of the package's
imports: the Hub code, the trainer and the export read run folders through it, and it imports none of them, nor
the model, nor torch at import time (the config, for the metrics a best checkpoint is chosen by).
"""

from __future__ import annotations

import fcntl
import json
import math
import operator
import os
import re
import socket
import time
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Iterable

from safetensors import safe_open

from .config import BEST_METRICS

FORMAT_VERSION = 1
STATE_FILE = "training_state.json"
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_PATTERN = "model*.safetensors"  # Accelerate names the first model's weights model.safetensors, then model_1...
CONFIG_FILE = "config.yaml"
BEST_FILE = "best.json"
CHECKPOINT_NAME = re.compile(r"^checkpoint_(\d+)(?:_step(\d+))?$")  # checkpoint_E or checkpoint_E_stepS
PHASE_NAME = re.compile(r"^phase_(\d+)$")


class CheckpointError(RuntimeError):
    """A checkpoint folder is missing, incomplete or does not fit this run."""


@dataclass
class History:
    """Per-epoch statistics over all phases; the plots and the model card are drawn from it."""

    phase: list[int] = field(default_factory=list)
    epoch: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    iou: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    samples_per_s: list[float] = field(default_factory=list)
    # validated epochs only, keyed by the epoch as a string (JSON keys)
    val_auc: dict[str, float] = field(default_factory=dict)  # tracking success AUC on the held-out sequences
    free_iou: dict[str, float] = field(default_factory=dict)  # free-running IoU on the held-out crops
    prior_iou: dict[str, float] = field(default_factory=dict)  # IoU of the training set's mean box, same crops
    free_spread: dict[str, list[float]] = field(default_factory=dict)  # predicted / target token spread, per coord

    def append(self, *, phase: int, epoch: int, loss: float, iou: float, lr: float, samples_per_s: float) -> None:
        self.phase.append(phase)
        self.epoch.append(epoch)
        self.loss.append(loss)
        self.iou.append(iou)
        self.lr.append(lr)
        self.samples_per_s.append(samples_per_s)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, values: dict) -> History:
        return cls(**{k: values.get(k, getattr(cls(), k)) for k in cls.__dataclass_fields__})

    def values(self, metric: str) -> list[tuple[int, int, float]]:
        """(phase, epoch, value) of every epoch that has a finite value of ``metric`` (a key of ``BEST_METRICS``),
        oldest first."""
        column = getattr(self, BEST_METRICS[metric].key)
        found = []
        for i, (phase, epoch) in enumerate(zip(self.phase, self.epoch)):
            value = column[i] if isinstance(column, list) else column.get(str(epoch))
            if value is not None and math.isfinite(value):
                found.append((phase, epoch, float(value)))
        return found


@dataclass
class TrainingState:
    """What ``training_state.json`` holds besides Accelerate's files."""

    phase: int
    epoch: int  # completed epochs (end-of-epoch checkpoint) or the epoch in progress (step checkpoint)
    global_step: int  # batches processed per process, over all phases
    step_in_epoch: int  # batches of ``epoch`` already done; 0 for an end-of-epoch checkpoint
    history: History
    model_signature: dict
    config_name: str
    world_size: int
    versions: dict
    partial_sums: list[list[float]] = field(default_factory=list)  # per rank [loss_sum, iou_sum, count] mid-epoch
    saved_at: str = ""

    @property
    def complete_epoch(self) -> bool:
        return self.step_in_epoch == 0

    def to_dict(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "phase": self.phase,
            "epoch": self.epoch,
            "global_step": self.global_step,
            "step_in_epoch": self.step_in_epoch,
            "complete": True,
            "history": self.history.to_dict(),
            "model_signature": self.model_signature,
            "config_name": self.config_name,
            "world_size": self.world_size,
            "versions": self.versions,
            "partial_sums": self.partial_sums,
            "saved_at": self.saved_at,
        }

    @classmethod
    def read(cls, folder: Path) -> TrainingState:
        path = Path(folder) / STATE_FILE
        if not path.is_file():
            raise CheckpointError(
                f"{folder} is not a checkpoint folder: it has no {STATE_FILE}. Pass a folder like "
                "DIR/phase_1/checkpoints/checkpoint_5, or 'latest'."
            )
        try:
            values = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise CheckpointError(f"{path} is not valid JSON ({e}); the checkpoint is damaged, use an earlier one") from None
        version = values.get("format_version")
        if version != FORMAT_VERSION:
            raise CheckpointError(f"{path} has format_version {version!r}; this version of seqtrack-accel reads {FORMAT_VERSION}")
        try:
            return cls(
                phase=int(values["phase"]), epoch=int(values["epoch"]), global_step=int(values["global_step"]),
                step_in_epoch=int(values["step_in_epoch"]), history=History.from_dict(values["history"]),
                model_signature=dict(values["model_signature"]), config_name=str(values["config_name"]),
                world_size=int(values["world_size"]), versions=dict(values["versions"]),
                partial_sums=list(values.get("partial_sums", [])), saved_at=str(values.get("saved_at", "")),
            )
        except KeyError as e:
            raise CheckpointError(f"{path} lacks the key {e.args[0]!r}; the checkpoint is damaged, use an earlier one") from None


def checkpoint_name(epoch: int, global_step: int, end_of_epoch: bool) -> str:
    return f"checkpoint_{epoch}" if end_of_epoch else f"checkpoint_{epoch}_step{global_step}"


def phase_dir(run_dir: Path, phase: int) -> Path:
    return Path(run_dir) / f"phase_{phase}"


def checkpoints_dir(run_dir: Path, phase: int) -> Path:
    return phase_dir(run_dir, phase) / "checkpoints"


def checkpoint_order(name: str) -> tuple[int, int]:
    """Sort key of a checkpoint folder name within a phase: (finished epochs, global step inside the next epoch).
    checkpoint_<E> is after E epochs, while checkpoint_<E>_step<S> is inside epoch E, i.e. after E-1 epochs and S steps.
    """
    m = CHECKPOINT_NAME.match(name)
    if m is None:
        raise ValueError(f"{name!r} is not a checkpoint folder name (checkpoint_E or checkpoint_E_stepS)")
    epoch, step = int(m.group(1)), m.group(2)
    return (epoch, 0) if step is None else (epoch - 1, int(step))


def list_checkpoints(run_dir: Path, phase: int) -> list[Path]:
    """Complete checkpoints of one phase, oldest first."""
    folder = checkpoints_dir(run_dir, phase)
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_dir() and CHECKPOINT_NAME.match(p.name) and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: checkpoint_order(p.name))


def phases(run_dir: Path) -> list[int]:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    return sorted(int(m.group(1)) for p in run_dir.iterdir() if (m := PHASE_NAME.match(p.name)) and p.is_dir())


def latest_checkpoint(run_dir: Path, up_to_phase: int) -> Path | None:
    """The newest complete checkpoint of phase ``up_to_phase``, else of the highest earlier phase that has one."""
    return next(iter(all_checkpoints(run_dir, up_to_phase)), None)


def all_checkpoints(run_dir: Path, up_to_phase: int) -> list[Path]:
    """Complete checkpoints of phases 1..``up_to_phase``, newest first (higher phases before lower ones)."""
    return [c for phase in sorted((p for p in phases(run_dir) if p <= up_to_phase), reverse=True)
            for c in reversed(list_checkpoints(run_dir, phase))]


@dataclass(frozen=True)
class BestCheckpoint:
    """The end-of-epoch checkpoint of the epoch with the best value of a metric (``best_checkpoint``)."""

    folder: Path
    phase: int
    epoch: int
    metric: str  # a key of BEST_METRICS
    value: float

    def describe(self) -> str:
        """E.g. ``phase_1/checkpoints/checkpoint_12, free-running IoU 0.8123 at epoch 12``."""
        where = "/".join(self.folder.parts[-3:])
        return f"{where}, {BEST_METRICS[self.metric].label} {self.value:.4f} at epoch {self.epoch}"

    def pointer(self, path: str) -> dict:
        """The content of ``best.json``; ``path``: the checkpoint relative to the folder that holds the file."""
        return {"path": path, "phase": self.phase, "epoch": self.epoch, "metric": self.metric, "value": self.value}


def best_checkpoint(run_dir: Path, history: History, metric: str) -> BestCheckpoint | None:
    """The run's best checkpoint by ``metric``, derived from ``history`` (which every checkpoint carries, so a resume
    finds the same one): the epoch with the best value among those whose end-of-epoch checkpoint is in ``run_dir``;
    the earliest of equal values. None when no such epoch has a value."""
    better = operator.gt if BEST_METRICS[metric].larger_is_better else operator.lt
    best = None
    for phase, epoch, value in history.values(metric):
        folder = checkpoints_dir(run_dir, phase) / checkpoint_name(epoch, 0, end_of_epoch=True)
        if (folder / STATE_FILE).is_file() and (best is None or better(value, best.value)):
            best = BestCheckpoint(folder, phase, epoch, metric, value)
    return best


def has_finite_weights(folder: Path) -> bool:
    """Whether every tensor of the checkpoint's weights file is finite (reads the file)."""
    with safe_open(str(Path(folder) / WEIGHTS_FILE), framework="pt") as f:
        return all(bool(f.get_tensor(name).isfinite().all()) for name in f.keys())


def last_finite_checkpoint(run_dir: Path, up_to_phase: int) -> Path | None:
    """The newest complete checkpoint whose weights are all finite (what to resume from after a NaN)."""
    return next((c for c in all_checkpoints(run_dir, up_to_phase) if has_finite_weights(c)), None)


def is_full_state(names: Iterable[str]) -> bool:
    """Whether a checkpoint's file names (or paths) include the optimizer and RNG states needed to resume training."""
    names = [n.rsplit("/", 1)[-1] for n in names]
    return any(n.startswith("optimizer") for n in names) and any(fnmatch(n, "random_states_*.pkl") for n in names)


def verify_checkpoint(folder: Path, world_size: int | None = None) -> TrainingState:
    """Check that every file a resume needs is present and readable; return the training state."""
    folder = Path(folder)
    if folder.is_file():
        holder = folder.parent
        fix = (f"pass the checkpoint folder that holds it, {holder}" if (holder / STATE_FILE).is_file() else
               "pass a checkpoint folder, <run>/phase_<n>/checkpoints/checkpoint_<epoch>")
        raise CheckpointError(f"{folder} names a file, not a checkpoint folder: {fix}")
    if not folder.is_dir():
        raise CheckpointError(f"checkpoint folder {folder} does not exist")
    state = TrainingState.read(folder)
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"{folder} has no {WEIGHTS_FILE}; the checkpoint is incomplete, use an earlier one")
    try:
        with safe_open(str(weights), framework="pt") as f:
            if not list(f.keys()):
                raise CheckpointError(f"{weights} holds no tensors")
    except CheckpointError:
        raise
    except Exception as e:  # safetensors raises its own error types for truncated headers
        raise CheckpointError(f"checkpoint {folder} is damaged: {WEIGHTS_FILE} cannot be loaded ({e})") from None
    required = ["optimizer.bin", "scheduler.bin"]
    required += [f"random_states_{rank}.pkl" for rank in range(world_size if world_size is not None else state.world_size)]
    for name in required:
        if not (folder / name).is_file() or (folder / name).stat().st_size == 0:
            raise CheckpointError(f"{folder} lacks {name}; the checkpoint is incomplete, use an earlier one")
    return state


def check_loadable(folder: Path, state: TrainingState) -> None:
    """Load every file a full-state resume restores, as Accelerate's ``load_state`` will: a damaged file otherwise
    surfaces as a torch unpickling traceback that names neither the file nor the checkpoint."""
    from accelerate.utils import load  # here: the Hub tools read checkpoint folders without loading torch

    folder = Path(folder)
    names = [WEIGHTS_FILE, "optimizer.bin", "scheduler.bin",
             *(f"random_states_{rank}.pkl" for rank in range(state.world_size))]
    names += ["scaler.pt"] if (folder / "scaler.pt").is_file() else []
    for name in names:
        try:
            if name == WEIGHTS_FILE:
                with safe_open(str(folder / name), framework="pt") as f:
                    for key in f.keys():
                        f.get_tensor(key)
            else:
                load(str(folder / name), map_location="cpu")
        except Exception as e:  # whatever the unpickler or safetensors raises for a damaged file
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise CheckpointError(f"checkpoint {folder} is damaged: {name} cannot be loaded ({reason[:200]})") from None


def intact_checkpoint_before(folder: Path) -> Path | None:
    """The newest checkpoint of the same run older than ``folder`` (or than the folder holding ``folder``, a file of a
    checkpoint) whose files all load (None: there is none)."""
    folder = Path(folder)
    if folder.is_file():
        folder = folder.parent
    phase = PHASE_NAME.match(folder.parent.parent.name)
    if phase is None:
        return None
    older = all_checkpoints(folder.parents[2], int(phase.group(1)))
    older = older[older.index(folder) + 1:] if folder in older else older
    for candidate in older:
        try:
            check_loadable(candidate, verify_checkpoint(candidate))
        except CheckpointError:
            continue
        return candidate
    return None


class RunLock:
    """One run at a time in a run folder: an exclusive ``flock`` on ``DIR/.lock``, held while the run trains.

    The kernel drops the lock when the holding process ends, however it ends (a SIGKILL included), so a killed run
    never leaves the folder locked; the file itself stays and records the last holder (PID, host, start time).
    """

    FILE = ".lock"

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / self.FILE
        self._file = None

    def acquire(self) -> None:
        """Take the lock, or raise CheckpointError naming the process that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            f.close()
            raise CheckpointError(
                f"{self.path.parent} is in use by another run ({holder}); wait for it to finish or stop it, or choose "
                "another --output_dir") from None
        f.seek(0)
        f.truncate()
        f.write(f"PID {os.getpid()} on host {socket.gethostname()}, since "
                f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        f.flush()
        self._file = f

    def holder(self) -> str | None:
        """The process that holds the lock now (the PID line of ``DIR/.lock``), or None when none does. For tools
        that must leave a running run's folder alone; it takes nothing (a shared lock tried and dropped at once)."""
        try:
            f = open(self.path)
        except FileNotFoundError:
            return None
        with f:
            try:
                fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return f.read().strip() or "unknown"
            fcntl.flock(f, fcntl.LOCK_UN)
        return None

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

