"""Model cards: the metadata every card of this package starts from, and the card (README.md) of a
``SeqTrack.save_pretrained`` folder. The card of a run mirrored while it trains is ``seqtrack_accel.hub.model_card``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from huggingface_hub import ModelCard, ModelCardData

from seqtrack_accel.config import Config

if TYPE_CHECKING:
    from seqtrack_accel.model.seqtrack import SeqTrackConfig

LIBRARY_NAME = "seqtrack-accel"
TAGS = ("seqtrack", "object-tracking", "visual-object-tracking", "pytorch")
PAPER = "https://arxiv.org/abs/2304.14394"
TRACKING_FILE = "config.yaml"  # the training config beside the weights: what the tracker needs besides the network


def card_metadata() -> ModelCardData:
    """The metadata every card of this package starts from: the library and the tags the Hub lists it under."""
    return ModelCardData(library_name=LIBRARY_NAME, tags=list(TAGS))


def pretrained_card(network: SeqTrackConfig, parameters: int, tracking: Config | None) -> ModelCard:
    """The card of a ``save_pretrained`` folder of ``network`` (``parameters`` of them), whose ``config.yaml`` holds
    ``tracking`` (None: the folder has none)."""
    if tracking is not None:
        data, search, template = tracking.data, tracking.data.search, tracking.data.template
        settings = (f"`{TRACKING_FILE}` is the config the model was trained with (`{tracking.name}`): the tracker "
                    f"crops the search region at {search.factor:g}x and the templates at {template.factor:g}x the "
                    f"target's size, normalises with mean {list(data.mean)} and std {list(data.std)}, decodes with"
                    f"{'' if tracking.eval.hanning else 'out'} the Hanning window, and renews a template every "
                    f"{tracking.eval.template_update_interval} frames when the confidence exceeds "
                    f"{tracking.eval.template_update_threshold:g}. The commands below take it from there.")
        config_row = f"| `{TRACKING_FILE}` | the training config: crop factors, normalisation, tracking settings |\n"
    else:
        settings = (f"This folder has no `{TRACKING_FILE}`, so it does not say how to crop and normalise frames: give "
                    "the config the model was trained with, `--config CONFIG` (a path or a shipped name such as "
                    "`seqtrack_b256`) on the command line or `load_tracker_model(FOLDER, load_config(CONFIG))` in "
                    f"Python. `model.save_pretrained(FOLDER, config=cfg)` stores it beside the weights.")
        config_row = ""
    return ModelCard(f"""---
{card_metadata().to_yaml()}
---

# SeqTrack tracker

A [SeqTrack]({PAPER}) visual object tracker, saved with `SeqTrack.save_pretrained` of seqtrack-accel (the
package whose commands below use it): a ViT-{network.encoder} encoder reads
{network.num_templates} template crops of {network.template_size} px and a search crop of {network.search_size} px
together, and a causal transformer decoder ({network.decoder_layers} layers) emits the target's box as four tokens
(cx, cy, w, h in {network.bins} bins). {parameters / 1e6:.1f}M parameters.

| file | what |
| --- | --- |
| `model.safetensors` | the weights |
| `config.json` | the network, read by `SeqTrack.from_pretrained` |
{config_row}
{settings}

## Track and evaluate

`FOLDER` is this folder, or `hf://ORG/NAME` (`@REVISION` for a branch, tag or commit) once it is on the Hub.

```bash
seqtrack-track video.mp4 --checkpoint FOLDER --box 120,93,56,56    # the target's x,y,w,h on the first frame
seqtrack-evaluate --checkpoint FOLDER --dataset lasot --root /data/LaSOT
```

```python
from seqtrack_accel.tracking import SeqTrackTracker, load_tracker_model

model, cfg = load_tracker_model("FOLDER")
tracker = SeqTrackTracker(model, cfg, device="cuda")
tracker.initialize(first_frame, box_xywh)    # RGB uint8 (H, W, 3), the target's box in pixels
box_xywh, confidence = tracker.track(frame)  # each next frame
```

`SeqTrack.from_pretrained` gives the network alone (from a folder, or from `ORG/NAME` on the Hub).
""")
