"""Checkpoint folders: what counts as complete, ordering, rotation, interrupted writes, the best checkpoint."""

from __future__ import annotations

import json
import os
import shutil
import signal

import pytest

from seqtrack_accel import run_folder as ckpt
from seqtrack_accel.run_folder import CheckpointError, History, TrainingState
from seqtrack_accel.training import saver


def _state(epoch: int, step_in_epoch: int = 0) -> TrainingState:
    return TrainingState(phase=1, epoch=epoch, global_step=4 * epoch, step_in_epoch=step_in_epoch, history=History(),
                         model_signature={}, config_name="t", world_size=1, versions={})


def _fake_checkpoint(folder, epoch: int, step_in_epoch: int = 0):
    folder.mkdir(parents=True)
    (folder / ckpt.STATE_FILE).write_text(json.dumps(_state(epoch, step_in_epoch).to_dict()))
    return folder


def test_newest_complete_checkpoint_ignores_temporary_folders(tmp_path):
    root = ckpt.checkpoints_dir(tmp_path, 1)
    _fake_checkpoint(root / "checkpoint_1", 1)
    _fake_checkpoint(root / ".tmp-checkpoint_2", 2)
    assert ckpt.latest_checkpoint(tmp_path, 1) == root / "checkpoint_1"


def test_end_of_epoch_checkpoint_is_newer_than_step_checkpoints_of_its_epoch(tmp_path):
    root = ckpt.checkpoints_dir(tmp_path, 1)
    _fake_checkpoint(root / "checkpoint_2_step7", 2, 3)
    _fake_checkpoint(root / "checkpoint_2", 2)
    _fake_checkpoint(root / "checkpoint_3_step10", 3, 2)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path, 1)] == ["checkpoint_2_step7", "checkpoint_2", "checkpoint_3_step10"]


def test_latest_falls_back_to_the_highest_earlier_phase(tmp_path):
    _fake_checkpoint(ckpt.checkpoints_dir(tmp_path, 1) / "checkpoint_4", 4)
    (tmp_path / "phase_2").mkdir()
    assert ckpt.latest_checkpoint(tmp_path, 2).name == "checkpoint_4"


def test_rotation_keeps_the_last_k(tmp_path):
    root = ckpt.checkpoints_dir(tmp_path, 1)
    for e in range(1, 6):
        _fake_checkpoint(root / f"checkpoint_{e}", e)
    saver.rotate(tmp_path, 1, keep_last=2)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path, 1)] == ["checkpoint_4", "checkpoint_5"]


def test_rotation_of_one_phase_leaves_the_final_checkpoint_of_earlier_phases(tmp_path):
    _fake_checkpoint(ckpt.checkpoints_dir(tmp_path, 1) / "checkpoint_2", 2)
    for e in range(3, 6):
        _fake_checkpoint(ckpt.checkpoints_dir(tmp_path, 2) / f"checkpoint_{e}", e)
    saver.rotate(tmp_path, 2, keep_last=1)
    assert (ckpt.checkpoints_dir(tmp_path, 1) / "checkpoint_2").is_dir()


def test_rotation_keeps_the_newest_and_a_protected_best_one(tmp_path):
    root = ckpt.checkpoints_dir(tmp_path, 1)
    for e in range(1, 6):
        _fake_checkpoint(root / f"checkpoint_{e}", e)
    saver.rotate(tmp_path, 1, keep_last=2, protect={root / "checkpoint_2"})
    assert [p.name for p in ckpt.list_checkpoints(tmp_path, 1)] == ["checkpoint_2", "checkpoint_4", "checkpoint_5"]


def test_the_best_checkpoint_is_the_best_epoch_of_the_history_that_has_a_checkpoint(tmp_path):
    history = History(phase=[1, 1, 1, 1], epoch=[1, 2, 3, 4], loss=[4.0, 3.0, 2.0, 1.0],
                      free_iou={"1": 0.3, "2": 0.6, "3": 0.6, "4": 0.9})
    for e in (1, 2, 3):  # epoch 4's checkpoint was never written (a NaN, say)
        _fake_checkpoint(ckpt.checkpoints_dir(tmp_path, 1) / f"checkpoint_{e}", e)

    best = ckpt.best_checkpoint(tmp_path, history, "free_iou")

    assert (best.folder.name, best.epoch, best.value) == ("checkpoint_2", 2, 0.6)  # the earliest of equal values
    assert best.describe() == "phase_1/checkpoints/checkpoint_2, free-running IoU 0.6000 at epoch 2"
    assert ckpt.best_checkpoint(tmp_path, history, "loss").epoch == 3  # the lower, the better
    assert ckpt.best_checkpoint(tmp_path, history, "val_auc") is None  # never validated


