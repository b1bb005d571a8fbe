"""Weight import: MAE / timm ViT weights into the encoder, released SeqTrack checkpoints into the whole model.

Every load is strict: each source key is mapped onto a parameter of this package or the load fails naming the
key and the file. Positional tables are resized when the crop sizes differ (bicubic, ``align_corners=True``), and
the patch embedding's kernel when ``model.patch_size`` differs from the file's (timm's ``resample_patch_embed``, the
pseudo-inverse resize of FlexiViT, Beyer et al. 2023, which keeps a patch's embedding of a resized image).
All files are read with ``torch.load(weights_only=True)`` or safetensors.
"""

from __future__ import annotations

import logging
import math
import pickle
import urllib.error
from pathlib import Path

import safetensors.torch
import timm
import torch
import torch.nn.functional as F
from huggingface_hub import constants
from huggingface_hub.errors import LocalEntryNotFoundError
from timm.layers import resample_patch_embed
from torch import Tensor, nn

from seqtrack_accel.config import Config
from seqtrack_accel.model.seqtrack import SeqTrack, SeqTrackConfig

logger = logging.getLogger(__name__)

# Keys of MAE / timm ViT files that have no counterpart in the tracker and are skipped on purpose:
# the class token (SeqTrack has none), classifier heads, MAE's pixel decoder and its mask token.
IGNORED_PRETRAIN_KEYS = ("cls_token",)
IGNORED_PRETRAIN_PREFIXES = ("head.", "fc_norm.", "decoder_", "mask_token")

# This package's names -> the released SeqTrack checkpoints' names (the ``net`` state dict of
# ``SEQTRACK_ep0500.pth.tar``), as prefix renames; the first matching rule applies. Inside decoder layers the cross-attention is called
# ``cross_attn`` here and ``multihead_attn`` there.
_TO_ORIGINAL_PREFIXES = (
    ("decoder.memory_pos", "pos_embed"),
    ("encoder.", "encoder.body."),
    ("bottleneck.", "bottleneck."),
    ("decoder.token_embed.", "decoder.embedding.word_embeddings."),
    ("decoder.query_pos.", "decoder.embedding.position_embeddings."),
    ("decoder.token_norm.", "decoder.embedding.LayerNorm."),
    ("decoder.layers.", "decoder.body.layers."),
    ("decoder.norm.", "decoder.body.norm."),
    ("decoder.vocab_head.", "vocab_embed."),
)

_MISSING_WEIGHTS_HINT = (
    "pass a local file instead, e.g. model.init_weights=/path/mae_pretrain_vit_base.pth (MAE release) or a timm "
    "model.safetensors, or train from scratch with model.init=scratch"
)


def resize_pos_grid(table: Tensor, grid: int) -> Tensor:
    """Resize a square positional grid.

    Args:
        table: (1, N, C) or (N, C) rows of an ``n x n`` grid in raster order, ``N = n * n``.
        grid: the new side.

    Returns:
        (1, grid * grid, C) in the input dtype; bicubic, ``align_corners=True``; the input itself when the
        side is unchanged.
    """
    table = table.reshape(-1, table.shape[-1])
    side = math.isqrt(table.shape[0])
    if side * side != table.shape[0]:
        raise ValueError(f"a positional table of {table.shape[0]} rows is not a square grid")
    if side == grid:
        return table[None]
    image = table.reshape(1, side, side, -1).permute(0, 3, 1, 2).float()  # (1, C, n, n)
    image = F.interpolate(image, size=(grid, grid), mode="bicubic", align_corners=True)
    return image.permute(0, 2, 3, 1).reshape(1, grid * grid, -1).to(table.dtype)


# ---------------------------------------------------------------------------------------------------------------
# encoder from MAE / timm


