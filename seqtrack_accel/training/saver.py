"""Writing checkpoints: one ``CheckpointSaver`` per phase owns their names, their crash-consistent writing, the
NaN checks before each, rotation, and the best checkpoint (as timm's ``CheckpointSaver`` keeps ``model_best``
beside its rotation).

    saver = CheckpointSaver(accelerator, cfg, run_dir, phase, mirror)
    saver.start(history)                                  # the best checkpoint so far, from the restored history
    saver.check_finite(model, bad_step, epoch, step)      # raises before anything non-finite is published
    folder = saver.save(history, epoch, global_step)      # end of epoch; step=, sums= inside an epoch

A checkpoint is Accelerate's ``save_state`` output plus ``training_state.json`` and ``config.yaml``, written under a
temporary name, verified, flushed, and only then renamed to ``checkpoint_<epoch>`` (end of an epoch) or
``checkpoint_<epoch>_step<global step>`` (inside an epoch). A kill at any instant therefore leaves either the
previous complete checkpoint or the new complete one; temporary folders are ignored and cleaned up at the next start.

The best checkpoint is the end-of-epoch checkpoint with the best value of ``train.best_metric`` in the history that
every checkpoint carries (``run_folder.best_checkpoint``): nothing else records it, so a resume or a later phase
finds the same one. Rotation keeps the newest ``train.keep_last`` checkpoints of the phase plus the best, and
``DIR/best.json`` points at it (the Hub mirror copies it to the repo after the checkpoint's files).
"""

from __future__ import annotations

import datetime
import errno
import logging
import os
import re
import resource
import shutil
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import gather_object
from safetensors import SafetensorError

from .. import versions
from ..config import BEST_METRICS, Config, dump_config, flat_config, model_signature
from ..files import write_json_atomic, write_text_atomic
from ..run_folder import (BEST_FILE, CONFIG_FILE, STATE_FILE, BestCheckpoint, CheckpointError, History,
                          TrainingState, best_checkpoint, checkpoint_name, checkpoints_dir, last_finite_checkpoint,
                          latest_checkpoint, list_checkpoints, verify_checkpoint)

logger = logging.getLogger("seqtrack_accel.train")

TMP_PREFIX = ".tmp-"


