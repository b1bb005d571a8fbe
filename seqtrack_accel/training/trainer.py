"""The Accelerate training program: one phase of a run, from its set-up to its last epoch.

    trainer = Trainer(cfg, run_dir="runs/demo", phase=1)
    result = trainer.fit()                      # set-up, then the epoch loop

    trainer.setup()                             # or: everything up to the first step (benchmarks time the step)
    for batch in trainer.loader:
        loss, iou, logits = trainer.train_step(batch)

The rest of a run lives beside it: where a phase starts and what a resume changes (``resume``), writing, rotating and
keeping the best checkpoint (``saver``), stopping on a signal (``stop``), free-running validation (``validation``),
the run folder and the training state (``seqtrack_accel.run_folder``), the Hub mirror (``seqtrack_accel.hub``).
The loop keeps CPU-GPU synchronisation out of the step: loss and IoU are summed on the device (``EpochStats``) and
reduced across processes only every ``train.print_interval`` steps and at the end of each epoch.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import logging
import multiprocessing
import signal
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration, broadcast_object_list, set_seed
from torch.utils.data import DataLoader
from torch.utils.tensorboard.summary import hparams
from tqdm.auto import tqdm

from ..config import Config, ConfigError, dump_config, flat_config, with_scratch_init
from ..data import EpochSampler, build_train_dataset, normalize_batch, worker_init_fn
from ..files import write_text_atomic
from ..hub import HubMirror, with_hub_weights
from ..model import build_model
from ..model.tokens import center_token_loss, make_sequences, sequence_loss, teacher_forced_iou, tokens_to_boxes
from ..run_folder import CONFIG_FILE, CheckpointError, History, RunLock, checkpoints_dir, phase_dir
from ..tracking.evaluate import validate
from .plots import write_plots
from .resume import find_start, lr_lambda, restore
from .saver import CheckpointSaver, clean_temporaries
from .stop import StopRequest
from .validation import FreeRunValidation, record
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
    with ``[START, cx, cy, w, h]``, the weighted cross-entropy of the original (plus ``model.center_weight`` times
    the centre-token loss when that is set), and its logged IoU."""
    inputs, targets = make_sequences(batch["search_anno"], cfg.model.bins)
    template_images, search_images = normalize_batch(batch, cfg.data.mean, cfg.data.std)
    logits, memory = model(template_images, search_images, inputs, return_memory=True)
    loss = sequence_loss(logits, targets, cfg.model.bins, cfg.model.end_weight)
    if cfg.model.center_weight > 0:
        loss = loss + cfg.model.center_weight * center_token_loss(memory, batch["search_anno"])
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


