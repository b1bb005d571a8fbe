"""The Accelerate training program: phases, full-state checkpoints, exact resume, TensorBoard, plots, Hub mirror.

    trainer = Trainer(cfg, run_dir="runs/demo", phase=1)
    result = trainer.fit()

The loop keeps CPU-GPU synchronisation out of the step: loss and IoU are summed on the device and reduced across
processes only every ``train.print_interval`` steps and at the end of each epoch.
"""

from __future__ import annotations

import datetime
import logging
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration, set_seed
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from .. import __version__
from ..config import Config, ConfigError, dump_config, model_hash, model_signature, to_dict, with_scratch_init
from ..data import EpochSampler, build_train_dataset, normalize_batch, worker_init_fn
from ..files import write_json_atomic, write_text_atomic
from ..model import build_model
from ..model.tokens import make_sequences, sequence_loss, teacher_forced_iou
from . import checkpoint as ckpt
from .checkpoint import CheckpointError, History, TrainingState
from .plots import write_plots
from .validation import COORDINATES, FreeRunValidation
from .visualize import box_grid

logger = logging.getLogger("seqtrack_accel.train")


@dataclass
class TrainResult:
    run_dir: Path
    phase: int
    epoch: int
    global_step: int
    history: History
    last_checkpoint: Path | None
    interrupted: bool = False


class _StopRequest:
    """SIGTERM / SIGINT set a flag; every process stops at the same step boundary (agreed over a gloo group)."""

    def __init__(self):
        self.requested = False
        self._previous = {}
        self._group = None

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            # A CPU all-reduce of one flag per step: no CUDA synchronisation, and every rank sees the same answer.
            self._group = dist.new_group(backend="gloo") if dist.get_backend() != "gloo" else dist.group.WORLD

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum, frame) -> None:
        self.requested = True
        logger.warning("received %s: stopping at the next step boundary and writing a checkpoint",
                       signal.Signals(signum).name)

    def agreed(self) -> bool:
        if self._group is None:
            return self.requested
        flag = torch.tensor([1 if self.requested else 0], dtype=torch.int32)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=self._group)
        return bool(flag.item())


def _versions() -> dict:
    import accelerate
    import huggingface_hub
    import timm

    return {"seqtrack_accel": __version__, "torch": torch.__version__, "accelerate": accelerate.__version__,
            "timm": timm.__version__, "huggingface_hub": huggingface_hub.__version__}


def _flat(values: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in values.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, key + "."))
        else:
            out[key] = v if isinstance(v, (int, float, str, bool)) else str(v)
    return out


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


