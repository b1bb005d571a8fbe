"""Free-running validation: the decoder as at tracking time, on fixed held-out crops, against an image-blind prior.

The logged training IoU is teacher-forced (as in the original): every coordinate token is predicted after the
ground-truth tokens before it, so a model that ignores the image and always answers the crop's usual box still
scores well there. This check runs ``SeqTrack.generate`` (greedy decoding, the Hanning window of the tracker)
on search crops from held-out sequences and compares its IoU with the IoU of the *prior*: the training set's mean
box in the crop, which is what a model scores by predicting the same box for every input. It also measures how
much the predictions vary: the spread (standard deviation) of each predicted coordinate token over the samples,
as a fraction of the targets' spread. A spread near 0 means the model answers the same token whatever it sees.

    validation = FreeRunValidation.build(cfg, train_dataset)      # crops made once, kept as uint8
    scores = validation.run(model, device)                         # FreeRunScores
    values = record(scores, history, epoch, cfg.eval)              # into the history and the log; for TensorBoard

The samples are the first ``eval.free_run_samples`` items of a ``TrackingDataset`` over the validation sequences
with a fixed seed and no photometric augmentation or flips: the same crops every epoch, in every phase and for any
number of processes (the main process computes; batches are fixed, so the value depends on the weights only).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import numpy as np
import torch

from ..config import Config, EvalConfig
from ..data import TrackingDataset, evaluation_sequences, normalize_batch
from ..model.tokens import boxes_to_tokens, paired_iou, tokens_to_boxes
from ..run_folder import History

logger = logging.getLogger("seqtrack_accel.train")

COORDINATES = ("cx", "cy", "w", "h")
VALIDATION_SEED = 0  # the held-out crops do not change with train.seed, so runs of different seeds compare
PRIOR_SAMPLES = 4096  # training samples averaged into the prior box (their boxes only: no pixels are read)
BATCH_SIZE = 64


@dataclass(frozen=True)
class FreeRunScores:
    """One free-running validation.

    Attributes:
        iou: mean IoU of the decoded boxes with the targets, in [0, 1].
        prior_iou: mean IoU of the prior box (the training set's mean box in the crop) with the same targets.
        spread: per coordinate (cx, cy, w, h), the standard deviation of the predicted tokens over the samples
            divided by that of the target tokens (NaN where the targets do not vary).
        samples: number of held-out samples.
        predicted: (samples, 4) long, the decoded tokens ``cx, cy, w, h``.
    """

    iou: float
    prior_iou: float
    spread: tuple[float, float, float, float]
    samples: int
    predicted: torch.Tensor

    def collapsed(self, threshold: float) -> list[str]:
        """The coordinates whose predictions vary less than ``threshold`` times the targets' variation."""
        return [name for name, s in zip(COORDINATES, self.spread) if not math.isnan(s) and s < threshold]


class FreeRunValidation:
    """Held-out crops and the prior box, made once; ``run`` scores a model on them.

    Args:
        samples: collated ``TrackingDataset`` samples (uint8 crops, brightness factors, ``search_anno``).
        prior_box: (4,) float32 ``cx, cy, w, h`` normalised to the search crop; None: the mean of the samples'
            target boxes.
        cfg: the run's config (``model.bins``, ``data.mean`` / ``data.std``, ``eval.hanning``).
        sequence_names: the held-out sequences the samples come from.
    """

    def __init__(self, samples: dict[str, torch.Tensor], prior_box: torch.Tensor | None, cfg: Config,
                 sequence_names: list[str] = ()):
        self.samples = samples
        self.sequence_names = list(sequence_names)
        self.cfg = cfg
        self.target_tokens = boxes_to_tokens(samples["search_anno"], cfg.model.bins)  # (N, 4)
        if prior_box is None:  # the mean of these targets, as ``prior_box`` averages the training samples'
            prior_box = tokens_to_boxes(self.target_tokens, cfg.model.bins).mean(dim=0)
        self.prior_box = prior_box

    @classmethod
    def build(cls, cfg: Config, train_dataset: TrackingDataset | None, sequences: list | None = None
              ) -> FreeRunValidation:
        """The held-out samples of ``cfg`` (``sequences``, default the validation split) and the prior box of
        ``train_dataset`` (None: the mean target box of the samples themselves, a prior that needs no training
        data)."""
        if sequences is None:
            sequences = evaluation_sequences(cfg, cfg.eval.validate_sequences)
        # The training crops (jitter included: it defines where the target sits in the search crop), without
        # the photometric augmentation and flips, which only make the same task look different.
        data_cfg = dataclasses.replace(cfg.data, grayscale_prob=0.0, flip_prob=0.0, brightness_jitter=0.0,
                                       samples_per_epoch=cfg.eval.free_run_samples)
        dataset = TrackingDataset(data_cfg, sequences, seed=VALIDATION_SEED)
        items = [dataset[i] for i in range(cfg.eval.free_run_samples)]
        samples = {key: torch.stack([item[key] for item in items]) for key in items[0]}
        prior = prior_box(train_dataset, cfg.model.bins) if train_dataset is not None else None
        return cls(samples, prior, cfg, [s.name for s in dataset.sequences])

    @torch.no_grad()
    def run(self, model: torch.nn.Module, device: torch.device | str,
            autocast: Callable[[], AbstractContextManager] = nullcontext) -> FreeRunScores:
        """Score ``model`` (unwrapped; its train/eval mode is restored afterwards).

        Args:
            device: where the model is.
            autocast: makes the context of each forward, for example ``accelerator.autocast``.
        """
        cfg = self.cfg
        was_training = model.training
        model.eval()
        tokens = []
        try:
            for start in range(0, len(self.target_tokens), BATCH_SIZE):
                batch = {k: v[start:start + BATCH_SIZE].to(device) for k, v in self.samples.items()}
                templates, search = normalize_batch(batch, cfg.data.mean, cfg.data.std)
                with autocast():
                    out = model.generate(templates, search, window=cfg.eval.hanning)
                tokens.append(out["tokens"].cpu())
        finally:
            model.train(was_training)
        predicted = torch.cat(tokens)  # (N, 4)
        return score(predicted, self.target_tokens, self.prior_box, cfg.model.bins)


def score(predicted: torch.Tensor, target: torch.Tensor, prior: torch.Tensor, bins: int) -> FreeRunScores:
    """Scores of predicted against target tokens (N, 4), and of the prior box (4,) against the targets."""
    target_boxes = tokens_to_boxes(target, bins)
    iou = paired_iou(tokens_to_boxes(predicted, bins), target_boxes).mean()
    prior_iou = paired_iou(prior.float().expand_as(target_boxes), target_boxes).mean()
    target_std = target.double().std(dim=0, unbiased=False)
    predicted_std = predicted.double().std(dim=0, unbiased=False)
    spread = torch.where(target_std > 0, predicted_std / target_std.clamp(min=1e-12), torch.nan)
    return FreeRunScores(iou=float(iou), prior_iou=float(prior_iou), spread=tuple(float(s) for s in spread),
                         samples=int(target.shape[0]), predicted=predicted)


def record(scores: FreeRunScores, history: History, epoch: int, cfg: EvalConfig) -> dict[str, float | str]:
    """Enter the validation after ``epoch`` into ``history`` and the log, warning when the predictions have collapsed
    (``cfg.collapse_spread``, ``cfg.collapse_patience``); returns its TensorBoard values (``val/...``)."""
    key = str(epoch)
    history.free_iou[key], history.prior_iou[key] = scores.iou, scores.prior_iou
    history.free_spread[key] = list(scores.spread)
    spread = ", ".join(f"{c} {s:.2f}" for c, s in zip(COORDINATES, scores.spread))
    logger.info("free-running validation after epoch %d: IoU %.4f against %.4f for the mean-box prior (%+.4f) on %d "
                "held-out crops; prediction spread / target spread: %s", epoch, scores.iou, scores.prior_iou,
                scores.iou - scores.prior_iou, scores.samples, spread)
    values = {"val/free_iou": scores.iou, "val/prior_iou": scores.prior_iou,
              "val/free_minus_prior_iou": scores.iou - scores.prior_iou,
              **{f"val/spread_{c}": s for c, s in zip(COORDINATES, scores.spread)}}
    spreads = [history.free_spread[e] for e in sorted(history.free_spread, key=int)]
    collapsed = collapsed_coordinates(spreads, cfg.collapse_spread, cfg.collapse_patience)
    if collapsed:
        message = (f"epoch {epoch}: the predictions have collapsed in {', '.join(collapsed)}: over {scores.samples} "
                   "held-out crops they vary "
                   + ", ".join(f"{scores.spread[COORDINATES.index(c)]:.0%}" for c in collapsed)
                   + f" as much as the targets, below eval.collapse_spread={cfg.collapse_spread} in the last "
                   f"{cfg.collapse_patience} validations: the model answers nearly the same value whatever the image "
                   "shows")
        logger.warning("%s", message)
        values["val/collapse"] = message
    return values


def collapsed_coordinates(spreads: list[list[float]], threshold: float, patience: int) -> list[str]:
    """The coordinates whose spread stayed below ``threshold`` in each of the last ``patience`` validations.

    Args:
        spreads: per validation, oldest first, the (cx, cy, w, h) spreads of ``FreeRunScores``.
    """
    recent = spreads[-patience:]
    if len(recent) < patience:
        return []
    return [name for i, name in enumerate(COORDINATES)
            if all(not math.isnan(s[i]) and s[i] < threshold for s in recent)]


def prior_box(dataset: TrackingDataset, bins: int, samples: int = PRIOR_SAMPLES) -> torch.Tensor:
    """The mean target box ``cx, cy, w, h`` (normalised, as the tokens encode it) over the first ``samples``
    training samples of epoch 0. Only the crop plans are drawn (no frame is decoded), so this is cheap."""
    boxes = []
    for index in range(min(samples, dataset.samples_per_epoch)):
        _, _, plans = dataset.first_draw(index)
        if plans[-1] is not None:
            boxes.append(plans[-1].box)
    if not boxes:
        raise ValueError("no valid training sample to compute the prior box from; check the training data")
    tokens = boxes_to_tokens(torch.tensor(np.array(boxes), dtype=torch.float32), bins)
    return tokens_to_boxes(tokens, bins).mean(dim=0)


__all__ = ["COORDINATES", "FreeRunScores", "FreeRunValidation", "collapsed_coordinates", "prior_box", "record",
           "score"]
