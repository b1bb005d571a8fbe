"""The Accelerate training program: phases, full-state checkpoints, exact resume, TensorBoard, plots, Hub mirror.

    trainer = Trainer(cfg, run_dir="runs/demo", phase=1)
    result = trainer.fit()                      # set-up, then the epoch loop

    trainer.setup()                             # or: everything up to the first step (benchmarks time the step)
    for batch in trainer.loader:
        loss, iou, logits = trainer.train_step(batch)

The loop keeps CPU-GPU synchronisation out of the step: loss and IoU are summed on the device (``EpochStats``)
and reduced across processes only every ``train.print_interval`` steps and at the end of each epoch.
"""

from __future__ import annotations

import datetime
import logging
import multiprocessing
import shutil
import signal
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from accelerate import Accelerator
from accelerate.utils import (DataLoaderConfiguration, ProjectConfiguration, broadcast_object_list, gather_object,
                               set_seed)
from safetensors.torch import load_file
from torch.utils.data import DataLoader
from torch.utils.tensorboard.summary import hparams
from tqdm.auto import tqdm

from .. import versions
from ..config import (Config, ConfigError, check_same_network, dump_config, load_config, model_signature, to_dict,
                      with_scratch_init)
from ..data import EpochSampler, build_train_dataset, normalize_batch, worker_init_fn
from ..files import write_json_atomic, write_text_atomic
from ..hub import HubMirror, download_checkpoint
from ..model import build_model
from ..model.tokens import make_sequences, sequence_loss, teacher_forced_iou, tokens_to_boxes
from ..tracking.evaluate import validate
from . import checkpoint as ckpt
from .checkpoint import CheckpointError, History, TrainingState
from .plots import write_plots
from .stop import StopRequest
from .validation import COORDINATES, FreeRunValidation, collapsed_coordinates
from .visualize import box_grid

logger = logging.getLogger("seqtrack_accel.train")


FAILURE_HUB_WAIT = 10.0  # seconds the Hub mirror may finish its uploads after a failure (the rest: the next run)


class _StoppedBeforeFirstStep(Exception):
    """A stop was requested during the set-up; the message says during what."""


@dataclass
class TrainResult:
    run_dir: Path
    phase: int
    epoch: int
    global_step: int
    history: History
    last_checkpoint: Path | None
    interrupted: bool = False


class StepOutput(NamedTuple):
    """One training step: the loss (scalar), the teacher-forced IoU per sample (B,), the logits (B, 5, bins + 2)."""

    loss: torch.Tensor
    iou: torch.Tensor
    logits: torch.Tensor


def compute_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor], cfg: Config) -> StepOutput:
    """The training objective of a batch of ``TrackingDataset`` samples (on the model's device): teacher forcing
    with ``[START, cx, cy, w, h]``, the weighted cross-entropy of the original, and its logged IoU."""
    inputs, targets = make_sequences(batch["search_anno"], cfg.model.bins)
    template_images, search_images = normalize_batch(batch, cfg.data.mean, cfg.data.std)
    logits = model(template_images, search_images, inputs)
    loss = sequence_loss(logits, targets, cfg.model.bins, cfg.model.end_weight)
    return StepOutput(loss, teacher_forced_iou(logits.detach(), targets, cfg.model.bins), logits)


class EpochStats:
    """The running statistics of one epoch, kept on the training device so that the step never waits for the host.

    ``sums`` and ``window`` hold [loss sum, IoU sum, batch count] over the epoch and since the last log line;
    ``bad_step`` is the first global step whose loss was not finite (-1: none yet).
    """

    def __init__(self, epoch: int, steps: int, device: torch.device, step: int = 0, partial: list | None = None):
        dtype = torch.float64 if device.type == "cpu" else torch.float32
        self.epoch, self.steps, self.step = epoch, steps, step
        self.sums = torch.tensor(partial if partial is not None else [0.0, 0.0, 0.0], device=device, dtype=dtype)
        self.window = torch.zeros(3, device=device, dtype=dtype)
        self.bad_step = torch.full((), -1, device=device, dtype=torch.long)
        self.samples_window = self.samples_epoch = 0
        self.started = self.window_started = time.perf_counter()

    def add(self, out: StepOutput, global_step: int, samples: int) -> None:
        loss = out.loss.detach()
        stats = torch.stack([loss.to(self.sums.dtype), out.iou.mean().to(self.sums.dtype), torch.ones_like(
            self.sums[0])])
        self.sums += stats
        self.window += stats
        self.bad_step = torch.where((self.bad_step < 0) & ~torch.isfinite(loss), global_step, self.bad_step)
        self.step += 1
        self.samples_window += samples
        self.samples_epoch += samples

    def take_window(self) -> tuple[torch.Tensor, float]:
        """The window's sums and samples/s; starts a new window."""
        window, rate = self.window.clone(), self.samples_window / max(time.perf_counter() - self.window_started, 1e-9)
        self.window.zero_()
        self.samples_window, self.window_started = 0, time.perf_counter()
        return window, rate

    @property
    def samples_per_s(self) -> float:
        return self.samples_epoch / max(time.perf_counter() - self.started, 1e-9)