def load_encoder_pretrained(model: SeqTrack, source: str) -> None:
    """Initialise ``model.encoder`` from an ImageNet-pretrained ViT.

    Args:
        model: the tracker; only its encoder is written.
        source: a local file (MAE ``.pth`` holding ``{"model": state_dict}``, a timm ``.safetensors``, or a plain
            state-dict ``.pth``/``.bin``) or a timm model name such as ``vit_base_patch16_224.mae`` (downloaded
            through timm, so it needs the network or a filled Hugging Face cache).

    The class token is dropped; the patch grid of ``pos_embed`` (without the class row) is resized separately to
    the search grid and to the template grid and concatenated ``[search, template]``. Keys listed in
    ``IGNORED_PRETRAIN_KEYS`` / ``IGNORED_PRETRAIN_PREFIXES`` are skipped; any other key that the encoder does
    not have, or an encoder parameter the file lacks, is an error naming it.
    """
    state = _read_pretrained(source)
    encoder_state: dict[str, Tensor] = {}
    ignored = []
    for key, value in state.items():
        if key in IGNORED_PRETRAIN_KEYS or key.startswith(IGNORED_PRETRAIN_PREFIXES):
            ignored.append(key)
        elif key == "pos_embed":
            encoder_state[key] = _split_pretrained_pos_embed(value, model, source)
        elif key == _PATCH_KERNEL:
            encoder_state[key] = fit_patch_kernel(value, model.encoder.config.patch_size)
        else:
            encoder_state[key] = value
    if ignored:
        logger.info("%s: ignored %d keys the tracker has no use for: %s", source, len(ignored), _preview(ignored))
    _load_strict(model.encoder, encoder_state, source)
    logger.info("initialised the encoder from %s", source)


_PATCH_KERNEL = "patch_embed.proj.weight"


def fit_patch_kernel(kernel: Tensor, patch_size: int) -> Tensor:
    """A ViT patch embedding kernel (C, 3, p, p) for patches of ``patch_size``: the input itself when ``p`` is
    that already, else resampled with timm's ``resample_patch_embed`` (in float32, returned in the input dtype)."""
    if kernel.ndim != 4 or kernel.shape[-1] == patch_size:
        return kernel  # a wrong shape is reported by the strict load, naming the key
    resized = resample_patch_embed(kernel.float(), [patch_size, patch_size])
    logger.info("resampled the patch embedding from %d px to %d px patches", kernel.shape[-1], patch_size)
    return resized.to(kernel.dtype)


def _split_pretrained_pos_embed(pos_embed: Tensor, model: SeqTrack, source: str) -> Tensor:
    rows = pos_embed.shape[-2]
    side = math.isqrt(rows)
    prefix = rows - side * side  # the class row, if the file has one
    if prefix not in (0, 1):
        raise ValueError(f"{source}: pos_embed has {rows} rows, which is neither n*n nor n*n + 1 (class row)")
    grid = pos_embed.reshape(rows, -1)[prefix:]
    cfg = model.encoder.config
    return torch.cat([resize_pos_grid(grid, cfg.search_grid), resize_pos_grid(grid, cfg.template_grid)], dim=1)


def _read_pretrained(source: str) -> dict[str, Tensor]:
    path = Path(source).expanduser()
    if path.is_file():
        if path.suffix == ".safetensors":
            return safetensors.torch.load_file(str(path))
        obj = _torch_load(path)
        for wrapper in ("model", "state_dict"):  # MAE releases use "model"; some trainers "state_dict"
            if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
                obj = obj[wrapper]
                break
        if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
            raise ValueError(f"{path} is not a ViT state dict (nor {{'model': state_dict}}); "
                             f"top-level keys: {_preview(list(obj) if isinstance(obj, dict) else [type(obj).__name__])}")
        return obj
    hub_name = source.startswith(("hf-hub:", "hf_hub:"))  # timm's names for Hub-hosted models, e.g. hf-hub:timm/...
    if not hub_name and (path.suffix in (".pth", ".pt", ".bin", ".tar", ".safetensors") or "/" in source
                         or "\\" in source):
        raise FileNotFoundError(f"pretrained weights file {path} does not exist; check model.init_weights")
    if not hub_name and not timm.is_model(source):
        raise ValueError(f"model.init_weights={source!r} is neither an existing file nor a timm model name; "
                         f"{_MISSING_WEIGHTS_HINT}")
    try:
        vit = timm.create_model(source, pretrained=True)
    except (LocalEntryNotFoundError, urllib.error.URLError) as e:
        raise RuntimeError(f"could not download the timm weights {source!r} (offline?): {e}. "
                           f"{_MISSING_WEIGHTS_HINT}") from e
    return vit.state_dict()


