"""The trainer end to end on CPU: layout, TensorBoard, exact resume, phases, errors, NaN."""

from __future__ import annotations

import errno
import json
import os
import re
import resource
import shutil
from pathlib import Path

import pytest
import torch
from safetensors import SafetensorError
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from train_helpers import sha, tiny_config, train

from seqtrack_accel.config import load_config
from seqtrack_accel.run_folder import STATE_FILE, CheckpointError, list_checkpoints


@pytest.fixture(scope="module")
def straight_run(synthetic_lasot, tmp_path_factory):
    """Three epochs without interruption, one step checkpoint every 2 steps: the reference for the resume tests."""
    run_dir = tmp_path_factory.mktemp("straight")
    cfg = tiny_config(synthetic_lasot, "train.checkpoint_every_steps=2")
    result = train(cfg, run_dir, epochs=3)
    return cfg, run_dir, result


def ckpt(run_dir, name, phase=1):
    return run_dir / f"phase_{phase}" / "checkpoints" / name


def test_run_writes_the_output_layout(straight_run):
    cfg, run_dir, _ = straight_run
    assert (run_dir / "config.yaml").is_file()
    assert (run_dir / "logs" / f"seqtrack-{cfg.name}.log").is_file()
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    for name in ("model.safetensors", "optimizer.bin", "scheduler.bin", "random_states_0.pkl",
                 "training_state.json", "config.yaml"):
        assert (ckpt(run_dir, "checkpoint_3") / name).is_file(), name
    for plot in ("plots/loss.png", "plots/iou.png", "phase_1/plots/loss.png", "phase_1/plots/iou.png"):
        assert (run_dir / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", plot


def test_log_file_has_the_original_line_format(straight_run):
    cfg, run_dir, _ = straight_run
    text = (run_dir / "logs" / f"seqtrack-{cfg.name}.log").read_text()
    assert "[train: 1, 2 / 4] samples/s" in text and "Loss/total" in text and "IoU" in text


def test_tensorboard_holds_loss_iou_lr_and_images(straight_run):
    _, run_dir, _ = straight_run
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"images": 0, "scalars": 0}).Reload()
    tags = events.Tags()
    for tag in ("train/loss", "train/iou", "epoch/loss", "epoch/iou", "lr/encoder", "lr/decoder", "train/samples_per_s"):
        assert tag in tags["scalars"], tag
    assert [e.step for e in events.Scalars("epoch/loss")] == [4, 8, 12]
    assert {"train/search_boxes", "val/free_run_boxes"} <= set(tags["images"])


def test_tensorboard_holds_one_run_with_the_config_as_hyperparameters(straight_run):
    _, run_dir, _ = straight_run
    assert [p for p in (run_dir / "tensorboard").iterdir() if p.is_dir()] == []  # no timestamped sub-run
    events = EventAccumulator(str(run_dir / "tensorboard")).Reload()
    assert "_hparams_/experiment" in events.PluginTagToContent("hparams")


def test_history_has_one_entry_per_epoch_and_the_step_decay(straight_run):
    cfg, _, result = straight_run
    assert result.history.epoch == [1, 2, 3]
    assert result.history.lr == [cfg.train.lr, cfg.train.lr, cfg.train.lr * cfg.train.lr_drop_factor]


def test_free_running_and_prior_iou_are_in_history_tensorboard_and_log_every_epoch(straight_run):
    cfg, run_dir, result = straight_run
    assert list(result.history.free_iou) == list(result.history.prior_iou) == ["1", "2", "3"]
    events = EventAccumulator(str(run_dir / "tensorboard")).Reload()
    for tag in ("val/free_iou", "val/prior_iou", "val/spread_cx"):
        assert [e.step for e in events.Scalars(tag)] == [4, 8, 12], tag
    log = (run_dir / "logs" / f"seqtrack-{cfg.name}.log").read_text()
    assert "free-running validation after epoch 3: IoU" in log