@contextlib.contextmanager
def frozen_for_workers(workers: int):
    """The objects that exist now left out of garbage collection (``gc.freeze``) while DataLoader workers run.

    The workers fork at the first batch. A collection in a worker writes the GC header of every object it scans, so
    each page of the parent's objects it touches is copied into the worker (copy-on-write): hundreds of MB per
    worker after a few collections. Frozen objects are never scanned, and their pages stay shared. They are
    unfrozen when training ends, so a process that trains again collects them as usual.
    """
    if workers <= 0:
        yield
        return
    gc.collect()  # what is garbage now is freed before, not kept for the run
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


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
            checkpoint folder or an ``hf://`` address of a mirrored run's checkpoint (its full state).
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
        self.start = None  # where this phase starts (set by setup)
        self._log_handler = None
        self._lock = RunLock(self.run_dir)
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
            with frozen_for_workers(self.cfg.data.num_workers):
                return self._run_epochs()
        except _StoppedBeforeFirstStep as stopped:
            logger.info("stopped on request %s, before the first step: nothing was trained and no checkpoint was "
                        "written; run the same command again to start", stopped)
            state = self.start.state if self.start is not None else None
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
        restored state, TensorBoard, the Hub mirror and the checkpoint saver. A stop requested meanwhile ends it
        (``fit`` then returns before the first step); it is checked after each long part, at the same points on every
        process."""
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
        self._take_folder()

        # where this phase starts
        self.start = start = find_start(acc, cfg, self.run_dir, self.phase, self.resume_from, self.last_epoch)
        if acc.is_main_process:
            text = dump_config(cfg)
            write_text_atomic(self.run_dir / CONFIG_FILE, text)
            write_text_atomic(phase_dir(self.run_dir, self.phase) / CONFIG_FILE, text)
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
        with acc.local_main_process_first():  # a model on the Hub is downloaded once per machine
            model = build_model(with_hub_weights(cfg, timeout=cfg.hub.request_timeout) if start.folder is None
                                else with_scratch_init(cfg))
        start.load_weights(model)
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

        # the restored state: history, step counter, optimizer, schedule, RNGs, where the data continues
        self.history, self.global_step = start.history, start.global_step
        if start.folder is not None and start.full_state:
            restore(start, acc, cfg, self.optimizer, self.scheduler)
        else:
            set_seed(cfg.train.seed, device_specific=True)  # each process its own dropout stream
        if start.folder is not None:
            logger.info("resuming from %s (%s): epoch %d, global step %d", start.folder,
                        "full state" if start.full_state else "weights only", start.first_epoch, self.global_step)
        self._stop_point("while the starting state was restored")

        # TensorBoard, the Hub mirror, the checkpoint saver
        acc.init_trackers("tensorboard", init_kwargs={
            "tensorboard": {"purge_step": self.global_step + 1}} if self.global_step else {})
        if acc.is_main_process:
            self._log_hparams()
        if acc.is_main_process and cfg.hub.repo_id:
            self.mirror = HubMirror(cfg.hub, self.run_dir)
            self.mirror.start()
            self.mirror.sync_missing()
        self.saver = CheckpointSaver(acc, cfg, self.run_dir, self.phase, self.mirror)
        self.saver.start(self.history)

    def _take_folder(self) -> None:
        """Lock the run folder (one run at a time), finish the checkpoint writes a kill interrupted, open the log
        file. Every process stops with the same error when another run holds the folder."""
        held_by_another = None
        if self.accelerator.is_main_process:
            try:
                self._lock.acquire()  # before anything is cleaned up or written: the folder may be another run's
            except CheckpointError as e:
                held_by_another = str(e)
            else:
                clean_temporaries(checkpoints_dir(self.run_dir, self.phase))
        held_by_another = broadcast_object_list([held_by_another])[0]
        if held_by_another:
            raise CheckpointError(held_by_another)
        self._owns_folder = True
        self._setup_logging()

    def _log_hparams(self) -> None:
        """The config in TensorBoard's HParams tab, in the run's own event stream. (Accelerate's ``init_trackers(
        config=...)`` would write it into a sub-run named by a timestamp, which TensorBoard lists as a second run.)"""
        writer = self.accelerator.get_tracker("tensorboard", unwrap=True)
        for summary in hparams(flat_config(self.cfg), metric_dict={}):
            writer.file_writer.add_summary(summary)

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
        """Each epoch's steps (the rest of the epoch a checkpoint was written in), then its statistics, validations
        and checkpoint, until ``epochs`` or a stop."""
        acc, cfg, start = self.accelerator, self.cfg, self.start
        epoch, checkpoint, stopped, interrupted = start.first_epoch, None, False, False
        for epoch in range(start.first_epoch, self.last_epoch + 1):
            resumed = epoch == start.first_epoch
            stats = EpochStats(epoch, len(self.loader), acc.device, step=start.step_in_epoch if resumed else 0,
                               partial=start.partial_sums(acc.process_index) if resumed else None)
            self.loader.set_epoch(epoch - 1)
            self.model.train()
            with tqdm(total=stats.steps, initial=stats.step, desc=f"epoch {epoch}", dynamic_ncols=True, leave=False,
                      disable=not acc.is_local_main_process) as bar:  # closed however the epoch ends
                for batch in acc.skip_first_batches(self.loader, stats.step) if stats.step else self.loader:
                    self.global_step += 1
                    out = self.train_step(batch)
                    stats.add(out, self.global_step, batch["search_anno"].shape[0] * acc.num_processes)
                    if stats.step == 1 and cfg.train.log_images and acc.is_main_process:
                        self._log_boxes("train/search_boxes", batch, out.logits[:, :4, :cfg.model.bins].argmax(-1))
                    if self.global_step % cfg.train.print_interval == 0 or stats.step == stats.steps:
                        self._log_window(stats, bar)  # the only synchronisation point inside an epoch
                    bar.update(1)
                    if stopped := self.stop.agreed():
                        break
                    every = cfg.train.checkpoint_every_steps
                    if every and self.global_step % every == 0 and stats.step < stats.steps and acc.sync_gradients:
                        self._save(stats)
            if stats.step < stats.steps:  # stopped inside the epoch
                checkpoint, interrupted = self._save(stats), True
                break
            self._end_epoch(stats)
            checkpoint = self._save(stats)
            if stopped:  # at the epoch's last step: after the last epoch the run has finished, not stopped
                interrupted = epoch < self.last_epoch
                break
        if interrupted:
            logger.info("stopped on request at epoch %d, step %d; resume with --resume_from_checkpoint latest",
                        epoch, self.global_step)
        self.model = acc.unwrap_model(self.model)
        return TrainResult(self.run_dir, self.phase, epoch, self.global_step, self.history, checkpoint, interrupted)

    def _log_window(self, stats: EpochStats, bar) -> None:
        acc = self.accelerator
        self.saver.check_finite(self.model, stats.bad_step, stats.epoch, self.global_step)
        window, rate = stats.take_window()
        window = acc.reduce(window, reduction="mean")
        loss, iou = (window[0] / window[2]).item(), (window[1] / window[2]).item()
        logger.info("[train: %d, %d / %d] samples/s %.1f, Loss/total %.5f, IoU %.5f",
                    stats.epoch, stats.step, stats.steps, rate, loss, iou)
        lrs = {f"lr/{g.get('name', i)}": g["lr"] for i, g in enumerate(self.optimizer.param_groups)}
        acc.log({"train/loss": loss, "train/iou": iou, "train/samples_per_s": rate, **lrs}, step=self.global_step)
        bar.set_postfix(loss=f"{loss:.4f}", iou=f"{iou:.3f}", samples_s=f"{rate:.1f}")

    def _log_boxes(self, tag: str, batch: dict[str, torch.Tensor], tokens: torch.Tensor) -> None:
        """Up to ``train.log_images`` search crops with the target (green) and predicted (red) boxes."""
        grid = box_grid(batch["search_images"], batch["search_anno"], tokens_to_boxes(tokens, self.cfg.model.bins),
                        self.cfg.train.log_images)
        self.accelerator.get_tracker("tensorboard").log_images({tag: grid}, step=self.global_step, dataformats="HWC")

    def _end_epoch(self, stats: EpochStats) -> None:
        """The finished epoch's statistics into the history, the log and TensorBoard; the validations due; plots."""
        acc, epoch = self.accelerator, stats.epoch
        self.saver.check_finite(self.model, stats.bad_step, epoch, self.global_step)
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

    def _save(self, stats: EpochStats) -> Path:
        """The checkpoint of the epoch (inside it: of the steps done so far), after the NaN check."""
        self.saver.check_finite(self.model, stats.bad_step, stats.epoch, self.global_step)
        inside = stats.step < stats.steps
        return self.saver.save(self.history, stats.epoch, self.global_step, step=stats.step if inside else 0,
                               sums=stats.sums if inside else None)

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
            acc.log(record(scores, self.history, epoch, self.cfg.eval), step=self.global_step)
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