def param_groups(model: torch.nn.Module, cfg: Config) -> list[dict]:
    """Encoder parameters at ``lr * encoder_lr_mult``, the rest at ``lr``; weight decay on all (as the original)."""
    encoder, rest = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (encoder if name.startswith("encoder.") else rest).append(p)
    if not encoder:
        raise RuntimeError("the model has no parameters under 'encoder.'; the encoder learning rate cannot apply")
    return [
        {"params": encoder, "lr": cfg.train.lr * cfg.train.encoder_lr_mult, "name": "encoder"},
        {"params": rest, "lr": cfg.train.lr, "name": "decoder"},
    ]


def lr_lambda(drop_epoch: int, factor: float):
    """Step decay: the scheduler is stepped once per epoch, so its counter is the number of finished epochs."""
    return lambda finished: factor if finished >= drop_epoch else 1.0


# Keys that decide how an epoch is cut into steps: a checkpoint written inside an epoch resumes only with them
# unchanged.
_EPOCH_SHAPE = ("data.samples_per_epoch", "train.batch_size", "train.grad_accum_steps")
# What a changed key does on resume; the rest (epochs, logging, checkpointing, workers, validation, Hub) is read
# as the run goes and simply applies. The network's shape cannot change (checked before).
_CHANGE_EFFECTS = {
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
    "model.init": "not used when resuming: the weights come from the checkpoint",
    "model.init_weights": "not used when resuming: the weights come from the checkpoint",
}


def _flat(values: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in values.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, key + "."))
        else:
            out[key] = v if isinstance(v, (int, float, str, bool)) else str(v)
    return out