def test_free_running_history_continues_across_a_resume(straight_run, tmp_path):
    cfg, ref_dir, ref = straight_run
    train(cfg, tmp_path, epochs=1)
    result = train(cfg, tmp_path, epochs=3, resume_from="latest")
    assert result.history.free_iou == ref.history.free_iou and result.history.prior_iou == ref.history.prior_iou


def test_collapsed_predictions_are_named_in_the_log_and_tensorboard(synthetic_lasot, tmp_path):
    # The threshold at the targets' own spread: a one-epoch model varies less than the targets in some coordinate.
    cfg = tiny_config(synthetic_lasot, "eval.collapse_spread=1.0", "eval.collapse_patience=1")
    train(cfg, tmp_path, epochs=1)
    log = (tmp_path / "logs" / f"seqtrack-{cfg.name}.log").read_text()
    assert re.search(r"WARNING .*epoch 1: the predictions have collapsed in (cx|cy|w|h)", log)
    events = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"tensors": 0}).Reload()
    assert "val/collapse/text_summary" in events.Tags()["tensors"]


def _scripted_free_iou(monkeypatch, values: list[float]) -> None:
    """Free-running validation scores ``values`` in turn (and predicts its crops' targets, for the image grid)."""
    from seqtrack_accel.training.validation import FreeRunScores, FreeRunValidation

    answers = iter(values)

    def run(self, model, device, autocast=None):
        return FreeRunScores(iou=next(answers), prior_iou=0.1, spread=(1.0, 1.0, 1.0, 1.0),
                             samples=len(self.target_tokens), predicted=self.target_tokens)

    monkeypatch.setattr(FreeRunValidation, "run", run)


def test_the_best_checkpoint_is_kept_by_its_metric_through_rotation_and_resumes(synthetic_lasot, tmp_path,
                                                                                monkeypatch):
    cfg = tiny_config(synthetic_lasot, "train.keep_last=1")
    log = tmp_path / "logs" / f"seqtrack-{cfg.name}.log"
    _scripted_free_iou(monkeypatch, [0.3, 0.6, 0.4])  # epoch 3 is worse than epoch 2
    train(cfg, tmp_path, epochs=3)
    assert [p.name for p in list_checkpoints(tmp_path, 1)] == ["checkpoint_2", "checkpoint_3"]  # best and newest
    assert json.loads((tmp_path / "best.json").read_text()) == {
        "path": "phase_1/checkpoints/checkpoint_2", "phase": 1, "epoch": 2, "metric": "free_iou", "value": 0.6}
    assert "new best checkpoint: phase_1/checkpoints/checkpoint_2, free-running IoU 0.6000 at epoch 2" in log.read_text()

    _scripted_free_iou(monkeypatch, [0.5])  # worse again: after the resume the best is still epoch 2's
    train(cfg, tmp_path, epochs=4, resume_from="latest")
    assert "best checkpoint so far: phase_1/checkpoints/checkpoint_2, free-running IoU 0.6000" in log.read_text()
    assert [p.name for p in list_checkpoints(tmp_path, 1)] == ["checkpoint_2", "checkpoint_4"]

    _scripted_free_iou(monkeypatch, [0.7])  # better: it replaces epoch 2's, which rotation then deletes
    train(cfg, tmp_path, epochs=5, resume_from="latest")
    assert [p.name for p in list_checkpoints(tmp_path, 1)] == ["checkpoint_5"]
    assert json.loads((tmp_path / "best.json").read_text())["path"] == "phase_1/checkpoints/checkpoint_5"
    events = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"scalars": 0, "tensors": 0}).Reload()
    assert [(e.step, round(e.value, 4)) for e in events.Scalars("best/free_iou")] == [(4, 0.3), (8, 0.6), (20, 0.7)]
    assert "best/checkpoint/text_summary" in events.Tags()["tensors"]