class CheckpointSaver:
    """Writes the checkpoints of one phase of a run (a collective: every process calls ``save`` and
    ``check_finite`` at the same points) and keeps its best checkpoint.

    Args:
        accelerator: the run's; its ``save_state`` writes the model, optimizer, scheduler and RNG states.
        cfg: the run's config (``train.keep_last``, ``train.best_metric``; written into every checkpoint).
        run_dir, phase: where the checkpoints go: ``run_dir/phase_N/checkpoints/``.
        mirror: the Hub mirror (main process), given each published checkpoint; None: no mirroring.
    """

    def __init__(self, accelerator: Accelerator, cfg: Config, run_dir: Path, phase: int, mirror=None):
        self.accelerator, self.cfg, self.phase, self.mirror = accelerator, cfg, phase, mirror
        self.run_dir = Path(run_dir)
        self.folder = checkpoints_dir(self.run_dir, phase)
        self.best: BestCheckpoint | None = None

    def start(self, history: History) -> None:
        """Find the best checkpoint of the restored ``history`` and point ``best.json`` at it (main process)."""
        if not self.accelerator.is_main_process:
            return
        metric = self.cfg.train.best_metric
        setting = BEST_METRICS[metric].computed_by
        if setting and not flat_config(self.cfg)[setting]:
            logger.warning("train.best_metric=%s is computed only when %s > 0: no epoch of this run can become the "
                           "best checkpoint", metric, setting)
        self.best = best_checkpoint(self.run_dir, history, metric)
        if self.best is not None:
            self._point_at_best()
            logger.info("best checkpoint so far: %s", self.best.describe())

    def check_finite(self, model: torch.nn.Module, bad_step: torch.Tensor, epoch: int, global_step: int) -> None:
        """Raise FloatingPointError, naming the last checkpoint with finite weights, when a loss of this epoch was not
        finite (``bad_step``: the first global step whose loss was not, -1: none) or the weights are not."""
        step = int(self.accelerator.gather(bad_step.reshape(1)).max().item())
        if step >= 0:
            what = f"the loss became NaN or inf in epoch {epoch} (first at global step {step})"
        elif not bool(torch.stack([p.detach().isfinite().all() for p in model.parameters()]).all()):
            # The loss of every step was finite, but the last optimizer step made weights NaN or inf.
            what = f"the weights became NaN or inf in epoch {epoch} (by global step {global_step})"
        else:
            return
        last = last_finite_checkpoint(self.run_dir, self.phase)
        raise FloatingPointError(
            f"{what}; training stopped without writing a checkpoint. The last checkpoint with finite weights is "
            f"{last or 'none'}. Lower train.lr, check the data, or use bf16 instead of fp16, then resume with "
            f"--resume_from_checkpoint {last or 'latest'}")

    def save(self, history: History, epoch: int, global_step: int, *, step: int = 0,
             sums: torch.Tensor | None = None) -> Path:
        """Write, verify and publish a checkpoint, then rotate and update the best checkpoint; returns its folder.

        Args:
            history: the run's history, up to the last finished epoch.
            epoch: the finished epoch (``step=0``) or the one in progress.
            global_step: batches processed per process, over all phases.
            step: batches of ``epoch`` done, for a checkpoint inside the epoch; 0 at its end.
            sums: inside an epoch, this process's [loss sum, IoU sum, batch count] of the epoch so far (the resumed
                epoch's log continues them).
        """
        acc = self.accelerator
        final = self.folder / checkpoint_name(epoch, global_step, end_of_epoch=step == 0)
        tmp = temporary_dir(final)
        partial = acc.gather(sums[None]).tolist() if step else []

        def make_folder() -> None:
            if acc.is_main_process:
                shutil.rmtree(tmp, ignore_errors=True)
                tmp.mkdir(parents=True)

        def write() -> None:
            acc.save_state(str(tmp))
            if acc.is_main_process:
                state = TrainingState(
                    phase=self.phase, epoch=epoch, global_step=global_step, step_in_epoch=step, history=history,
                    model_signature=model_signature(self.cfg), config_name=self.cfg.name,
                    world_size=acc.num_processes, versions=versions(), partial_sums=partial,
                    saved_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                )
                write_json_atomic(tmp / STATE_FILE, state.to_dict())
                write_text_atomic(tmp / CONFIG_FILE, dump_config(self.cfg))

        failure = self._on_every_process(make_folder) or self._on_every_process(write)
        if failure:
            if acc.is_main_process:
                shutil.rmtree(tmp, ignore_errors=True)
            last = latest_checkpoint(self.run_dir, self.phase)
            raise CheckpointError(
                f"could not write checkpoint {final}: {failure}. The partial write was removed; the last checkpoint "
                f"{last or '(none yet)'} is intact. Remove the cause (free space, raise the file-size limit, make "
                f"{self.folder} writable), then resume with --resume_from_checkpoint latest")
        if acc.is_main_process:
            publish(tmp, final, acc.num_processes)
            if step == 0:
                self._update_best(history, global_step)
            protect = {final} | ({self.best.folder} if self.best is not None else set())
            for removed in rotate(self.run_dir, self.phase, self.cfg.train.keep_last, protect=protect):
                logger.info("rotated out %s", removed)
            logger.info("checkpoint written: %s", final)
            if self.mirror is not None:
                self.mirror.submit_checkpoint(final, self.phase)
        acc.wait_for_everyone()
        return final

    def _update_best(self, history: History, global_step: int) -> None:
        best = best_checkpoint(self.run_dir, history, self.cfg.train.best_metric)
        if best is None or best == self.best:
            return
        self.best = best
        self._point_at_best()
        logger.info("new best checkpoint: %s", best.describe())
        self.accelerator.log({"best/checkpoint": best.folder.relative_to(self.run_dir).as_posix(),
                              "best/epoch": best.epoch, f"best/{best.metric}": best.value}, step=global_step)

    def _point_at_best(self) -> None:
        path = self.best.folder.relative_to(self.run_dir).as_posix()
        write_json_atomic(self.run_dir / BEST_FILE, self.best.pointer(path))

    def _on_every_process(self, write) -> str | None:
        """Run ``write`` on every process; the first storage failure of any process, described, or None. A
        collective: every process learns of a failure on any other, so none waits for a failed one."""
        failure = None
        try:
            write()
        except WRITE_ERRORS as e:  # each library reports a full disk in its own way
            failure = describe_write_error(e, self.folder)
        return next((f for f in gather_object([failure]) if f), None)


