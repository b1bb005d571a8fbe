"""The tests' small networks, a checkpoint folder of one, and the one-thread setting they run fastest with."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import torch
from safetensors.torch import save_file

from seqtrack_accel.config import Config, dump_config, load_config
from seqtrack_accel.model import SeqTrack, SeqTrackConfig

# ViT-tiny on 32 px search and 16 px template crops with a narrow decoder: what the in-process model tests build.
TINY_NETWORK = ["model.encoder=tiny", "model.init=scratch", "model.bins=64", "model.hidden_dim=32",
                "model.decoder_heads=4", "model.decoder_ffn=64", "data.search.size=32", "data.search.factor=3.0",
                "data.template.size=16", "data.template.factor=2.0"]
# The smallest encoder ("nano": ViT-tiny's width, 4 blocks) with 64 bins, from scratch. On top of the demo config
# (64 px search, 32 px templates): conftest's ``checkpoint``, the profile tests' network, and the Hub-mirroring and
# SLURM training runs (fewer bytes per checkpoint than the demo's ViT-tiny).
NANO_NETWORK = ["model.encoder=nano", "model.init=scratch", "model.bins=64"]


def tiny_network_config(*overrides: str) -> Config:
    """The default config with ``TINY_NETWORK``, then ``overrides``."""
    return load_config(None, [*TINY_NETWORK, *overrides])


# ``TINY_NETWORK`` as the model's own config, for tests that build a ``SeqTrack`` without a whole config.
TINY_MODEL = SeqTrackConfig.from_config(tiny_network_config())


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """One intra-op thread inside the block: the tiny networks' many small ops run several times faster on one thread
    than on two of a shared, busy CPU, and two runs with the same thread count sum in the same order (bit-identical
    comparisons compare like with like). conftest's ``one_thread`` fixtures hold it for a test or a module."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def write_checkpoint(folder: Path, config: str | None, overrides: list[str], seed: int = 0) -> str:
    """Write ``config.yaml`` and ``model.safetensors`` of a network built from ``config`` with ``overrides``, its
    weights drawn with ``seed``, into ``folder`` (a training checkpoint folder); return the folder as a string."""
    cfg = load_config(config, overrides)
    torch.manual_seed(seed)
    model = SeqTrack(SeqTrackConfig.from_config(cfg))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))
    (folder / "config.yaml").write_text(dump_config(cfg))
    return str(folder)