def test_the_best_checkpoint_of_a_later_phase_may_be_an_earlier_phases(tmp_path):
    history = History(phase=[1, 1, 2], epoch=[1, 2, 3], loss=[3.0, 1.0, 2.0])
    for phase, e in ((1, 1), (1, 2), (2, 3)):
        _fake_checkpoint(ckpt.checkpoints_dir(tmp_path, phase) / f"checkpoint_{e}", e)
    assert ckpt.best_checkpoint(tmp_path, history, "loss").folder == ckpt.checkpoints_dir(tmp_path, 1) / "checkpoint_2"


def test_interrupted_writes_are_cleaned_up(tmp_path):
    root = ckpt.checkpoints_dir(tmp_path, 1)
    _fake_checkpoint(root / ".tmp-checkpoint_3", 3)
    saver.clean_temporaries(root)
    assert not (root / ".tmp-checkpoint_3").exists()


def test_incomplete_checkpoint_fails_verification_naming_the_missing_file(tmp_path):
    folder = _fake_checkpoint(tmp_path / "checkpoint_1", 1)
    with pytest.raises(CheckpointError, match="model.safetensors"):
        ckpt.verify_checkpoint(folder)


def test_a_file_outside_any_checkpoint_is_refused_saying_what_a_checkpoint_folder_is(tmp_path):
    path = tmp_path / "weights.safetensors"
    path.write_bytes(b"not a folder")
    with pytest.raises(CheckpointError, match=r"weights.safetensors names a file, not a checkpoint folder: pass a "
                                              r"checkpoint folder, <run>/phase_<n>/checkpoints/checkpoint_<epoch>$"):
        ckpt.verify_checkpoint(path)


def test_state_file_of_another_format_version_is_refused(tmp_path):
    folder = _fake_checkpoint(tmp_path / "checkpoint_1", 1)
    values = json.loads((folder / ckpt.STATE_FILE).read_text())
    (folder / ckpt.STATE_FILE).write_text(json.dumps({**values, "format_version": 99}))
    with pytest.raises(CheckpointError, match="format_version"):
        TrainingState.read(folder)


def _publish_killed_at_call(folder, kill_at: int) -> bool:
    """Publish ``.tmp-checkpoint_2`` as ``checkpoint_2`` in a forked child that SIGKILLs itself at its ``kill_at``-th
    file-system call (flush, rename or removal). Returns whether publish ran to its end before that call."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            calls = [0]

            def killed_at_call(fn):
                def call(*args, **kwargs):
                    calls[0] += 1
                    if calls[0] == kill_at:
                        os.kill(os.getpid(), signal.SIGKILL)
                    return fn(*args, **kwargs)
                return call

            os.fsync, os.replace = killed_at_call(os.fsync), killed_at_call(os.replace)
            shutil.rmtree = killed_at_call(shutil.rmtree)
            saver.publish(folder / ".tmp-checkpoint_2", folder / "checkpoint_2", 1)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status)


def test_a_kill_at_any_step_of_re_publishing_a_name_keeps_every_complete_checkpoint(tmp_path):
    from hub_helpers import make_fake_checkpoint

    for kill_at in range(1, 100):
        run = tmp_path / f"kill_{kill_at}"
        make_fake_checkpoint(run, epoch=1)
        make_fake_checkpoint(run, epoch=2)  # the name being written again, as after a resume from checkpoint_1
        new = make_fake_checkpoint(tmp_path / f"new_{kill_at}", epoch=2, global_step=99)
        folder = run / "phase_1" / "checkpoints"
        shutil.move(new, folder / ".tmp-checkpoint_2")
        finished = _publish_killed_at_call(folder, kill_at)
        saver.clean_temporaries(folder)  # what the next run does first
        complete = [c.name for c in ckpt.list_checkpoints(run, 1) if ckpt.verify_checkpoint(c)]
        assert complete == ["checkpoint_1", "checkpoint_2"], f"killed at file-system call {kill_at}"
        if finished:
            assert ckpt.verify_checkpoint(folder / "checkpoint_2").global_step == 99
            break
    assert kill_at > 4  # the kills landed on flushes, both renames and the removals
