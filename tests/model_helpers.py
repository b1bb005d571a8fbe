"""A tracker checkpoint folder of a small random network, as the tracking, export and evaluation tests load it."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from seqtrack_accel.config import dump_config, load_config
from seqtrack_accel.model import SeqTrack, SeqTrackConfig

# A network of a few thousand parameters on 32 px search crops: what the tracking tests track with.
TINY_NETWORK = ["model.encoder=tiny", "model.init=scratch", "model.bins=64", "model.hidden_dim=32",
                "model.decoder_heads=4", "model.decoder_ffn=64", "data.search.size=32", "data.search.factor=3.0",
                "data.template.size=16", "data.template.factor=2.0"]


def write_checkpoint(folder: Path, config: str | None, overrides: list[str], seed: int = 0) -> str:
    """Write ``config.yaml`` and ``model.safetensors`` of a network built from ``config`` with ``overrides``, its
    weights drawn with ``seed``, into ``folder`` (a training checkpoint folder); return the folder as a string."""
    cfg = load_config(config, overrides)
    torch.manual_seed(seed)
    model = SeqTrack(SeqTrackConfig.from_config(cfg))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))
    (folder / "config.yaml").write_text(dump_config(cfg))
    return str(folder)