def test_without_the_validation_that_computes_the_metric_no_best_checkpoint_is_kept(synthetic_lasot, tmp_path):
    cfg = tiny_config(synthetic_lasot, "eval.free_run_every_epochs=0")
    train(cfg, tmp_path, epochs=1)
    log = (tmp_path / "logs" / f"seqtrack-{cfg.name}.log").read_text()
    assert "train.best_metric=free_iou is computed only when eval.free_run_every_epochs > 0: no epoch of this run " \
           "can become the best checkpoint" in log
    assert not (tmp_path / "best.json").exists()


def test_the_best_checkpoint_by_the_epoch_loss(synthetic_lasot, tmp_path):
    cfg = tiny_config(synthetic_lasot, "train.best_metric=loss", "train.keep_last=1")
    result = train(cfg, tmp_path, epochs=2)
    best = min(zip(result.history.loss, result.history.epoch))[1]
    assert json.loads((tmp_path / "best.json").read_text())["path"] == f"phase_1/checkpoints/checkpoint_{best}"
    assert (tmp_path / f"phase_1/checkpoints/checkpoint_{best}").is_dir()


def test_resume_from_an_epoch_checkpoint_is_bit_identical(straight_run, tmp_path):
    cfg, ref_dir, ref = straight_run
    train(cfg, tmp_path, epochs=1)
    result = train(cfg, tmp_path, epochs=3, resume_from="latest")
    assert sha(ckpt(tmp_path, "checkpoint_3") / "model.safetensors") == sha(ckpt(ref_dir, "checkpoint_3") / "model.safetensors")
    for key in ("phase", "epoch", "loss", "iou", "lr"):
        assert getattr(result.history, key) == getattr(ref.history, key), key


def test_resume_from_a_mid_epoch_step_checkpoint_is_bit_identical(straight_run, tmp_path):
    cfg, ref_dir, ref = straight_run
    step_ckpt = ckpt(ref_dir, "checkpoint_2_step6")
    assert step_ckpt.is_dir()
    result = train(cfg, tmp_path, epochs=3, resume_from=str(step_ckpt))
    assert sha(ckpt(tmp_path, "checkpoint_3") / "model.safetensors") == sha(ckpt(ref_dir, "checkpoint_3") / "model.safetensors")
    assert result.history.loss == ref.history.loss and result.history.iou == ref.history.iou


def test_auto_resume_starts_fresh_then_the_same_call_continues_bit_identically(straight_run, tmp_path):
    cfg, ref_dir, _ = straight_run
    train(cfg, tmp_path, epochs=1, resume_from="auto")  # no checkpoint yet: a fresh start
    train(cfg, tmp_path, epochs=3, resume_from="auto")  # a restart: the newest checkpoint
    assert sha(ckpt(tmp_path, "checkpoint_3") / "model.safetensors") == sha(ckpt(ref_dir, "checkpoint_3") / "model.safetensors")


def test_auto_resume_of_a_later_phase_starts_as_without_the_flag_then_resumes_its_own_checkpoint(synthetic_lasot,
                                                                                                 tmp_path):
    cfg = tiny_config(synthetic_lasot, "train.lr_drop_epoch=1", "train.phase_init=weights")
    train(cfg, tmp_path, epochs=1)
    first = train(cfg, tmp_path, phase=2, epochs=2, resume_from="auto")
    assert first.history.lr == [cfg.train.lr, cfg.train.lr]  # phase 1's weights, a fresh schedule (not 'latest')
    again = train(cfg, tmp_path, phase=2, epochs=3, resume_from="auto")
    assert again.history.phase == [1, 2, 2] and again.history.epoch == [1, 2, 3]