class Trainer:
    """Train SeqTrack for one phase.

    Args:
        cfg: the resolved configuration.
        run_dir: the run folder (config, logs, TensorBoard, one ``phase_N`` folder per phase).
        phase: this phase's number. Phase 1 starts fresh unless ``resume_from`` is given; a later phase without
            ``resume_from`` continues from the newest checkpoint of the highest earlier phase.
        epochs: the epoch number to stop after (absolute, over all phases); default ``cfg.train.epochs``.
        resume_from: ``None`` (no resume requested), ``"latest"``, ``"auto"`` (``"latest"`` when this phase has a
            checkpoint, else ``None``: one command line for the first start and every restart, as under SLURM), a
            checkpoint folder or ``hf://ORG/NAME[/...]``.
        stop: the stop request to honour (the command-line program installs one before its long imports); default
            a new one, installed by ``setup``.
    """

    def __init__(self, cfg: Config, *, run_dir: str | Path, phase: int = 1, epochs: int | None = None,
                 resume_from: str | None = None, stop: StopRequest | None = None):
        if phase < 1:
            raise ValueError(f"--phase must be >= 1, got {phase}")
        self.cfg = cfg
        self.run_dir = Path(run_dir).resolve()
        self.phase = phase
        self.last_epoch = epochs if epochs is not None else cfg.train.epochs
        if self.last_epoch < 1:
            raise ValueError(f"--epochs must be >= 1, got {self.last_epoch}")
        self.resume_from = resume_from
        self.stop = stop if stop is not None else StopRequest()
        self.log_file = self.run_dir / "logs" / f"seqtrack-{cfg.name}.log"  # the original's name; appended to
        self.traceback_logged = False  # whether fit() wrote the traceback of its error into log_file
        self.mirror = None
        self._log_handler = None
        self._lock = ckpt.RunLock(self.run_dir)
        self._owns_folder = False  # the run folder's lock is this run's (set on every process)
        self._children_before: set = set()

    def fit(self) -> TrainResult:
        """Set up, train from the starting epoch to ``epochs``, and return what happened.

        A stop requested before the first step ends the run there: nothing trained, no checkpoint written. An error
        ends it at once: its traceback goes to ``log_file`` (every process's), the DataLoader workers are ended, the
        Hub mirror gets ``FAILURE_HUB_WAIT`` seconds, and the error is raised; nothing waits on what failed.
        """
        failed = False
        try:
            self.setup()
            return self._run_epochs()
        except _StoppedBeforeFirstStep as stopped:
            logger.info("stopped on request %s, before the first step: nothing was trained and no checkpoint was "
                        "written; run the same command again to start", stopped)
            state = getattr(self, "_start_state", None)
            return TrainResult(self.run_dir, self.phase, state.epoch if state else 0,
                               state.global_step if state else 0, state.history if state else History(), None,
                               interrupted=True)
        except BaseException as error:
            failed = True
            self._log_failure(error)
            raise
        finally:
            self.close(failed=failed)

    def close(self, failed: bool = False) -> None:
        """End what ``setup`` started: TensorBoard, the Hub mirror (waiting for its uploads), the run folder's lock,
        the log file. ``fit`` calls it; call it after ``setup`` without ``fit``. After a failure (``failed``) it
        first ends the DataLoader workers (they ignore SIGTERM, so nothing else would end them: the process would
        wait for them at exit for ever) and gives the Hub mirror ``FAILURE_HUB_WAIT`` seconds; what it leaves is
        uploaded by the next run with the same repo."""
        if failed:
            self._end_workers()
        if getattr(self, "accelerator", None) is not None:
            self.accelerator.end_training()
        if self.mirror is not None:
            missing = self.mirror.close(timeout=min(FAILURE_HUB_WAIT, self.cfg.hub.final_wait) if failed else None)
            if missing:
                logger.warning("not mirrored to %s: %s", self.cfg.hub.repo_id, ", ".join(missing))
            self.mirror = None
        self.stop.uninstall()
        self._lock.release()
        if self._log_handler is not None:
            logging.getLogger("seqtrack_accel").removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None

    def _stop_point(self, where: str) -> None:
        """End the set-up when a stop was requested (a collective: every process calls it at the same points)."""
        if self.stop.agreed():
            raise _StoppedBeforeFirstStep(where)

    def _log_failure(self, error: BaseException) -> None:
        """Write the traceback of the error that ends the run into the run's log file (not on the console: the
        command prints one line), from every process that has one, each naming itself."""
        if not self._owns_folder:  # the folder is another run's (or was never reached): its log is not ours
            return
        text = "".join(traceback.format_exception(error)).rstrip()
        acc = getattr(self, "accelerator", None)
        rank = f"process {acc.process_index} of {acc.num_processes}: " if acc is not None and acc.num_processes > 1 \
            else ""
        if self._log_handler is not None:
            record = logger.makeRecord(logger.name, logging.ERROR, __file__, 0, "%sthe run failed:\n%s",
                                       (rank, text), None)
            self._log_handler.handle(record)
        else:  # another process than the main one: one append, so lines of several processes do not interleave
            stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
            try:
                self.log_file.parent.mkdir(parents=True, exist_ok=True)
                with open(self.log_file, "a") as f:
                    f.write(f"{stamp} ERROR {logger.name}: {rank}the run failed:\n{text}\n")
            except OSError:
                return
        self.traceback_logged = True

    def _end_workers(self) -> None:
        """Kill the processes this run started (its DataLoader workers) and reap them."""
        children = [p for p in multiprocessing.active_children() if p not in self._children_before]
        # PyTorch's SIGCHLD handler would report each killed worker as a new error in place of the one that ended
        # the run; a reaped worker is no longer reported, so the handler comes back once they are reaped.
        handler = signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        try:
            for child in children:
                child.kill()
            for child in children:
                child.join(timeout=10)
        finally:
            signal.signal(signal.SIGCHLD, handler)

    # ------------------------------------------------------------------------------------------------------------
    # set-up

    def setup(self) -> None:
        """Everything before the first step: devices, run folder, starting point, data, model, optimizer, schedule,
        restored state, TensorBoard and the Hub mirror. A stop requested meanwhile ends it (``fit`` then returns
        before the first step); it is checked after each long part, at the same points on every process."""
        cfg = self.cfg
        self.stop.install()  # before the long parts: a stop while the datasets are read is a stop, not a kill
        self._children_before = set(multiprocessing.active_children())
        # devices, processes and the run folder
        self.accelerator = acc = Accelerator(
            gradient_accumulation_steps=cfg.train.grad_accum_steps,
            log_with="tensorboard",
            project_config=ProjectConfiguration(project_dir=str(self.run_dir), logging_dir=str(self.run_dir)),
            # The schedule is per epoch: a prepared scheduler would otherwise step once per process per call.
            step_scheduler_with_optimizer=False,
            dataloader_config=DataLoaderConfiguration(non_blocking=True),
        )
        self.stop.attach_group()
        held_by_another = None
        if acc.is_main_process:
            try:
                self._lock.acquire()  # before anything is cleaned up or written: the folder may be another run's
            except CheckpointError as e:
                held_by_another = str(e)
            else:
                ckpt.clean_temporaries(ckpt.checkpoints_dir(self.run_dir, self.phase))
        held_by_another = broadcast_object_list([held_by_another])[0]  # every process stops with the same error
        if held_by_another:
            raise CheckpointError(held_by_another)
        self._owns_folder = True
        self._setup_logging()

        # where this phase starts
        start, full_state = self._resolve_start()
        state = self._start_state = self._check_start(start, full_state) if start is not None else None
        if acc.is_main_process:
            text = dump_config(cfg)
            write_text_atomic(self.run_dir / "config.yaml", text)
            write_text_atomic(ckpt.phase_dir(self.run_dir, self.phase) / "config.yaml", text)
        logger.info("run folder %s, phase %d, %d process(es), mixed precision %s",
                    self.run_dir, self.phase, acc.num_processes, acc.mixed_precision)

        # data
        with acc.main_process_first():
            self.dataset = build_train_dataset(cfg)
            self.free_run = self._build_free_run(self.dataset)
        self._stop_point("while the data was read")
        loader = self._build_loader(self.dataset)

        # model, optimizer, schedule
        set_seed(cfg.train.seed)  # identical initial weights on every process
        model = build_model(cfg if start is None else with_scratch_init(cfg))
        if start is not None and not full_state:
            model.load_state_dict(load_file(str(start / ckpt.WEIGHTS_FILE)), strict=True)
            logger.info("phase %d starts from the weights of %s with a fresh optimizer and schedule", self.phase, start)
        if cfg.train.compile:
            # In place: the module keeps its class and parameter names, so checkpoints, unwrap_model and
            # state_dict are those of the eager model. generate() (validation) stays eager.
            model.compile()
        fused = cfg.train.fused_optimizer and acc.device.type == "cuda"
        optimizer = torch.optim.AdamW(param_groups(model, cfg), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay,
                                      fused=fused or None)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg.train.lr_drop_epoch,
                                                                           cfg.train.lr_drop_factor))
        self.model, self.optimizer, self.loader, self.scheduler = acc.prepare(model, optimizer, loader, scheduler)
        if len(self.loader) == 0:
            raise ConfigError("data.samples_per_epoch", f"{cfg.data.samples_per_epoch} samples make no full batch of "
                              f"train.batch_size={cfg.train.batch_size} on each of {acc.num_processes} process(es); "
                              "raise data.samples_per_epoch or lower train.batch_size")
        self._stop_point("while the model was built")

        # the restored state: history, step counter, where the data continues
        self.history, self.global_step = History(), 0
        self.first_epoch, self._resume_step, self._resume_sums = 1, 0, None
        if state is not None:
            self.history, self.global_step = state.history, state.global_step
            if full_state:
                self._load_full_state(start, state)
                self._apply_changes(start, state)
                self.first_epoch = state.epoch + 1 if state.complete_epoch else state.epoch
                self._resume_step = state.step_in_epoch
                if state.partial_sums:
                    self._resume_sums = state.partial_sums[acc.process_index]
            else:
                self.first_epoch = (state.epoch if state.complete_epoch else state.epoch - 1) + 1
            logger.info("resuming from %s (%s): epoch %d, global step %d", start,
                        "full state" if full_state else "weights only", self.first_epoch, self.global_step)
        if state is None or not full_state:
            set_seed(cfg.train.seed, device_specific=True)  # each process its own dropout stream
        self._stop_point("while the starting state was restored")

        # TensorBoard and the Hub mirror
        acc.init_trackers("tensorboard", init_kwargs={
            "tensorboard": {"purge_step": self.global_step + 1}} if self.global_step else {})
        if acc.is_main_process:
            self._log_hparams()
        if acc.is_main_process and cfg.hub.repo_id:
            self.mirror = HubMirror(cfg.hub, self.run_dir)
            self.mirror.start()
            self.mirror.sync_missing()

    def _log_hparams(self) -> None:
        """The config in TensorBoard's HParams tab, in the run's own event stream. (Accelerate's ``init_trackers(
        config=...)`` would write it into a sub-run named by a timestamp, which TensorBoard lists as a second run.)"""
        writer = self.accelerator.get_tracker("tensorboard", unwrap=True)
        for summary in hparams(_flat(to_dict(self.cfg)), metric_dict={}):
            writer.file_writer.add_summary(summary)

    def _resolve_start(self) -> tuple[Path | None, bool]:
        """Which checkpoint to start from, and whether to restore its full state (else weights only)."""
        spec = self.resume_from
        if spec == "auto":
            spec = "latest" if ckpt.list_checkpoints(self.run_dir, self.phase) else None
        if spec is None:
            own = ckpt.list_checkpoints(self.run_dir, self.phase)
            if own:
                raise CheckpointError(
                    f"{self.run_dir / f'phase_{self.phase}'} already holds checkpoints (newest {own[-1].name}); pass "
                    "--resume_from_checkpoint latest to continue it, or choose another --output_dir or --phase")
            if self.phase == 1:
                return None, True
            previous = ckpt.latest_checkpoint(self.run_dir, self.phase - 1)
            if previous is None:
                raise CheckpointError(
                    f"phase {self.phase} continues an earlier phase, but {self.run_dir} holds no checkpoint of "
                    f"phases 1..{self.phase - 1}; run --phase 1 first or pass --resume_from_checkpoint PATH")
            self._refuse_phase_gap(previous)
            return previous, self.cfg.train.phase_init == "resume"
        if spec == "latest":
            found = ckpt.latest_checkpoint(self.run_dir, self.phase)
            if found is None:
                raise CheckpointError(
                    f"--resume_from_checkpoint latest: no complete checkpoint under {self.run_dir} for phases "
                    f"1..{self.phase}; start with --phase 1 (without --resume_from_checkpoint)")
            self._refuse_phase_gap(found)
            return found, True
        if spec.startswith("hf://"):
            dest = self.run_dir / ".hub_downloads"
            with self.accelerator.local_main_process_first():
                return download_checkpoint(spec, dest, timeout=self.cfg.hub.request_timeout), True
        return Path(spec).resolve(), True

    def _refuse_phase_gap(self, found: Path) -> None:
        """Phase N continues phase N - 1: a checkpoint of an older phase found in its place is an error that says
        how to start from it on purpose."""
        phase = int(ckpt.PHASE_NAME.match(found.parents[1].name).group(1))
        if phase < self.phase - 1:
            raise CheckpointError(
                f"phase {self.phase} continues phase {self.phase - 1}, but {self.run_dir} holds no checkpoint of phase "
                f"{self.phase - 1}; its newest earlier checkpoint is {found}, of phase {phase}. Run --phase "
                f"{self.phase - 1} first, or start phase {self.phase} from that checkpoint on purpose with "
                f"--resume_from_checkpoint {found}")

    def _check_start(self, start: Path, full_state: bool) -> TrainingState:
        """The starting checkpoint's state, after checking that it is intact and fits this run."""
        damaged = None
        if self.accelerator.is_main_process:  # one process reads the files; every process gets its verdict
            try:
                state = ckpt.verify_checkpoint(start)
                if full_state:
                    ckpt.check_loadable(start, state)
            except CheckpointError as e:
                intact = ckpt.intact_checkpoint_before(start)
                damaged = f"{e}. " + (f"The newest older checkpoint that is intact is {intact}: resume with "
                                      f"--resume_from_checkpoint {intact}" if intact else
                                      "No older checkpoint of this run is intact.")
        damaged = broadcast_object_list([damaged])[0]
        if damaged:
            raise CheckpointError(damaged)
        state = ckpt.TrainingState.read(start)
        try:
            check_same_network(model_signature(self.cfg), state.model_signature,
                               f"checkpoint {start} was trained with a different model than the config builds "
                               "(expected: the config, found: the checkpoint)")
        except ConfigError as e:
            raise CheckpointError(f"{e.message}. Use the run's config.yaml or a matching config.") from None
        done = state.epoch if state.complete_epoch else state.epoch - 1
        if done >= self.last_epoch:
            raise CheckpointError(f"checkpoint {start} has already finished epoch {done}, and --epochs is "
                                  f"{self.last_epoch}: nothing to train. Pass a larger --epochs.")
        processes = self.accelerator.num_processes
        if full_state and not state.complete_epoch and state.world_size != processes:
            raise CheckpointError(
                f"checkpoint {start} was written inside an epoch by {state.world_size} processes; resume it "
                f"with the same number of processes (now {processes}) or from an end-of-epoch checkpoint")
        return state

    def _build_loader(self, dataset) -> DataLoader:
        t = self.cfg.train
        workers = self.cfg.data.num_workers
        return DataLoader(
            dataset,
            batch_size=t.batch_size,
            sampler=EpochSampler(self.cfg.data.samples_per_epoch),
            num_workers=workers,
            pin_memory=t.pin_memory and torch.cuda.is_available(),
            drop_last=True,
            persistent_workers=workers > 0,
            prefetch_factor=t.prefetch_factor if workers > 0 else None,
            worker_init_fn=worker_init_fn,
            # Worker seeds come from this generator, not from the global torch RNG, so that creating the loader
            # does not shift the dropout random stream (a resumed run must draw exactly what a straight run draws).
            generator=torch.Generator().manual_seed(t.seed),
        )

    def _build_free_run(self, dataset) -> FreeRunValidation | None:
        if not self.cfg.eval.free_run_every_epochs:
            return None
        try:
            return FreeRunValidation.build(self.cfg, dataset)
        except (ValueError, KeyError, FileNotFoundError) as e:
            raise ConfigError("eval.free_run_every_epochs", f"free-running validation has no held-out samples: {e}. "
                              "Give validation sequences (eval.dataset, eval.validate_sequences) or "
                              "turn it off with eval.free_run_every_epochs=0") from e

    def _setup_logging(self) -> None:
        if not self.accelerator.is_main_process:
            logger.setLevel(logging.WARNING)
            return
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(self.log_file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger("seqtrack_accel")
        root.setLevel(logging.INFO)
        root.addHandler(handler)
        self._log_handler = handler

    def _load_full_state(self, folder: Path, state: TrainingState) -> None:
        acc = self.accelerator
        if not (folder / f"random_states_{acc.process_index}.pkl").is_file():
            logger.warning("%s has no RNG state for process %d (written by %d processes); this process's RNG is "
                           "re-seeded", folder, acc.process_index, state.world_size)
            set_seed(self.cfg.train.seed + 1000 * state.global_step, device_specific=True)
        acc.load_state(str(folder))

    def _apply_changes(self, start: Path, state: TrainingState) -> None:
        """What a resume may change, applied and logged key by key (the network's shape cannot change: that was
        checked before). The optimizer and schedule were just restored with the checkpoint's values, so the
        learning rates and weight decay of the config are set on them here."""
        before = _flat(to_dict(load_config(start / ckpt.CONFIG_FILE)))
        after = _flat(to_dict(self.cfg))
        changed = {k: (before.get(k), v) for k, v in after.items() if before.get(k) != v}
        mid_epoch = [k for k in changed if k in _EPOCH_SHAPE] if not state.complete_epoch else []
        if mid_epoch:
            raise CheckpointError(
                f"checkpoint {start} was written inside an epoch, and {', '.join(mid_epoch)} would change how that "
                "epoch is cut into steps; resume from an end-of-epoch checkpoint to change them, or keep the "
                "checkpoint's values")
        t = self.cfg.train
        scheduler = self.scheduler.scheduler
        scheduler.lr_lambdas = [lr_lambda(t.lr_drop_epoch, t.lr_drop_factor)] * len(scheduler.lr_lambdas)
        for i, group in enumerate(self.optimizer.param_groups):
            base = t.lr * (t.encoder_lr_mult if group.get("name") == "encoder" else 1.0)
            group["initial_lr"] = scheduler.base_lrs[i] = base
            group["lr"] = base * scheduler.lr_lambdas[i](scheduler.last_epoch)
            group["weight_decay"] = t.weight_decay
        for key, (old, new) in sorted(changed.items()):
            effect = _CHANGE_EFFECTS.get(key) or _CHANGE_EFFECTS.get(key.split(".")[0] + ".*", "applied")
            logger.info("resume changes %s: %r -> %r (%s)", key, old, new, effect)

    # ------------------------------------------------------------------------------------------------------------
    # the loop

    def train_step(self, batch: dict[str, torch.Tensor]) -> StepOutput:
        """Forward, loss, backward, gradient clipping and the optimizer step of one batch (with accumulation)."""
        acc, model = self.accelerator, self.model
        with acc.accumulate(model):
            out = compute_loss(model, batch, self.cfg)
            acc.backward(out.loss)
            if acc.sync_gradients and self.cfg.train.grad_clip_norm > 0:
                acc.clip_grad_norm_(model.parameters(), self.cfg.train.grad_clip_norm)
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        return out

    def _run_epochs(self) -> TrainResult:
        acc = self.accelerator
        epoch, last_checkpoint, interrupted = self.first_epoch, None, False
        for epoch in range(self.first_epoch, self.last_epoch + 1):
            last_checkpoint, interrupted = self._train_epoch(epoch)
            if interrupted:
                break
        if interrupted:
            logger.info("stopped on request at epoch %d, step %d; resume with --resume_from_checkpoint latest",
                        epoch, self.global_step)
        self.model = acc.unwrap_model(self.model)
        return TrainResult(self.run_dir, self.phase, epoch, self.global_step, self.history, last_checkpoint,
                           interrupted)

    def _train_epoch(self, epoch: int) -> tuple[Path, bool]:
        """One epoch (the rest of it, when resuming inside it). Returns its checkpoint and whether a stop came."""
        acc, cfg = self.accelerator, self.cfg
        resumed = epoch == self.first_epoch
        stats = EpochStats(epoch, len(self.loader), acc.device, step=self._resume_step if resumed else 0,
                           partial=self._resume_sums if resumed else None)
        self.loader.set_epoch(epoch - 1)
        batches = acc.skip_first_batches(self.loader, stats.step) if stats.step else self.loader
        self.model.train()
        stopped = False
        with tqdm(total=stats.steps, initial=stats.step, desc=f"epoch {epoch}", dynamic_ncols=True, leave=False,
                  disable=not acc.is_local_main_process) as bar:  # closed however the epoch ends
            for batch in batches:
                self.global_step += 1
                out = self.train_step(batch)
                stats.add(out, self.global_step, batch["search_anno"].shape[0] * acc.num_processes)
                if stats.step == 1 and cfg.train.log_images and acc.is_main_process:
                    self._log_boxes("train/search_boxes", batch, out.logits[:, :4, :cfg.model.bins].argmax(-1))
                if self.global_step % cfg.train.print_interval == 0 or stats.step == stats.steps:
                    self._log_window(stats, bar)  # the only synchronisation point inside an epoch
                bar.update(1)

                if self.stop.agreed():
                    stopped = True
                    break
                every = cfg.train.checkpoint_every_steps
                if every and self.global_step % every == 0 and stats.step < stats.steps and acc.sync_gradients:
                    self._save(stats, end_of_epoch=False)
        if stats.step < stats.steps:  # stopped inside the epoch
            return self._save(stats, end_of_epoch=False), True
        # a stop at the last step of the last epoch: the run has finished
        return self._end_epoch(stats), stopped and epoch < self.last_epoch

    def _log_window(self, stats: EpochStats, bar) -> None:
        acc = self.accelerator
        self._check_finite(stats)
        window, rate = stats.take_window()
        window = acc.reduce(window, reduction="mean")
        loss, iou = (window[0] / window[2]).item(), (window[1] / window[2]).item()
        logger.info("[train: %d, %d / %d] samples/s %.1f, Loss/total %.5f, IoU %.5f",
                    stats.epoch, stats.step, stats.steps, rate, loss, iou)
        lrs = {f"lr/{g.get('name', i)}": g["lr"] for i, g in enumerate(self.optimizer.param_groups)}
        acc.log({"train/loss": loss, "train/iou": iou, "train/samples_per_s": rate, **lrs}, step=self.global_step)
        bar.set_postfix(loss=f"{loss:.4f}", iou=f"{iou:.3f}", samples_s=f"{rate:.1f}")

    def _check_finite(self, stats: EpochStats) -> None:
        """Stop before anything is published when the loss or the weights stopped being finite."""
        step = int(self.accelerator.gather(stats.bad_step.reshape(1)).max().item())
        if step >= 0:
            what = f"the loss became NaN or inf in epoch {stats.epoch} (first at global step {step})"
        elif not bool(torch.stack([p.detach().isfinite().all() for p in self.model.parameters()]).all()):
            # The loss of every step was finite, but the last optimizer step made weights NaN or inf.
            what = f"the weights became NaN or inf in epoch {stats.epoch} (by global step {self.global_step})"
        else:
            return
        last = ckpt.last_finite_checkpoint(self.run_dir, self.phase)
        raise FloatingPointError(
            f"{what}; training stopped without writing a checkpoint. The last checkpoint with finite weights is "
            f"{last or 'none'}. Lower train.lr, check the data, or use bf16 instead of fp16, then resume with "
            f"--resume_from_checkpoint {last or 'latest'}")

    def _log_boxes(self, tag: str, batch: dict[str, torch.Tensor], tokens: torch.Tensor) -> None:
        """Up to ``train.log_images`` search crops with the target (green) and predicted (red) boxes."""
        grid = box_grid(batch["search_images"], batch["search_anno"], tokens_to_boxes(tokens, self.cfg.model.bins),
                        self.cfg.train.log_images)
        self.accelerator.get_tracker("tensorboard").log_images({tag: grid}, step=self.global_step, dataformats="HWC")

    def _end_epoch(self, stats: EpochStats) -> Path:
        acc, epoch = self.accelerator, stats.epoch
        self._check_finite(stats)
        total = acc.reduce(stats.sums, reduction="mean")
        loss, iou = (total[0] / total[2]).item(), (total[1] / total[2]).item()
        rate = stats.samples_per_s
        lr = self.optimizer.param_groups[-1]["lr"]  # the learning rate this epoch trained with (decoder group)
        self.scheduler.step()
        self.history.append(phase=self.phase, epoch=epoch, loss=loss, iou=iou, lr=lr, samples_per_s=rate)
        # undecodable frames and re-drawn samples of this run so far, over every process and its loader workers
        keys = ("decode_errors", "read_errors", "redraws")
        counts = dict(zip(keys, acc.reduce(torch.tensor([self.dataset.stats[k] for k in keys], device=acc.device),
                                           reduction="sum").tolist()))
        logger.info("epoch %d done: Loss/total %.5f, IoU %.5f, %.1f samples/s; so far %d undecodable frames, %d "
                    "unreadable frames and %d re-drawn samples", epoch, loss, iou, rate, counts["decode_errors"],
                    counts["read_errors"], counts["redraws"])
        drawn = self.dataset.drawn  # samples made from each source since this run started, over processes, workers
        drawn = dict(zip(drawn, acc.reduce(torch.tensor(list(drawn.values()), device=acc.device),
                                           reduction="sum").tolist()))
        if len(drawn) > 1:
            logger.info("samples drawn per source since this run started: %s",
                        ", ".join(f"{k} {v}" for k, v in drawn.items()))
        acc.log({"epoch/loss": loss, "epoch/iou": iou, "epoch/samples_per_s": rate, "epoch/epoch": epoch,
                 **{f"data/{k}": v for k, v in counts.items()},
                 **{f"data/samples_{k}": v for k, v in drawn.items()}}, step=self.global_step)
        self._maybe_free_run(epoch)
        self._maybe_validate(epoch)
        if acc.is_main_process:
            write_plots(self.run_dir, self.history, self.phase)
        return self._save(stats, end_of_epoch=True)

    # ------------------------------------------------------------------------------------------------------------
    # validation

    def _due(self, every: int, epoch: int) -> bool:
        return bool(every) and (epoch % every == 0 or epoch == self.last_epoch)

    def _maybe_free_run(self, epoch: int) -> None:
        if self.free_run is None or not self._due(self.cfg.eval.free_run_every_epochs, epoch):
            return
        acc = self.accelerator
        if acc.is_main_process:
            scores = self.free_run.run(acc.unwrap_model(self.model), acc.device, acc.autocast)
            key = str(epoch)
            self.history.free_iou[key] = scores.iou
            self.history.prior_iou[key] = scores.prior_iou
            self.history.free_spread[key] = list(scores.spread)
            spread = ", ".join(f"{c} {s:.2f}" for c, s in zip(COORDINATES, scores.spread))
            logger.info("free-running validation after epoch %d: IoU %.4f against %.4f for the mean-box prior "
                        "(%+.4f) on %d held-out crops; prediction spread / target spread: %s", epoch, scores.iou,
                        scores.prior_iou, scores.iou - scores.prior_iou, scores.samples, spread)
            values = {"val/free_iou": scores.iou, "val/prior_iou": scores.prior_iou,
                      "val/free_minus_prior_iou": scores.iou - scores.prior_iou,
                      **{f"val/spread_{c}": s for c, s in zip(COORDINATES, scores.spread)}}
            ev = self.cfg.eval
            spreads = [self.history.free_spread[e] for e in sorted(self.history.free_spread, key=int)]
            collapsed = collapsed_coordinates(spreads, ev.collapse_spread, ev.collapse_patience)
            if collapsed:
                message = (f"epoch {epoch}: the predictions have collapsed in {', '.join(collapsed)}: over "
                           f"{scores.samples} held-out crops they vary "
                           + ", ".join(f"{scores.spread[COORDINATES.index(c)]:.0%}" for c in collapsed)
                           + f" as much as the targets, below eval.collapse_spread={ev.collapse_spread} in the last "
                           f"{ev.collapse_patience} validations: the model answers nearly the same value whatever "
                           "the image shows")
                logger.warning("%s", message)
                values["val/collapse"] = message
            acc.log(values, step=self.global_step)
            if self.cfg.train.log_images:
                self._log_boxes("val/free_run_boxes", self.free_run.samples, scores.predicted)
        acc.wait_for_everyone()

    def _maybe_validate(self, epoch: int) -> None:
        if not self._due(self.cfg.eval.validate_every_epochs, epoch):
            return
        acc = self.accelerator
        if acc.is_main_process:
            result = validate(acc.unwrap_model(self.model), self.cfg, max_frames=self.cfg.eval.max_frames)
            self.history.val_auc[str(epoch)] = result["auc"]
            acc.log({"val/auc": result["auc"], "val/precision": result["precision"]}, step=self.global_step)
            logger.info("validation after epoch %d: AUC %.2f, precision %.2f", epoch, result["auc"],
                        result["precision"])
            self.model.train()
        acc.wait_for_everyone()

    # ------------------------------------------------------------------------------------------------------------
    # checkpoints

    def _save(self, stats: EpochStats, *, end_of_epoch: bool) -> Path:
        acc = self.accelerator
        self._check_finite(stats)
        folder = ckpt.checkpoints_dir(self.run_dir, self.phase)
        final = folder / ckpt.checkpoint_name(stats.epoch, self.global_step, end_of_epoch)
        tmp = ckpt.temporary_dir(final)
        partial = acc.gather(stats.sums[None]).tolist() if not end_of_epoch else []

        def make_folder() -> None:
            if acc.is_main_process:
                shutil.rmtree(tmp, ignore_errors=True)
                tmp.mkdir(parents=True)

        def write() -> None:
            acc.save_state(str(tmp))
            if acc.is_main_process:
                state = TrainingState(
                    phase=self.phase, epoch=stats.epoch, global_step=self.global_step,
                    step_in_epoch=0 if end_of_epoch else stats.step, history=self.history,
                    model_signature=model_signature(self.cfg), config_name=self.cfg.name,
                    world_size=acc.num_processes, versions=versions(), partial_sums=partial,
                    saved_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                )
                write_json_atomic(tmp / ckpt.STATE_FILE, state.to_dict())
                write_text_atomic(tmp / ckpt.CONFIG_FILE, dump_config(self.cfg))

        failure = self._on_every_process(make_folder) or self._on_every_process(write)
        if failure:
            if acc.is_main_process:
                shutil.rmtree(tmp, ignore_errors=True)
            last = ckpt.latest_checkpoint(self.run_dir, self.phase)
            raise CheckpointError(
                f"could not write checkpoint {final}: {failure}. The partial write was removed; the last checkpoint "
                f"{last or '(none yet)'} is intact. Remove the cause (free space, raise the file-size limit, make "
                f"{folder} writable), then resume with --resume_from_checkpoint latest")
        if acc.is_main_process:
            ckpt.publish(tmp, final, acc.num_processes)
            for removed in ckpt.rotate(self.run_dir, self.phase, self.cfg.train.keep_last, protect={final}):
                logger.info("rotated out %s", removed)
            logger.info("checkpoint written: %s", final)
            if self.mirror is not None:
                self.mirror.submit_checkpoint(final, self.phase)
        acc.wait_for_everyone()
        return final

    def _on_every_process(self, write) -> str | None:
        """Run ``write`` on every process; the first storage failure of any process, described, or None. A
        collective: every process learns of a failure on any other, so none waits for a failed one."""
        failure = None
        try:
            write()
        except ckpt.WRITE_ERRORS as e:  # each library reports a full disk in its own way
            failure = ckpt.describe_write_error(e, ckpt.checkpoints_dir(self.run_dir, self.phase))
        return next((f for f in gather_object([failure]) if f), None)
