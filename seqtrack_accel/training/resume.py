"""Where a phase starts, and what a resume may change.

    start = find_start(accelerator, cfg, run_dir, phase, resume_from, last_epoch)   # before the data is read
    start.load_weights(model)                                   # a start from a checkpoint's weights only
    restore(start, accelerator, cfg, optimizer, scheduler)      # a full-state start, after accelerator.prepare

A phase starts fresh (phase 1 without a resume flag), from the full state of a checkpoint (``--resume_from_checkpoint``,
or a later phase continuing the previous one), or from a checkpoint's weights only (``train.phase_init=weights``).
A full-state start continues the history, the step counter, the optimizer, the schedule, the RNGs and the position in
the data stream; the config it is given applies, key by key as ``CHANGE_EFFECTS`` says (the network's shape cannot
change).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import broadcast_object_list, set_seed
from safetensors.torch import load_file

from ..config import Config, ConfigError, check_same_network, flat_config, load_config, model_signature
from ..hub import download
from ..run_folder import (CONFIG_FILE, PHASE_NAME, WEIGHTS_FILE, CheckpointError, History, TrainingState,
                          check_loadable, intact_checkpoint_before, latest_checkpoint, list_checkpoints,
                          verify_checkpoint)

logger = logging.getLogger("seqtrack_accel.train")

HUB_DOWNLOADS = ".hub_downloads"  # DIR/.hub_downloads/: checkpoints fetched from the Hub to resume from

# Keys that decide how an epoch is cut into steps: a checkpoint written inside an epoch resumes only with them
# unchanged.
EPOCH_SHAPE = ("data.samples_per_epoch", "train.batch_size", "train.grad_accum_steps")
# What a changed key does on resume; the rest (epochs, logging, checkpointing, workers, validation, Hub) is read
# as the run goes and simply applies. The network's shape cannot change (checked before).
CHANGE_EFFECTS = {
    "train.lr": "applied to the optimizer and the schedule",
    "train.encoder_lr_mult": "applied to the optimizer and the schedule",
    "train.lr_drop_epoch": "applied to the schedule",
    "train.lr_drop_factor": "applied to the schedule",
    "train.weight_decay": "applied to the optimizer",
    "train.seed": "applied: the data stream differs from an uninterrupted run's",
    "train.batch_size": "applied: the data stream differs from an uninterrupted run's",
    "data.num_workers": "applied",
    "data.decoder": "applied: both decoders give the same pixels",
    "data.*": "applied: the samples differ from an uninterrupted run's",
    "model.center_weight": "applied to the loss",
    "model.init": "not used when resuming: the weights come from the checkpoint",
    "model.init_weights": "not used when resuming: the weights come from the checkpoint",
}


def lr_lambda(drop_epoch: int, factor: float):
    """Step decay: the scheduler is stepped once per epoch, so its counter is the number of finished epochs."""
    return lambda finished: factor if finished >= drop_epoch else 1.0


@dataclass(frozen=True)
class Start:
    """Where a phase starts: fresh (``folder`` None), or from a checkpoint's full state or its weights only."""

    folder: Path | None = None
    full_state: bool = True
    state: TrainingState | None = None

    @property
    def history(self) -> History:
        return self.state.history if self.state is not None else History()

    @property
    def global_step(self) -> int:
        return self.state.global_step if self.state is not None else 0

    @property
    def first_epoch(self) -> int:
        """The epoch to train first: after the checkpoint's last finished epoch (a full-state checkpoint written
        inside an epoch continues that epoch)."""
        if self.state is None:
            return 1
        return self.state.epoch + 1 if self.state.complete_epoch else self.state.epoch

    @property
    def step_in_epoch(self) -> int:
        """Batches of ``first_epoch`` already done (a full-state start inside an epoch), else 0."""
        return self.state.step_in_epoch if self.state is not None and self.full_state else 0

    def partial_sums(self, rank: int) -> list[float] | None:
        """Process ``rank``'s [loss sum, IoU sum, batch count] of the epoch it continues, else None."""
        if self.step_in_epoch and self.state.partial_sums:
            return self.state.partial_sums[rank]
        return None

    def load_weights(self, model: torch.nn.Module) -> None:
        """Put the checkpoint's weights into ``model`` when this start takes the weights only (else nothing)."""
        if self.folder is not None and not self.full_state:
            model.load_state_dict(load_file(str(self.folder / WEIGHTS_FILE)), strict=True)
            logger.info("starting from the weights of %s with a fresh optimizer and schedule", self.folder)