def test_a_stop_at_the_last_step_of_the_last_epoch_reports_a_finished_run(synthetic_lasot, tmp_path, monkeypatch):
    from seqtrack_accel.training.trainer import Trainer

    train_step = Trainer.train_step

    def stop_at_the_last_step(self, batch):
        out = train_step(self, batch)
        self.stop.requested = self.global_step == 8  # 2 epochs of 4 steps
        return out

    monkeypatch.setattr(Trainer, "train_step", stop_at_the_last_step)
    result = train(tiny_config(synthetic_lasot), tmp_path, epochs=2)
    assert not result.interrupted and result.epoch == 2
    assert result.last_checkpoint == ckpt(tmp_path, "checkpoint_2").resolve()


def test_phase_2_continues_phase_1(synthetic_lasot, tmp_path):
    cfg = tiny_config(synthetic_lasot)
    train(cfg, tmp_path, epochs=1)
    result = train(cfg, tmp_path, phase=2, epochs=2)
    assert ckpt(tmp_path, "checkpoint_2", phase=2).is_dir()
    assert result.history.epoch == [1, 2] and result.history.phase == [1, 2]
    assert (tmp_path / "phase_2" / "plots" / "loss.png").is_file()
    state = json.loads((ckpt(tmp_path, "checkpoint_2", phase=2) / "training_state.json").read_text())
    assert state["global_step"] == 8 and state["phase"] == 2


def test_a_phase_whose_previous_phase_never_ran_is_refused_naming_it(synthetic_lasot, tmp_path):
    cfg = tiny_config(synthetic_lasot)
    train(cfg, tmp_path, epochs=1)
    with pytest.raises(CheckpointError, match="phase 3 continues phase 2, but .* holds no checkpoint of phase 2; .*"
                                              "--resume_from_checkpoint .*phase_1/checkpoints/checkpoint_1"):
        train(cfg, tmp_path, phase=3, epochs=2)


def test_a_phase_starts_from_an_older_phase_when_given_its_checkpoint(synthetic_lasot, tmp_path):
    cfg = tiny_config(synthetic_lasot)
    train(cfg, tmp_path, epochs=1)
    result = train(cfg, tmp_path, phase=3, epochs=2, resume_from=str(ckpt(tmp_path, "checkpoint_1")))
    assert result.history.phase == [1, 3]


def test_phase_with_weights_only_restarts_the_schedule(synthetic_lasot, tmp_path):
    cfg = tiny_config(synthetic_lasot, "train.lr_drop_epoch=1")
    train(cfg, tmp_path, epochs=1)
    cfg2 = tiny_config(synthetic_lasot, "train.lr_drop_epoch=1", "train.phase_init=weights")
    result = train(cfg2, tmp_path, phase=2, epochs=2)
    assert result.history.lr == [cfg.train.lr, cfg.train.lr]  # a resumed schedule would have dropped it


