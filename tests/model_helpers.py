"""A tracker checkpoint folder of a small random network, as the tracking, export and evaluation tests load it."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from seqtrack_accel.config import dump_config, load_config
from seqtrack_accel.model import SeqTrack, SeqTrackConfig


def write_checkpoint(folder: Path, config: str | None, overrides: list[str], seed: int = 0) -> str:
    """Write ``config.yaml`` and ``model.safetensors`` of a network built from ``config`` with ``overrides``, its
    weights drawn with ``seed``, into ``folder`` (a training checkpoint folder); return the folder as a string."""
    cfg = load_config(config, overrides)
    torch.manual_seed(seed)
    model = SeqTrack(SeqTrackConfig.from_config(cfg))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))
    (folder / "config.yaml").write_text(dump_config(cfg))
    return str(folder)