# ---------------------------------------------------------------------------------------------------------------
# released SeqTrack checkpoints


def original_name(name: str) -> str:
    """The released checkpoint's name of this package's parameter ``name`` (e.g. ``encoder.blocks.0.attn.qkv.weight``
    -> ``encoder.body.blocks.0.attn.qkv.weight``)."""
    for ours, theirs in _TO_ORIGINAL_PREFIXES:
        if name.startswith(ours):
            renamed = theirs + name[len(ours):]
            return renamed.replace(".cross_attn.", ".multihead_attn.") if ours == "decoder.layers." else renamed
    raise KeyError(f"parameter {name!r} has no rule in _TO_ORIGINAL_PREFIXES; add one when adding parameters")


def load_original_checkpoint(path: str | Path, config: Config | SeqTrackConfig) -> SeqTrack:
    """Build a SeqTrack and fill every parameter from a released ``SEQTRACK_ep*.pth.tar``.

    Args:
        path: the checkpoint; ``torch.load(weights_only=True)`` must be able to read it and its ``net`` key
            holds the original state dict.
        config: the target network (``Config`` or ``SeqTrackConfig``). Its crop sizes may differ from the
            checkpoint's; then the positional tables are resized:
            - encoder ``pos_embed``: the search rows and the template rows separately, as 2D grids;
            - decoder memory ``pos_embed``: also as a 2D grid of the search patches. It starts as a 1D sinusoid
              over the raster index, but it is trained, and a memory token's meaning is its place in the
              search grid; resizing the grid keeps each row with its place, while regenerating the sinusoid
              for the new length would hand rows to other places and drop what training learned.
            The checkpoint's search-patch count is read from the decoder memory table's length.

    Returns:
        the model in train mode, on CPU.
    """
    path = Path(path).expanduser()
    seq_config = SeqTrackConfig.from_config(config) if isinstance(config, Config) else config
    net = _read_original(path)
    model = SeqTrack(seq_config)
    to_local = {original_name(name): name for name in model.state_dict()}
    mapped: dict[str, Tensor] = {}
    for key, value in net.items():
        if key not in to_local:
            raise ValueError(f"{path}: key {key!r} has no counterpart in SeqTrack (encoder {seq_config.encoder}, "
                             f"{seq_config.decoder_layers} decoder layers); is it a released SeqTrack checkpoint of "
                             "that size?")
        mapped[to_local[key]] = value
    _resize_original_grids(mapped, model, path)
    _load_strict(model, mapped, str(path), {local: key for key, local in to_local.items()})
    logger.info("loaded the released SeqTrack checkpoint %s", path)
    return model


def _resize_original_grids(mapped: dict[str, Tensor], model: SeqTrack, path: Path) -> None:
    if "decoder.memory_pos" not in mapped or "encoder.pos_embed" not in mapped:
        return  # reported as missing keys by _load_strict
    cfg = model.encoder.config
    memory_pos = mapped["decoder.memory_pos"]
    old_search = memory_pos.shape[1]
    pos_embed = mapped["encoder.pos_embed"]
    old_template = pos_embed.shape[1] - old_search
    if old_template <= 0 or math.isqrt(old_template) ** 2 != old_template:
        raise ValueError(f"{path}: encoder.body.pos_embed has {pos_embed.shape[1]} rows and pos_embed (decoder "
                         f"memory) {old_search}; the difference {old_template} is not a square template grid")
    mapped["decoder.memory_pos"] = resize_pos_grid(memory_pos, cfg.search_grid)
    if f"encoder.{_PATCH_KERNEL}" in mapped:
        mapped[f"encoder.{_PATCH_KERNEL}"] = fit_patch_kernel(mapped[f"encoder.{_PATCH_KERNEL}"], cfg.patch_size)
    mapped["encoder.pos_embed"] = torch.cat([
        resize_pos_grid(pos_embed[:, :old_search], cfg.search_grid),
        resize_pos_grid(pos_embed[:, old_search:], cfg.template_grid),
    ], dim=1)