def find_start(accelerator: Accelerator, cfg: Config, run_dir: Path, phase: int, resume_from: str | None,
               last_epoch: int) -> Start:
    """Where ``phase`` of the run in ``run_dir`` starts, checked: the checkpoint is intact (every file a full-state
    resume loads, loaded once) and fits the config and ``last_epoch``. ``resume_from``: as ``Trainer``'s."""
    folder, full_state = _choose(accelerator, cfg, run_dir, phase, resume_from)
    if folder is None:
        return Start()
    return Start(folder, full_state, _check(accelerator, cfg, folder, full_state, last_epoch))


def _choose(accelerator: Accelerator, cfg: Config, run_dir: Path, phase: int,
            resume_from: str | None) -> tuple[Path | None, bool]:
    """Which checkpoint to start from, and whether to restore its full state (else its weights only)."""
    spec = resume_from
    if spec == "auto":
        spec = "latest" if list_checkpoints(run_dir, phase) else None
    if spec is None:
        own = list_checkpoints(run_dir, phase)
        if own:
            raise CheckpointError(
                f"{run_dir / f'phase_{phase}'} already holds checkpoints (newest {own[-1].name}); pass "
                "--resume_from_checkpoint latest to continue it, or choose another --output_dir or --phase")
        if phase == 1:
            return None, True
        previous = latest_checkpoint(run_dir, phase - 1)
        if previous is None:
            raise CheckpointError(
                f"phase {phase} continues an earlier phase, but {run_dir} holds no checkpoint of "
                f"phases 1..{phase - 1}; run --phase 1 first or pass --resume_from_checkpoint PATH")
        _refuse_phase_gap(run_dir, phase, previous)
        return previous, cfg.train.phase_init == "resume"
    if spec == "latest":
        found = latest_checkpoint(run_dir, phase)
        if found is None:
            raise CheckpointError(
                f"--resume_from_checkpoint latest: no complete checkpoint under {run_dir} for phases "
                f"1..{phase}; start with --phase 1 (without --resume_from_checkpoint)")
        _refuse_phase_gap(run_dir, phase, found)
        return found, True
    if spec.startswith("hf://"):
        with accelerator.local_main_process_first():  # one download per machine
            fetched = download(spec, full_state=True, dest=run_dir / HUB_DOWNLOADS, timeout=cfg.hub.request_timeout)
        return fetched.folder, True
    return Path(spec).resolve(), True


def _refuse_phase_gap(run_dir: Path, phase: int, found: Path) -> None:
    """Phase N continues phase N - 1: a checkpoint of an older phase found in its place is an error that says how to
    start from it on purpose."""
    found_phase = int(PHASE_NAME.match(found.parents[1].name).group(1))
    if found_phase < phase - 1:
        raise CheckpointError(
            f"phase {phase} continues phase {phase - 1}, but {run_dir} holds no checkpoint of phase "
            f"{phase - 1}; its newest earlier checkpoint is {found}, of phase {found_phase}. Run --phase "
            f"{phase - 1} first, or start phase {phase} from that checkpoint on purpose with "
            f"--resume_from_checkpoint {found}")


