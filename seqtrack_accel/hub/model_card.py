"""The model card (README.md) of a mirrored run: metadata, config, per-epoch table, plots, load and resume."""

from __future__ import annotations

from huggingface_hub import ModelCard

from ..model.card import PAPER, card_metadata
from ..config import BEST_METRICS


def _table(history: dict) -> str:
    """One markdown row per finished epoch of training_state.json's ``history``: phase, epoch, loss, iou, then the
    free-running IoU, prior IoU and val AUC of the epochs validated (``{"3": value}`` columns; blank otherwise).

    Raises KeyError naming a missing column, ValueError when the columns differ in length.
    """
    columns = [list(history[key]) for key in ("phase", "epoch", "loss", "iou")]
    if len({len(c) for c in columns}) != 1:
        raise ValueError(f"training_state.json history columns phase/epoch/loss/iou differ in length: "
                         f"{[len(c) for c in columns]}")
    validated = [({int(e): float(v) for e, v in (history.get(key) or {}).items()}, digits)
                 for key, digits in (("free_iou", 4), ("prior_iou", 4), ("val_auc", 2))]
    return "\n".join(
        f"| {int(p)} | {int(e)} | {loss:.4f} | {iou:.4f} | "
        + " | ".join(f"{column[int(e)]:.{digits}f}" if int(e) in column else "" for column, digits in validated)
        + " |" for p, e, loss, iou in zip(*columns))


def render_model_card(*, repo_id: str, config_yaml: str, history: dict, latest_path: str | None = None,
                      config_name: str | None = None, full_state: bool | None = None,
                      best: dict | None = None) -> ModelCard:
    """The card for ``repo_id``.

    Args:
        config_yaml: the run's resolved config (``DIR/config.yaml``), shown verbatim.
        history: training_state.json's ``history`` (lists ``phase``, ``epoch``, ``loss``, ``iou``).
        latest_path: ``phase_N/checkpoint_E`` of the newest mirrored checkpoint, named in the text.
        config_name: the experiment name (``cfg.name``), used for the config file in the resume command.
        full_state: whether the checkpoints hold the optimizer / scheduler / RNG states (None: not said).
        best: the repo's ``best.json`` (``path``, ``epoch``, ``metric``, ``value``): the checkpoint the card loads.
    """
    data = card_metadata()
    newest = f"The newest checkpoint is `{latest_path}` (see `latest.json`).\n\n" if latest_path else ""
    if best is not None:
        newest += (f"The best checkpoint by {BEST_METRICS[best['metric']].label} (`train.best_metric`) is "
                   f"`{best['path']}`: {best['value']:.4f} at epoch {best['epoch']} (see `best.json`).\n\n")
    load = f"hf://{repo_id}/best" if best is not None else f"hf://{repo_id}"
    which = "the best checkpoint, per best.json" if best is not None else "the newest checkpoint, per latest.json"
    example = latest_path or "phase_1/checkpoint_1"
    resume = f"train.py --config configs/{config_name or '<experiment>'}.yaml"
    if full_state is False:
        resumable = ("This run was mirrored without `hub.upload_full_state=true`: its checkpoints hold the weights "
                     "only and cannot resume training (start a new run from the weights instead).")
    else:
        resumable = "Resuming needs the optimizer, scheduler and RNG states: mirror with `hub.upload_full_state=true`."
    return ModelCard(f"""---
{data.to_yaml()}
---

# SeqTrack: {repo_id}

A [SeqTrack]({PAPER}) visual object tracker (ViT encoder over two template crops and one
search crop, a causal transformer decoder that emits the box as four tokens), trained with `seqtrack-accel` on
Hugging Face Accelerate. This repo mirrors the run while it trains: one folder per checkpoint under `phase_N/`,
TensorBoard logs under `tensorboard/`, plots under `plots/`.

{newest}## Training curves

| phase | epoch | loss | iou | free-running IoU | prior IoU | val AUC |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: |
{_table(history)}

![loss](plots/loss.png)

![iou](plots/iou.png)

iou is the training IoU of the teacher-forced predictions (optimistic: the previous ground-truth tokens are fed in).
free-running IoU decodes the box as the tracker does, on fixed crops of the held-out sequences; prior IoU is what
always answering the training set's mean box scores on the same crops, so a model that learned to localise is
well above it (`eval.free_run_every_epochs`). val AUC is the LaSOT success AUC of tracking the held-out
sequences, where that validation ran (`eval.validate_every_epochs`).

## Config

```yaml
{config_yaml.rstrip()}
```

## Load the tracker

```python
import torch
from seqtrack_accel.tracking import SeqTrackTracker, load_tracker_model

model, cfg = load_tracker_model("{load}")  # {which}
tracker = SeqTrackTracker(model, cfg, device="cuda", dtype=torch.bfloat16)
```

`seqtrack-evaluate --checkpoint {load}` tracks and scores the LaSOT test split with it; any checkpoint loads as
`hf://{repo_id}/{example}`, the newest as `hf://{repo_id}`.

## Resume training

```bash
accelerate launch {resume} --resume_from_checkpoint hf://{repo_id}
# or a given checkpoint:
accelerate launch {resume} --resume_from_checkpoint hf://{repo_id}/{example}
```

{resumable}
""")
