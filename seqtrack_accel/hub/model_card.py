"""The model card (README.md) of a mirrored run: metadata, config, per-epoch table, plots, load and resume."""

from __future__ import annotations

from typing import Sequence

from huggingface_hub import ModelCard, ModelCardData

LIBRARY_NAME = "seqtrack-accel"
TAGS = ("seqtrack", "object-tracking", "visual-object-tracking", "pytorch")


def history_rows(history: dict[str, Sequence]) -> list[tuple[int, int, float, float]]:
    """(phase, epoch, loss, iou) per finished epoch, from training_state.json's ``history``.

    Raises ValueError naming the key when a column is missing or the columns differ in length.
    """
    columns = []
    for key in ("phase", "epoch", "loss", "iou"):
        if key not in history:
            raise ValueError(f"training_state.json history has no {key!r} list; it holds {sorted(history)}")
        columns.append(list(history[key]))
    lengths = {len(c) for c in columns}
    if len(lengths) != 1:
        raise ValueError(f"training_state.json history columns phase/epoch/loss/iou differ in length: "
                         f"{[len(c) for c in columns]}")
    return [(int(p), int(e), float(loss), float(iou)) for p, e, loss, iou in zip(*columns)]


def _by_epoch(history: dict, key: str) -> dict[int, float]:
    """A validated-epochs column of the history (``{"3": value}``), keyed by int epoch; empty when absent."""
    return {int(k): float(v) for k, v in (history.get(key) or {}).items()}


def _cell(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def render_model_card(
    *,
    repo_id: str,
    config_yaml: str,
    history: dict[str, Sequence],
    latest_path: str | None = None,
    config_name: str | None = None,
    full_state: bool | None = None,
) -> ModelCard:
    """The card for ``repo_id``.

    Args:
        config_yaml: the run's resolved config (``DIR/config.yaml``), shown verbatim.
        history: training_state.json's ``history`` (lists ``phase``, ``epoch``, ``loss``, ``iou``).
        latest_path: ``phase_N/checkpoint_E`` of the newest mirrored checkpoint, named in the text.
        config_name: the experiment name (``cfg.name``), used for the config file in the resume command.
        full_state: whether the checkpoints hold the optimizer / scheduler / RNG states (None: not said).
    """
    data = ModelCardData(library_name=LIBRARY_NAME, tags=list(TAGS))
    rows = history_rows(history)
    validated = [_by_epoch(history, key) for key in ("free_iou", "prior_iou", "val_auc")]  # epoch -> value
    table = "\n".join(f"| {p} | {e} | {loss:.4f} | {iou:.4f} | "
                      + " | ".join(_cell(column.get(e), digits) for column, digits in zip(validated, (4, 4, 2)))
                      + " |" for p, e, loss, iou in rows)
    name = config_name or "<experiment>"
    newest = f"The newest checkpoint is `{latest_path}` (see `latest.json`).\n\n" if latest_path else ""
    example = latest_path or "phase_1/checkpoint_1"
    if full_state is False:
        resumable = ("This run was mirrored without `hub.upload_full_state=true`: its checkpoints hold the weights "
                     "only and cannot resume training (start a new run from the weights instead).")
    else:
        resumable = ("Resuming needs the optimizer, scheduler and RNG states, which are mirrored only with "
                     "`hub.upload_full_state=true`.")
    content = f"""---
{data.to_yaml()}
---

# SeqTrack: {repo_id}

A [SeqTrack](https://arxiv.org/abs/2304.14394) visual object tracker (ViT encoder over two template crops and one
search crop, a causal transformer decoder that emits the box as four tokens), trained with `seqtrack-accel`
on Hugging Face Accelerate. This repo mirrors the run while it trains:
one folder per checkpoint under `phase_N/`, TensorBoard logs under `tensorboard/`, plots under `plots/`.

{newest}## Training curves

| phase | epoch | loss | iou | free-running IoU | prior IoU | val AUC |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: |
{table}

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
from pathlib import Path

import torch
from seqtrack_accel.hub import download_checkpoint
from seqtrack_accel.tracking import SeqTrackTracker, load_tracker_model

folder = download_checkpoint("hf://{repo_id}", Path("checkpoints"), weights_only=True)  # newest, per latest.json
model, cfg = load_tracker_model(str(folder))  # model.safetensors + config.yaml of that checkpoint
tracker = SeqTrackTracker(model, cfg, device="cuda", dtype=torch.bfloat16)
```

`seqtrack-evaluate --checkpoint checkpoints/{example}` tracks and scores the LaSOT test split with it.
A model exported with `SeqTrack.save_pretrained` loads with `SeqTrack.from_pretrained("ORG/NAME")` instead.

## Resume training

```bash
accelerate launch train.py --config configs/{name}.yaml --resume_from_checkpoint hf://{repo_id}
# or a given checkpoint:
accelerate launch train.py --config configs/{name}.yaml --resume_from_checkpoint hf://{repo_id}/{example}
```

{resumable}
"""
    return ModelCard(content)