def _read_original(path: Path) -> dict[str, Tensor]:
    if not path.is_file():
        raise FileNotFoundError(f"SeqTrack checkpoint {path} does not exist; check model.init_weights")
    obj = _torch_load(path)
    if not isinstance(obj, dict) or not isinstance(obj.get("net"), dict):
        found = _preview(list(obj) if isinstance(obj, dict) else [type(obj).__name__])
        raise ValueError(f"{path} has no 'net' state dict (top-level keys: {found}); "
                         "expected a released SEQTRACK_ep*.pth.tar")
    return obj["net"]


def _torch_load(path: Path) -> object:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise ValueError(
            f"{path} holds pickled Python objects besides tensors, which weights_only loading refuses: {e}. "
            "If you trust the file, keep only its weights once, inside the code base that wrote it, e.g. "
            f"torch.save({{'net': torch.load('{path}', weights_only=False)['net']}}, 'weights_only.pth') "
            "(use 'model' instead of 'net' for MAE files), and pass the new file"
        ) from e


# ---------------------------------------------------------------------------------------------------------------
# SeqTrack weights of this package: a training checkpoint or a save_pretrained folder


def load_pretrained(model: SeqTrack, source: str) -> None:
    """Every parameter of ``model`` from ``source``, a folder this package wrote (``model.init=pretrained``): a
    training checkpoint folder or a ``save_pretrained`` folder (both hold ``model.safetensors``). The network must
    have the same shape (encoder, bins, decoder, crop sizes): strict, with errors naming the keys. An ``hf://``
    address is downloaded first, by the caller (the trainer does it: ``seqtrack_accel.hub.with_hub_weights``)."""
    if source.startswith("hf://"):
        raise ValueError(f"model.init_weights={source} is a Hub address; build_model reads local folders: download "
                         "it first with seqtrack_accel.hub.with_hub_weights(cfg) (the trainer does)")
    weights = Path(source).expanduser() / constants.SAFETENSORS_SINGLE_FILE
    if not weights.is_file():
        raise FileNotFoundError(f"model.init_weights={source}: {weights} does not exist; give a training checkpoint "
                                "folder, a save_pretrained folder or hf://ORG/NAME[@REVISION][/PATH]")
    _load_strict(model, safetensors.torch.load_file(str(weights)), str(weights))


# ---------------------------------------------------------------------------------------------------------------


def _load_strict(
    module: nn.Module, state: dict[str, Tensor], source: str, source_names: dict[str, str] | None = None
) -> None:
    """``module.load_state_dict(state, strict=True)`` with errors that name the source file and its keys
    (``source_names``: the file's name of each of our keys, where they differ)."""
    source_names = source_names or {}
    expected = module.state_dict()
    unexpected = [source_names.get(k, k) for k in state if k not in expected]
    if unexpected:
        raise ValueError(f"{source}: keys with no counterpart in the model: {_preview(unexpected)}")
    missing = [source_names.get(k, k) for k in expected if k not in state]
    if missing:
        raise ValueError(f"{source}: the file lacks keys the model needs: {_preview(missing)}")
    for key, target in expected.items():  # in the model's order, so the first reported key is the earliest one
        value = state[key]
        if value.shape != target.shape:
            raise ValueError(
                f"{source}: {source_names.get(key, key)!r} has shape {tuple(value.shape)} but the model needs "
                f"{tuple(target.shape)}; check model.encoder, model.bins and the decoder sizes"
            )
    module.load_state_dict(state, strict=True)


def _preview(keys: list[str], limit: int = 8) -> str:
    shown = ", ".join(repr(k) for k in keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")