def test_error_when_the_dataset_root_is_missing(tmp_path):
    cfg = tiny_config(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        train(cfg, tmp_path / "run", epochs=1)


def test_error_when_the_resume_path_is_not_a_checkpoint(synthetic_lasot, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="not a checkpoint folder"):
        train(tiny_config(synthetic_lasot), tmp_path / "run", epochs=1, resume_from=str(tmp_path / "empty"))


def test_error_when_the_checkpoint_model_differs_lists_the_keys(straight_run, tmp_path):
    cfg, ref_dir, _ = straight_run
    other = tiny_config(cfg.data.datasets[0].root, "data.search.size=48", "model.decoder_layers=1")
    with pytest.raises(CheckpointError) as e:
        train(other, tmp_path, epochs=4, resume_from=str(ckpt(ref_dir, "checkpoint_3")))
    assert "data.search.size" in str(e.value) and "model.decoder_layers" in str(e.value)


def test_a_checkpoint_written_before_patch_size_was_a_setting_resumes_with_16_px_patches(straight_run, tmp_path):
    cfg, ref_dir, ref = straight_run
    train(cfg, tmp_path, epochs=1)
    state_file = ckpt(tmp_path, "checkpoint_1") / STATE_FILE
    state = json.loads(state_file.read_text())
    del state["model_signature"]["model.patch_size"]
    state_file.write_text(json.dumps(state))
    result = train(cfg, tmp_path, epochs=2, resume_from="latest")
    assert result.history.loss == ref.history.loss[:2]


def test_error_when_epochs_are_already_reached(straight_run, tmp_path):
    cfg, ref_dir, _ = straight_run
    with pytest.raises(CheckpointError, match="nothing to train"):
        train(cfg, tmp_path, epochs=3, resume_from=str(ckpt(ref_dir, "checkpoint_3")))


def test_error_when_phase_1_already_has_checkpoints(straight_run):
    cfg, ref_dir, _ = straight_run
    with pytest.raises(CheckpointError, match="--resume_from_checkpoint latest"):
        train(cfg, ref_dir, epochs=4)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(synthetic_lasot, tmp_path, monkeypatch):
    import seqtrack_accel.training.trainer as trainer_module

    cfg = tiny_config(synthetic_lasot)
    train(cfg, tmp_path, epochs=1)
    good = sha(ckpt(tmp_path, "checkpoint_1") / "model.safetensors")
    real_loss = trainer_module.sequence_loss
    monkeypatch.setattr(trainer_module, "sequence_loss", lambda *a, **k: real_loss(*a, **k) * float("nan"))
    with pytest.raises(FloatingPointError, match="checkpoint_1"):
        train(cfg, tmp_path, epochs=2, resume_from="latest")
    assert sha(ckpt(tmp_path, "checkpoint_1") / "model.safetensors") == good
    assert not ckpt(tmp_path, "checkpoint_2").exists()


def test_non_finite_weights_after_a_finite_loss_are_never_published(synthetic_lasot, tmp_path, monkeypatch):
    from seqtrack_accel.training import Trainer

    cfg = tiny_config(synthetic_lasot)
    train(cfg, tmp_path, epochs=1)
    real_step, calls = Trainer.train_step, []

    def step_then_poison(self, batch):  # every loss is finite; the epoch's last optimizer step leaves a weight NaN
        out = real_step(self, batch)
        calls.append(1)
        if len(calls) == 4:
            with torch.no_grad():
                next(self.model.parameters()).view(-1)[0] = float("nan")
        return out

    monkeypatch.setattr(Trainer, "train_step", step_then_poison)
    with pytest.raises(FloatingPointError, match="weights became NaN.*finite weights is .*checkpoint_1"):
        train(cfg, tmp_path, epochs=2, resume_from="latest")
    assert not ckpt(tmp_path, "checkpoint_2").exists()


def test_the_advice_after_a_nan_skips_checkpoints_with_non_finite_weights(synthetic_lasot, tmp_path):
    from safetensors.torch import load_file, save_file

    from seqtrack_accel.run_folder import last_finite_checkpoint

    train(tiny_config(synthetic_lasot), tmp_path, epochs=2)
    weights = ckpt(tmp_path, "checkpoint_2") / "model.safetensors"  # as an older version could have saved it
    tensors = load_file(str(weights))
    next(iter(tensors.values())).view(-1)[0] = float("inf")
    save_file(tensors, str(weights), metadata={"format": "pt"})
    assert last_finite_checkpoint(tmp_path, 1) == ckpt(tmp_path, "checkpoint_1")


@pytest.mark.parametrize("name", ["optimizer.bin", "scheduler.bin", "random_states_0.pkl", "model.safetensors"])
def test_a_damaged_state_file_is_named_with_the_newest_intact_checkpoint(straight_run, tmp_path, name):
    cfg, ref_dir, _ = straight_run
    run = tmp_path / "copy"
    shutil.copytree(ref_dir, run)
    damaged = ckpt(run, "checkpoint_3") / name
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])  # cut short, as a full disk leaves it
    with pytest.raises(CheckpointError, match=rf"checkpoint_3 is damaged: {re.escape(name)} cannot be loaded.*"
                                              r"intact is \S*checkpoint_3_step10"):
        train(cfg, run, epochs=4, resume_from="latest")