class Trainer:
    """Train SeqTrack for one phase.

    Args:
        cfg: the resolved configuration.
        run_dir: the run folder (config, logs, TensorBoard, one ``phase_N`` folder per phase).
        phase: this phase's number. Phase 1 starts fresh unless ``resume_from`` is given; a later phase without
            ``resume_from`` continues from the newest checkpoint of the highest earlier phase.
        epochs: the epoch number to stop after (absolute, over all phases); default ``cfg.train.epochs``.
        resume_from: ``None`` (no resume requested), ``"latest"``, a checkpoint folder or ``hf://ORG/NAME[/...]``.
    """

    def __init__(self, cfg: Config, *, run_dir: str | Path, phase: int = 1, epochs: int | None = None,
                 resume_from: str | None = None):
        if phase < 1:
            raise ValueError(f"--phase must be >= 1, got {phase}")
        self.cfg = cfg
        self.run_dir = Path(run_dir).resolve()
        self.phase = phase
        self.last_epoch = epochs if epochs is not None else cfg.train.epochs
        if self.last_epoch < 1:
            raise ValueError(f"--epochs must be >= 1, got {self.last_epoch}")
        self.resume_from = resume_from
        self.stop = _StopRequest()

    # ------------------------------------------------------------------------------------------------------------
    # set-up

    def _resolve_start(self) -> tuple[Path | None, bool]:
        """Which checkpoint to start from, and whether to restore its full state (else weights only)."""
        spec = self.resume_from
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
            return previous, self.cfg.train.phase_init == "resume"
        if spec == "latest":
            found = ckpt.latest_checkpoint(self.run_dir, self.phase)
            if found is None:
                raise CheckpointError(
                    f"--resume_from_checkpoint latest: no complete checkpoint under {self.run_dir} for phases "
                    f"1..{self.phase}; start with --phase 1 (without --resume_from_checkpoint)")
            return found, True
        if spec.startswith("hf://"):
            from ..hub import download_checkpoint

            dest = self.run_dir / ".hub_downloads"
            with self.accelerator.local_main_process_first():
                return download_checkpoint(spec, dest, timeout=self.cfg.hub.request_timeout), True
        return Path(spec).resolve(), True

    def _check_compatible(self, state: TrainingState, folder: Path) -> None:
        mine = model_signature(self.cfg)
        theirs = state.model_signature
        differing = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
        if differing:
            lines = ", ".join(f"{k} (checkpoint {theirs.get(k)!r}, config {mine.get(k)!r})" for k in differing)
            raise CheckpointError(f"checkpoint {folder} was trained with a different model: {lines}. "
                                  "Use the run's config.yaml or a matching config.")

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

    def _setup_logging(self) -> None:
        if not self.accelerator.is_main_process:
            logger.setLevel(logging.WARNING)
            return
        log_dir = self.run_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        # The original's log file name pattern; appended to across resumes and phases.
        handler = logging.FileHandler(log_dir / f"seqtrack-{self.cfg.name}.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger("seqtrack_accel")
        root.setLevel(logging.INFO)
        root.addHandler(handler)
        self._log_handler = handler

    # ------------------------------------------------------------------------------------------------------------
    # checkpoints

    def _save(self, *, epoch: int, step_in_epoch: int, sums: torch.Tensor, end_of_epoch: bool) -> Path:
        acc = self.accelerator
        folder = ckpt.checkpoints_dir(self.run_dir, self.phase)
        final = folder / ckpt.checkpoint_name(epoch, self.global_step, end_of_epoch)
        tmp = ckpt.temporary_dir(final)
        partial = acc.gather(sums[None]).tolist() if not end_of_epoch else []
        if acc.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        acc.wait_for_everyone()
        acc.save_state(str(tmp))
        if acc.is_main_process:
            state = TrainingState(
                phase=self.phase, epoch=epoch, global_step=self.global_step,
                step_in_epoch=0 if end_of_epoch else step_in_epoch, history=self.history,
                model_signature=model_signature(self.cfg), config_name=self.cfg.name, world_size=acc.num_processes,
                versions=_versions(), partial_sums=partial, config_hash=model_hash(self.cfg),
                saved_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            )
            write_json_atomic(tmp / ckpt.STATE_FILE, state.to_dict())
            write_text_atomic(tmp / ckpt.CONFIG_FILE, dump_config(self.cfg))
        acc.wait_for_everyone()
        if acc.is_main_process:
            ckpt.publish(tmp, final, acc.num_processes)
            removed = ckpt.rotate(self.run_dir, self.phase, self.cfg.train.keep_last, protect={final})
            for r in removed:
                logger.info("rotated out %s", r)
            logger.info("checkpoint written: %s", final)
            if self.mirror is not None:
                self.mirror.submit_checkpoint(final, self.phase)
        acc.wait_for_everyone()
        return final

    # ------------------------------------------------------------------------------------------------------------
    # the run

    def fit(self) -> TrainResult:
        cfg = self.cfg
        self.accelerator = acc = Accelerator(
            gradient_accumulation_steps=cfg.train.grad_accum_steps,
            log_with="tensorboard",
            project_config=ProjectConfiguration(project_dir=str(self.run_dir), logging_dir=str(self.run_dir)),
            # The schedule is per epoch: a prepared scheduler would otherwise step once per process per call.
            step_scheduler_with_optimizer=False,
            dataloader_config=DataLoaderConfiguration(non_blocking=True),
        )
        if acc.is_main_process:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            ckpt.clean_temporaries(ckpt.checkpoints_dir(self.run_dir, self.phase))
        acc.wait_for_everyone()
        self._setup_logging()
        try:
            return self._fit()
        finally:
            if getattr(self, "_log_handler", None) is not None:
                logging.getLogger("seqtrack_accel").removeHandler(self._log_handler)
                self._log_handler.close()

    def _fit(self) -> TrainResult:
        cfg, acc = self.cfg, self.accelerator
        start, full_state = self._resolve_start()
        state = None
        if start is not None:
            state = ckpt.verify_checkpoint(start)
            self._check_compatible(state, start)
            done = state.epoch if state.complete_epoch else state.epoch - 1
            if done >= self.last_epoch:
                raise CheckpointError(f"checkpoint {start} has already finished epoch {done}, and --epochs is "
                                      f"{self.last_epoch}: nothing to train. Pass a larger --epochs.")
            if full_state and not state.complete_epoch and state.world_size != acc.num_processes:
                raise CheckpointError(
                    f"checkpoint {start} was written inside an epoch by {state.world_size} processes; resume it "
                    f"with the same number of processes (now {acc.num_processes}) or from an end-of-epoch checkpoint")

        if acc.is_main_process:
            text = dump_config(cfg)
            write_text_atomic(self.run_dir / "config.yaml", text)
            (self.run_dir / f"phase_{self.phase}").mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.run_dir / f"phase_{self.phase}" / "config.yaml", text)
        logger.info("run folder %s, phase %d, %d process(es), mixed precision %s",
                    self.run_dir, self.phase, acc.num_processes, acc.mixed_precision)

        with acc.main_process_first():
            self.dataset = dataset = build_train_dataset(cfg)
            self.free_run = self._build_free_run(dataset)
        loader = self._build_loader(dataset)

        set_seed(cfg.train.seed)  # identical initial weights on every process
        model_cfg = cfg if start is None else with_scratch_init(cfg)
        model = build_model(model_cfg)
        if start is not None and not full_state:
            from safetensors.torch import load_file

            model.load_state_dict(load_file(str(start / ckpt.WEIGHTS_FILE)), strict=True)
            logger.info("phase %d starts from the weights of %s with a fresh optimizer and schedule", self.phase, start)
        if cfg.train.compile:
            # In place: the module keeps its class and parameter names, so checkpoints, unwrap_model and
            # state_dict are those of the eager model. generate() (validation) stays eager.
            model.compile()
        fused = cfg.train.fused_optimizer and acc.device.type == "cuda"
        optimizer = torch.optim.AdamW(param_groups(model, cfg), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay,
                                      fused=fused or None)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg.train.lr_drop_epoch, cfg.train.lr_drop_factor))
        model, optimizer, loader, scheduler = acc.prepare(model, optimizer, loader, scheduler)
        if len(loader) == 0:
            raise ConfigError("data.samples_per_epoch", f"{cfg.data.samples_per_epoch} samples make no full batch of "
                              f"train.batch_size={cfg.train.batch_size} on each of {acc.num_processes} process(es); "
                              "raise data.samples_per_epoch or lower train.batch_size")

        self.history = History()
        self.global_step = 0
        first_epoch, skip, partial = 1, 0, None
        if state is not None:
            self.history = state.history
            self.global_step = state.global_step
            if full_state:
                self._load_full_state(start, state)
                first_epoch = state.epoch + 1 if state.complete_epoch else state.epoch
                skip = state.step_in_epoch
                if state.partial_sums:
                    partial = state.partial_sums[acc.process_index]
            else:
                first_epoch = (state.epoch if state.complete_epoch else state.epoch - 1) + 1
            logger.info("resuming from %s (%s): epoch %d, global step %d", start,
                        "full state" if full_state else "weights only", first_epoch, self.global_step)
        if state is None or not full_state:
            set_seed(cfg.train.seed, device_specific=True)  # each process its own dropout stream

        acc.init_trackers("tensorboard", config=_flat(to_dict(cfg)),
                          init_kwargs={"tensorboard": {"purge_step": self.global_step + 1}} if self.global_step else {})
        self.mirror = None
        if acc.is_main_process and cfg.hub.repo_id:
            from ..hub import HubMirror

            self.mirror = HubMirror(cfg.hub, self.run_dir)
            self.mirror.start()
            self.mirror.sync_missing()

        self.stop.install()
        last_ckpt = None
        interrupted = False
        try:
            epoch = first_epoch
            for epoch in range(first_epoch, self.last_epoch + 1):
                last_ckpt, interrupted = self._train_epoch(model, optimizer, scheduler, loader, epoch, skip, partial)
                skip, partial = 0, None
                if interrupted:
                    break
        finally:
            self.stop.uninstall()
            acc.end_training()
            if self.mirror is not None:
                missing = self.mirror.close()
                if missing:
                    logger.warning("not mirrored to %s: %s", cfg.hub.repo_id, ", ".join(missing))
        if interrupted:
            logger.info("stopped on request at epoch %d, step %d; resume with --resume_from_checkpoint latest",
                        epoch, self.global_step)
        self.model = acc.unwrap_model(model)
        return TrainResult(self.run_dir, self.phase, epoch, self.global_step, self.history, last_ckpt, interrupted)

    def _load_full_state(self, folder: Path, state: TrainingState) -> None:
        acc = self.accelerator
        rng_file = folder / f"random_states_{acc.process_index}.pkl"
        if rng_file.is_file():
            # Accelerate's load_state swallows a failure to restore RNG states; check the file loads first.
            from accelerate.utils import load

            load(str(rng_file))
        else:
            logger.warning("%s has no RNG state for process %d (written by %d processes); this process's RNG is "
                           "re-seeded", folder, acc.process_index, state.world_size)
            set_seed(self.cfg.train.seed + 1000 * state.global_step, device_specific=True)
        acc.load_state(str(folder))

    def _train_epoch(self, model, optimizer, scheduler, loader, epoch: int, skip: int, partial) -> tuple[Path | None, bool]:
        acc, cfg = self.accelerator, self.cfg
        bins, end_weight = cfg.model.bins, cfg.model.end_weight
        world = acc.num_processes
        steps = len(loader)
        loader.set_epoch(epoch - 1)
        batches = acc.skip_first_batches(loader, skip) if skip else loader
        model.train()
        device = acc.device
        # [loss sum, IoU sum, batch count] on the device: no host synchronisation inside the step
        sums = torch.tensor(partial if partial is not None else [0.0, 0.0, 0.0], device=device, dtype=torch.float64
                            if device.type == "cpu" else torch.float32)
        window = torch.zeros(3, device=device, dtype=sums.dtype)
        bad_step = torch.full((), -1, device=device, dtype=torch.long)
        bar = tqdm(total=steps, initial=skip, desc=f"epoch {epoch}", disable=not acc.is_local_main_process,
                   dynamic_ncols=True, leave=False)
        t_window, t_epoch, n_window, n_epoch = time.perf_counter(), time.perf_counter(), 0, 0
        last_batch = last_logits = None
        step_in_epoch = skip
        for batch in batches:
            step_in_epoch += 1
            self.global_step += 1
            with acc.accumulate(model):
                inputs, targets = make_sequences(batch["search_anno"], bins)
                template_images, search_images = normalize_batch(batch, cfg.data.mean, cfg.data.std)
                logits = model(template_images, search_images, inputs)
                loss = sequence_loss(logits, targets, bins, end_weight)
                acc.backward(loss)
                if acc.sync_gradients and cfg.train.grad_clip_norm > 0:
                    acc.clip_grad_norm_(model.parameters(), cfg.train.grad_clip_norm)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)

            # compute losses' statistics on the device
            loss = loss.detach()
            iou = teacher_forced_iou(logits.detach(), targets, bins).mean()
            stats = torch.stack([loss.to(sums.dtype), iou.to(sums.dtype), torch.ones((), device=device, dtype=sums.dtype)])
            sums += stats
            window += stats
            bad_step = torch.where((bad_step < 0) & ~torch.isfinite(loss), self.global_step, bad_step)
            n_window += batch["search_anno"].shape[0] * world
            n_epoch += batch["search_anno"].shape[0] * world
            last_batch, last_logits = batch, logits

            # log every N steps (the only synchronisation point inside an epoch)
            if self.global_step % cfg.train.print_interval == 0 or step_in_epoch == steps:
                self._check_finite(bad_step, epoch)
                w = acc.reduce(window, reduction="mean")
                loss_w, iou_w = (w[0] / w[2]).item(), (w[1] / w[2]).item()
                rate = n_window / max(time.perf_counter() - t_window, 1e-9)
                logger.info("[train: %d, %d / %d] samples/s %.1f, Loss/total %.5f, IoU %.5f",
                            epoch, step_in_epoch, steps, rate, loss_w, iou_w)
                lrs = {f"lr/{g.get('name', i)}": g["lr"] for i, g in enumerate(optimizer.param_groups)}
                acc.log({"train/loss": loss_w, "train/iou": iou_w, "train/samples_per_s": rate, **lrs},
                        step=self.global_step)
                bar.set_postfix(loss=f"{loss_w:.4f}", iou=f"{iou_w:.3f}", samples_s=f"{rate:.1f}")
                window.zero_()
                t_window, n_window = time.perf_counter(), 0
            bar.update(1)

            if self.stop.agreed():
                self._check_finite(bad_step, epoch)
                bar.close()
                if step_in_epoch == steps:
                    return self._end_epoch(model, scheduler, sums, epoch, n_epoch, t_epoch, last_batch, last_logits), True
                return self._save(epoch=epoch, step_in_epoch=step_in_epoch, sums=sums, end_of_epoch=False), True
            every = cfg.train.checkpoint_every_steps
            if every and self.global_step % every == 0 and step_in_epoch < steps and acc.sync_gradients:
                self._check_finite(bad_step, epoch)
                self._save(epoch=epoch, step_in_epoch=step_in_epoch, sums=sums, end_of_epoch=False)
        bar.close()
        self._check_finite(bad_step, epoch)
        return self._end_epoch(model, scheduler, sums, epoch, n_epoch, t_epoch, last_batch, last_logits), False

    def _check_finite(self, bad_step: torch.Tensor, epoch: int) -> None:
        step = int(self.accelerator.gather(bad_step.reshape(1)).max().item())
        if step >= 0:
            last = ckpt.latest_checkpoint(self.run_dir, self.phase)
            raise FloatingPointError(
                f"the loss became NaN or inf in epoch {epoch} (first at global step {max(step, 0)}); training stopped "
                f"without writing a checkpoint. The last good checkpoint is {last or 'none'}. Lower train.lr, check "
                "the data, or use bf16 instead of fp16, then resume with --resume_from_checkpoint latest")

    def _end_epoch(self, model, scheduler, sums, epoch, n_epoch, t_epoch, last_batch, last_logits) -> Path:
        acc, cfg = self.accelerator, self.cfg
        total = acc.reduce(sums, reduction="mean")
        loss, iou = (total[0] / total[2]).item(), (total[1] / total[2]).item()
        rate = n_epoch / max(time.perf_counter() - t_epoch, 1e-9)
        lr = scheduler.get_last_lr()[-1]
        scheduler.step()
        self.history.append(phase=self.phase, epoch=epoch, loss=loss, iou=iou, lr=lr, samples_per_s=rate)
        # undecodable frames and re-drawn samples of this run so far, over every process and its loader workers
        data_stats = self.dataset.stats
        counts = acc.reduce(torch.tensor([data_stats["decode_errors"], data_stats["redraws"]], device=acc.device),
                            reduction="sum").tolist()
        logger.info("epoch %d done: Loss/total %.5f, IoU %.5f, %.1f samples/s, %d undecodable frames and %d "
                    "re-drawn samples so far", epoch, loss, iou, rate, counts[0], counts[1])
        acc.log({"epoch/loss": loss, "epoch/iou": iou, "epoch/samples_per_s": rate, "epoch/epoch": epoch,
                 "data/decode_errors": counts[0], "data/redraws": counts[1]}, step=self.global_step)
        if acc.is_main_process and cfg.train.log_images and last_batch is not None:
            grid = box_grid(last_batch["search_images"], last_batch["search_anno"], last_logits, cfg)
            acc.get_tracker("tensorboard").log_images({"train/search_boxes": grid}, step=self.global_step,
                                                      dataformats="HWC")
        self._maybe_free_run(model, epoch)
        self._maybe_validate(model, epoch)
        if acc.is_main_process:
            write_plots(self.run_dir, self.history, self.phase)
        return self._save(epoch=epoch, step_in_epoch=0, sums=sums, end_of_epoch=True)

    def _build_free_run(self, dataset) -> FreeRunValidation | None:
        if not self.cfg.eval.free_run_every_epochs:
            return None
        try:
            return FreeRunValidation.build(self.cfg, dataset)
        except (ValueError, KeyError, FileNotFoundError) as e:
            raise ConfigError("eval.free_run_every_epochs", f"free-running validation has no held-out samples: {e}. "
                              "Give validation sequences (eval.split, eval.classes, eval.validate_sequences) or "
                              "turn it off with eval.free_run_every_epochs=0") from e

    def _due(self, every: int, epoch: int) -> bool:
        return bool(every) and (epoch % every == 0 or epoch == self.last_epoch)

    def _maybe_free_run(self, model, epoch: int) -> None:
        if self.free_run is None or not self._due(self.cfg.eval.free_run_every_epochs, epoch):
            return
        acc = self.accelerator
        if acc.is_main_process:
            scores = self.free_run.run(acc.unwrap_model(model), acc.device, acc.autocast)
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
            collapsed = scores.collapsed(self.cfg.eval.collapse_spread)
            if collapsed:
                message = (f"epoch {epoch}: the predictions have collapsed in {', '.join(collapsed)}: over "
                           f"{scores.samples} held-out crops they vary "
                           + ", ".join(f"{scores.spread[COORDINATES.index(c)]:.0%}" for c in collapsed)
                           + f" as much as the targets (eval.collapse_spread={self.cfg.eval.collapse_spread}). The "
                           "model answers nearly the same box whatever the image shows; more data, jitter or "
                           "epochs, or fewer bins, help")
                logger.warning("%s", message)
                values["val/collapse"] = message
            acc.log(values, step=self.global_step)
        acc.wait_for_everyone()

    def _maybe_validate(self, model, epoch: int) -> None:
        if not self._due(self.cfg.eval.validate_every_epochs, epoch):
            return
        acc = self.accelerator
        if acc.is_main_process:
            from ..tracking.evaluate import validate

            result = validate(acc.unwrap_model(model), self.cfg, max_frames=self.cfg.eval.max_frames)
            self.history.val_auc[str(epoch)] = result["auc"]
            acc.log({"val/auc": result["auc"], "val/precision": result["precision"]}, step=self.global_step)
            logger.info("validation after epoch %d: AUC %.2f, precision %.2f", epoch, result["auc"], result["precision"])
            model.train()
        acc.wait_for_everyone()