def _check(accelerator: Accelerator, cfg: Config, start: Path, full_state: bool, last_epoch: int) -> TrainingState:
    """The starting checkpoint's state, after checking that it is intact and fits this run."""
    damaged = None
    if accelerator.is_main_process:  # one process reads the files; every process gets its verdict
        try:
            state = verify_checkpoint(start)
            if full_state:
                check_loadable(start, state)
        except CheckpointError as e:
            intact = intact_checkpoint_before(start)
            damaged = f"{e}. " + (f"The newest older checkpoint that is intact is {intact}: resume with "
                                  f"--resume_from_checkpoint {intact}" if intact else
                                  "No older checkpoint of this run is intact.")
    damaged = broadcast_object_list([damaged])[0]
    if damaged:
        raise CheckpointError(damaged)
    state = TrainingState.read(start)
    try:
        # checkpoints written before model.patch_size was a setting have the original's 16 px patches
        check_same_network(model_signature(cfg), {"model.patch_size": 16, **state.model_signature},
                           f"checkpoint {start} was trained with a different model than the config builds "
                           "(expected: the config, found: the checkpoint)")
    except ConfigError as e:
        raise CheckpointError(f"{e.message}. Use the run's config.yaml or a matching config.") from None
    done = state.epoch if state.complete_epoch else state.epoch - 1
    if done >= last_epoch:
        raise CheckpointError(f"checkpoint {start} has already finished epoch {done}, and --epochs is "
                              f"{last_epoch}: nothing to train. Pass a larger --epochs.")
    processes = accelerator.num_processes
    if full_state and not state.complete_epoch and state.world_size != processes:
        raise CheckpointError(
            f"checkpoint {start} was written inside an epoch by {state.world_size} processes; resume it "
            f"with the same number of processes (now {processes}) or from an end-of-epoch checkpoint")
    return state


def restore(start: Start, accelerator: Accelerator, cfg: Config, optimizer, scheduler) -> None:
    """Load a full-state start's files into the prepared objects (``accelerator.load_state``), then apply what the
    config changes, key by key, logging each with its effect."""
    folder, state = start.folder, start.state
    if not (folder / f"random_states_{accelerator.process_index}.pkl").is_file():
        logger.warning("%s has no RNG state for process %d (written by %d processes); this process's RNG is "
                       "re-seeded", folder, accelerator.process_index, state.world_size)
        set_seed(cfg.train.seed + 1000 * state.global_step, device_specific=True)
    accelerator.load_state(str(folder))
    _apply_changes(folder, state, cfg, optimizer, scheduler)


def _apply_changes(start: Path, state: TrainingState, cfg: Config, optimizer, scheduler) -> None:
    """The optimizer and schedule were just restored with the checkpoint's values, so the learning rates and weight
    decay of the config are set on them here."""
    before = flat_config(load_config(start / CONFIG_FILE))
    after = flat_config(cfg)
    changed = {k: (before.get(k), v) for k, v in after.items() if before.get(k) != v}
    mid_epoch = [k for k in changed if k in EPOCH_SHAPE] if not state.complete_epoch else []
    if mid_epoch:
        raise CheckpointError(
            f"checkpoint {start} was written inside an epoch, and {', '.join(mid_epoch)} would change how that "
            "epoch is cut into steps; resume from an end-of-epoch checkpoint to change them, or keep the "
            "checkpoint's values")
    t = cfg.train
    inner = scheduler.scheduler  # Accelerate's AcceleratedScheduler wraps the LambdaLR
    inner.lr_lambdas = [lr_lambda(t.lr_drop_epoch, t.lr_drop_factor)] * len(inner.lr_lambdas)
    for i, group in enumerate(optimizer.param_groups):
        base = t.lr * (t.encoder_lr_mult if group.get("name") == "encoder" else 1.0)
        group["initial_lr"] = inner.base_lrs[i] = base
        group["lr"] = base * inner.lr_lambdas[i](inner.last_epoch)
        group["weight_decay"] = t.weight_decay
    for key, (old, new) in sorted(changed.items()):
        effect = CHANGE_EFFECTS.get(key) or CHANGE_EFFECTS.get(key.split(".")[0] + ".*", "applied")
        logger.info("resume changes %s: %r -> %r (%s)", key, old, new, effect)