def test_resuming_from_a_file_of_a_checkpoint_names_the_folder_to_pass_and_the_intact_one_before(straight_run,
                                                                                                 tmp_path):
    cfg, ref_dir, _ = straight_run
    run = shutil.copytree(ref_dir, tmp_path / "copy")
    weights = ckpt(run, "checkpoint_3") / "model.safetensors"
    with pytest.raises(CheckpointError) as error:
        train(cfg, run, epochs=4, resume_from=str(weights))
    intact = ckpt(run, "checkpoint_3_step10")
    assert str(error.value) == (
        f"{weights} names a file, not a checkpoint folder: pass the checkpoint folder that holds it, "
        f"{ckpt(run, 'checkpoint_3')}. The newest older checkpoint that is intact is {intact}: resume with "
        f"--resume_from_checkpoint {intact}")


@pytest.mark.parametrize("error, said", [
    (OSError(errno.ENOSPC, "No space left on device"), "the disk holding .* is full"),
    (OSError(errno.EROFS, "Read-only file system"), "is on a read-only file system"),
    (RuntimeError("unexpected pos 48552448 vs 48552336"), r"is full: 0\.0 MiB free"),
    (OSError(errno.EFBIG, "File too large"), "would exceed this process's file-size limit"),
    (SafetensorError("Error while serializing: I/O error: File too large (os error 27)"),
     "would exceed this process's file-size limit"),
    (RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0"),
     r"would exceed this process's file-size limit of 1048576 bytes \(ulimit -f\); \d+ MiB are free"),
])
def test_a_full_or_read_only_disk_is_named_and_leaves_the_last_checkpoint(synthetic_lasot, tmp_path, monkeypatch,
                                                                        error, said):
    from accelerate import Accelerator

    cfg = tiny_config(synthetic_lasot)
    train(cfg, tmp_path, epochs=1)
    good = sha(ckpt(tmp_path, "checkpoint_1") / "model.safetensors")
    real_save = Accelerator.save_state

    def save_half_then_fail(self, output_dir=None, **kwargs):
        real_save(self, output_dir, **kwargs)
        (Path(output_dir) / "model.safetensors").write_bytes(b"half a file")
        raise error

    monkeypatch.setattr(Accelerator, "save_state", save_half_then_fail)
    if isinstance(error, RuntimeError) and "enforce fail" in str(error):  # torch.save's words for a short write:
        monkeypatch.setattr(resource, "getrlimit", lambda which: (1048576, resource.RLIM_INFINITY))  # a size limit
    elif isinstance(error, RuntimeError):  # ... or for a full disk: the free space tells
        monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(100, 100, 0))
    with pytest.raises(CheckpointError, match=rf"could not write checkpoint .*checkpoint_2: .*{said}.*checkpoint_1 "
                                              "is intact"):
        train(cfg, tmp_path, epochs=2, resume_from="latest")
    folder = tmp_path / "phase_1" / "checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoint_1"]  # the partial write is gone
    assert sha(ckpt(tmp_path, "checkpoint_1") / "model.safetensors") == good


def test_a_resume_applies_a_new_learning_rate_and_logs_it(straight_run, tmp_path):
    cfg, ref_dir, _ = straight_run
    shutil.copytree(ref_dir, tmp_path / "run")
    new = load_config(tmp_path / "run" / "config.yaml", ["train.lr=1e-1"])
    result = train(new, tmp_path / "run", epochs=4, resume_from="latest")
    assert result.history.lr[-1] == pytest.approx(0.1 * new.train.lr_drop_factor)  # the drop came at epoch 2
    log = (tmp_path / "run" / "logs" / f"seqtrack-{cfg.name}.log").read_text()
    assert f"resume changes train.lr: {cfg.train.lr!r} -> 0.1 (applied to the optimizer and the schedule)" in log