# What a checkpoint write can fail with for want of storage: the OS (OSError), torch.save (a RuntimeError such as
# "[enforce fail at inline_container.cc] unexpected pos ..."), safetensors (SafetensorError, "... (os error 28)").
WRITE_ERRORS = (OSError, RuntimeError, SafetensorError)


def describe_write_error(error: BaseException, folder: Path) -> str:
    """What stopped a checkpoint write, in words: a full disk (with its free space), a file-size limit (``ulimit
    -f``), a read-only or unwritable folder are named as such, anything else is given as it is. The libraries do not
    always say: torch.save reports a short write as "unexpected pos", safetensors puts the OS error in its text."""
    code = getattr(error, "errno", None)
    if code is None and (found := re.search(r"os error (\d+)", str(error))):
        code = int(found.group(1))
    existing = next(p for p in [Path(folder), *Path(folder).parents] if p.exists())
    free = shutil.disk_usage(existing).free
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if code in (errno.ENOSPC, errno.EDQUOT) or free < 64 * 2**20:
        return f"the disk holding {folder} is full: {free / 2**20:.1f} MiB free ({error})"
    if code == errno.EFBIG or (code is None and limit != resource.RLIM_INFINITY):
        size = f" of {limit} bytes" if limit != resource.RLIM_INFINITY else ""
        return (f"a file in {folder} would exceed this process's file-size limit{size} (ulimit -f); "
                f"{free / 2**20:.0f} MiB are free on the disk ({error})")
    if code == errno.EROFS:
        return f"{folder} is on a read-only file system ({error})"
    if code in (errno.EACCES, errno.EPERM) or not os.access(existing, os.W_OK):
        return f"{folder} is not writable ({error})"
    return f"{type(error).__name__}: {error}"


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temporary_dir(final: Path) -> Path:
    return final.parent / f"{TMP_PREFIX}{final.name}"


def _set_aside_name(final: Path) -> Path:
    """Where ``publish`` keeps the previous checkpoint of the same name while it puts the new one in place."""
    return final.parent / f"{TMP_PREFIX}old-{final.name}"


def clean_temporaries(folder: Path) -> None:
    """Finish what an interrupted ``publish`` left: a previous checkpoint that was set aside while its name was
    re-written goes back under its name when the new one never got there; other temporary folders are removed."""
    if not folder.is_dir():
        return
    for p in sorted(folder.iterdir()):
        if p.name.startswith(f"{TMP_PREFIX}old-") and p.is_dir():
            final = folder / p.name[len(f"{TMP_PREFIX}old-"):]
            if not final.exists():
                logger.info("restoring %s, set aside by an interrupted checkpoint write", final)
                os.replace(p, final)
    for p in folder.iterdir():
        if p.name.startswith(TMP_PREFIX) and p.is_dir():
            logger.info("removing the unfinished checkpoint write %s", p)
            shutil.rmtree(p, ignore_errors=True)


def publish(tmp: Path, final: Path, world_size: int) -> None:
    """Verify the files in ``tmp``, flush them to disk and rename the folder to ``final`` (main process only).

    A kill at any instant leaves at least the complete checkpoints there were before, once ``clean_temporaries``
    has run (the trainer runs it at start): when ``final`` already exists (an epoch trained again after a resume
    from an earlier checkpoint), it is set aside under a temporary name that ``clean_temporaries`` restores if the
    new folder never took its place.
    """
    verify_checkpoint(tmp, world_size)
    _fsync_tree(tmp)
    if final.exists():
        old = _set_aside_name(final)
        shutil.rmtree(old, ignore_errors=True)  # a leftover whose name was already restored or replaced
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
    _fsync_dir(final.parent)


def rotate(run_dir: Path, phase: int, keep_last: int, protect: set[Path] = frozenset()) -> list[Path]:
    """Delete the oldest checkpoints of ``phase`` beyond the newest ``keep_last``, except protected ones (the one just
    written, the best); returns what was deleted. Earlier phases' checkpoints are never deleted."""
    found = list_checkpoints(run_dir, phase)
    removed = []
    for folder in found[: max(0, len(found) - keep_last)]:
        if folder not in protect:
            shutil.rmtree(folder)
            removed.append(folder)
    return removed