def test_a_mid_epoch_resume_refuses_a_new_batch_size_naming_it(straight_run, tmp_path):
    cfg, ref_dir, _ = straight_run
    new = load_config(ref_dir / "config.yaml", ["train.batch_size=2"])
    with pytest.raises(CheckpointError, match="inside an epoch, and train.batch_size"):
        train(new, tmp_path, epochs=3, resume_from=str(ckpt(ref_dir, "checkpoint_2_step6")))


def test_released_weights_are_not_needed_to_resume(straight_run, tmp_path):
    """Resuming builds the network without its initialisation source (no MAE download on a fresh machine)."""
    cfg, ref_dir, _ = straight_run
    run = tmp_path / "copy"
    shutil.copytree(ref_dir, run)
    mae_cfg = load_config(run / "config.yaml", ["model.init=mae", "model.init_weights=/does/not/exist.pth"])
    result = train(mae_cfg, run, epochs=4, resume_from="latest")
    assert result.epoch == 4 and torch.isfinite(torch.tensor(result.history.loss)).all()


def test_validation_during_training_logs_auc_to_history_and_tensorboard(synthetic_lasot, tmp_path):
    cfg = tiny_config(synthetic_lasot, "eval.validate_every_epochs=1", "eval.max_frames=6")
    result = train(cfg, tmp_path, epochs=1)
    assert list(result.history.val_auc) == ["1"] and 0.0 <= result.history.val_auc["1"] <= 100.0
    events = EventAccumulator(str(tmp_path / "tensorboard")).Reload()
    assert "val/auc" in events.Tags()["scalars"]


def test_resume_logs_no_tensorboard_step_twice(synthetic_lasot, tmp_path):
    cfg = tiny_config(synthetic_lasot, "train.checkpoint_every_steps=2")
    train(cfg, tmp_path, epochs=1)
    # resume from the step checkpoint inside epoch 1: steps 3 and 4 are trained (and logged) a second time
    train(cfg, tmp_path, epochs=2, resume_from=str(ckpt(tmp_path, "checkpoint_1_step2")))
    events = EventAccumulator(str(tmp_path / "tensorboard")).Reload()
    steps = [e.step for e in events.Scalars("train/loss")]
    assert steps == sorted(set(steps)) == [2, 4, 6, 8]


def test_error_when_an_epoch_holds_no_full_batch(synthetic_lasot, tmp_path):
    from seqtrack_accel.config import ConfigError

    cfg = tiny_config(synthetic_lasot, "data.samples_per_epoch=3")
    with pytest.raises(ConfigError, match="data.samples_per_epoch"):
        train(cfg, tmp_path, epochs=1)


def test_undecodable_frames_met_in_training_are_counted_in_the_log_and_tensorboard(synthetic_lasot, tmp_path):
    root = tmp_path / "lasot"
    shutil.copytree(synthetic_lasot, root)
    for frame in (root / "book" / "book-1" / "img").glob("*.jpg"):  # every frame of one training sequence
        frame.write_bytes(b"not a jpeg")
    train(tiny_config(root), tmp_path / "run", epochs=1)
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard")).Reload()
    assert events.Scalars("data/decode_errors")[-1].value > 0
    log = (tmp_path / "run" / "logs" / "seqtrack-demo.log").read_text()
    assert re.search(r"[1-9]\d* undecodable frames", log)


def test_a_second_trainer_on_a_held_run_folder_is_refused_naming_the_holder(synthetic_lasot, tmp_path):
    from seqtrack_accel.run_folder import RunLock

    holder = RunLock(tmp_path)
    holder.acquire()
    try:
        with pytest.raises(CheckpointError, match=rf"in use by another run \(PID {os.getpid()} on host"):
            train(tiny_config(synthetic_lasot), tmp_path, epochs=1)
    finally:
        holder.release()
    assert train(tiny_config(synthetic_lasot), tmp_path, epochs=1).epoch == 1  # free again
