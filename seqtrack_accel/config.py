"""Typed, frozen configuration.

The defaults are the original SeqTrack B256 experiment (original: ``experiments/seqtrack/seqtrack_b256.yaml``).
YAML files in ``configs/`` hold only the differences; ``key.path=value`` overrides come last. Every error names the key.

    cfg = load_config("configs/seqtrack_b192.yaml", ["train.batch_size=8"])
    text = dump_config(cfg)                   # resolved YAML, written into each run folder
    assert config_from_dict(yaml.safe_load(text)) == cfg
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import json
import logging
import math
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger(__name__)

INIT_MODES = ("scratch", "mae", "seqtrack", "pretrained")
DECODERS = ("simplejpeg", "opencv")  # JPEG decoders of the training data (seqtrack_accel.data.image)
PHASE_INIT_MODES = ("resume", "weights")


@dataclass(frozen=True)
class Metric:
    """A metric the best checkpoint can be chosen by (``train.best_metric``); its values are in the
    training history (``seqtrack_accel.run_folder.History``)."""

    key: str  # the History field that holds it
    label: str  # as the log names it
    larger_is_better: bool
    computed_by: str = ""  # the setting that turns on what computes it (empty: every epoch)


BEST_METRICS = {m.key: m for m in (
    Metric("free_iou", "free-running IoU", True, "eval.free_run_every_epochs"),
    Metric("val_auc", "validation AUC", True, "eval.validate_every_epochs"),
    Metric("loss", "epoch loss", False),
)}


class ConfigError(ValueError):
    """A configuration value is unknown, of the wrong type or impossible. ``key`` is its dotted path."""

    def __init__(self, key: str, message: str):
        self.key = key
        self.message = message
        super().__init__(f"config key '{key}': {message}")


def _require(condition: bool, key: str, message: str) -> None:
    if not condition:
        raise ConfigError(key, message)


@dataclass(frozen=True)
class CropConfig:
    """One crop type (search or template). Sizes in pixels; factor = crop side / sqrt(w*h) of the box."""

    size: int
    factor: float
    center_jitter: float = 0.0
    scale_jitter: float = 0.0
    number: int = 1

    def __post_init__(self):
        _require(self.size > 0, "size", f"must be positive, got {self.size}")
        _require(self.factor > 0, "factor", f"must be positive, got {self.factor}")
        _require(self.center_jitter >= 0, "center_jitter", "must be >= 0")
        _require(self.scale_jitter >= 0, "scale_jitter", "must be >= 0")
        _require(self.number >= 1, "number", f"must be >= 1, got {self.number}")


@dataclass(frozen=True)
class SyntheticConfig:
    """The generator of a source's synthetic tree (``SourceConfig.synthetic``: the demo, tests, benchmarks)."""

    classes: tuple[str, ...] = ("book", "coin")
    sequences_per_class: int = 6
    frames: int = 60
    width: int = 320
    height: int = 240
    seed: int = 0

    def __post_init__(self):
        _require(len(self.classes) > 0, "classes", "must list at least one class")
        _require(self.sequences_per_class >= 1, "sequences_per_class", "must be >= 1")
        _require(self.frames >= 1, "frames", "must be >= 1")
        _require(self.width >= 16 and self.height >= 16, "width", "frames must be at least 16x16 pixels")


@dataclass(frozen=True)
class ProceduralConfig:
    """The class-agnostic generator of the ``procedural`` source (``seqtrack_accel.data.procedural``): training clips
    rendered on the fly, a test split of held-out looks written at the source's root on first use."""

    width: int = 320  # frame size, pixels
    height: int = 240
    frames: int = 100  # per clip and per test sequence
    test_sequences: int = 40  # sequences of the test split's tree
    clips: int = 0  # training: 0 draws a new clip for every sample; N draws from N fixed clips
    backgrounds: int = 256  # training: the bank of backgrounds clips are drawn over (0: a new one per clip)
    curriculum: int = 0  # training: epochs over which the hardest clip's difficulty rises to 1 (0: from the start)
    seed: int = 0  # the test tree, the background bank and the fixed clips (training samples: train.seed)

    def __post_init__(self):
        _require(self.width >= 64 and self.height >= 64, "width", "frames must be at least 64x64 pixels")
        _require(self.frames >= 20, "frames", f"must be >= 20 (the sampler's shortest sequence), got {self.frames}")
        _require(self.test_sequences >= 1, "test_sequences", "must be >= 1")
        _require(self.clips >= 0, "clips", "must be >= 0 (0: a new clip for every sample)")
        _require(self.backgrounds >= 0, "backgrounds", "must be >= 0 (0: a new background for every clip)")
        _require(self.curriculum >= 0, "curriculum", "must be >= 0 (0: every difficulty from the start)")


@dataclass(frozen=True)
class SourceConfig:
    """One data source, named the one way for training (``data.datasets``) and evaluation (``eval.dataset``).

    ``name`` is a dataset kind of the registry (``seqtrack_accel.data.sources.KINDS``: lasot, got10k, trackingnet,
    coco17, custom, lasot_ext, tnl2k, uav123, otb100, nfs, procedural), which checks it when the source is read.
    ``split`` empty means the kind's training split for a training source (LaSOT ``train``, GOT-10k ``train_full``)
    and its held-out split for the evaluation source (LaSOT and custom ``test``, GOT-10k ``val``). Options that a kind
    does not have are not used by its reader: ``split_file`` (LaSOT, custom), ``chunks`` (TrackingNet: the
    ``TRAIN_k`` folders, empty for all), ``test_ratio`` (custom folders without a split file). ``procedural`` sets
    the procedural generator: its training split is rendered on the fly (no root), its ``test`` split is a tree
    written at ``root`` on first use.
    """

    name: str
    ratio: float = 1.0  # this source's share of the samples, relative to the others'
    root: str = ""  # empty: the kind's environment variable (LASOT_ROOT, ...); relative: from the working directory
    split: str = ""
    classes: tuple[str, ...] | None = None  # None: every class
    split_file: str = ""
    chunks: tuple[int, ...] = ()
    test_ratio: float = 0.2
    # Set: a synthetic tree is generated at root where the root is missing, and an existing tree that holds the
    # generator's manifest must match it; a folder without the manifest is read as the real dataset it is.
    synthetic: SyntheticConfig | None = None
    procedural: ProceduralConfig | None = None  # procedural: the generator's settings (None: its defaults)

    def __post_init__(self):
        _require(bool(self.name), "name", "names the dataset kind: lasot, got10k, trackingnet, coco17, custom, ...")
        _require(0 < self.ratio < math.inf, "ratio", f"must be positive, got {self.ratio}")
        _require(self.classes is None or len(self.classes) > 0, "classes", "is an empty list; leave it out")
        _require(0.0 <= self.test_ratio < 1.0, "test_ratio", "must be in [0, 1)")


def _recipe_datasets() -> tuple[SourceConfig, ...]:
    """The original B256 recipe's training data: four datasets, equal shares, roots from their variables."""
    return (SourceConfig("lasot"), SourceConfig("got10k", split="vottrain"), SourceConfig("coco17"),
            SourceConfig("trackingnet"))


@dataclass(frozen=True)
class DataConfig:
    # The training sources and their shares (seqtrack_accel.data.sources); the first one's held-out split is the
    # evaluation set unless eval.dataset names one.
    datasets: tuple[SourceConfig, ...] = field(default_factory=_recipe_datasets)
    samples_per_epoch: int = 60000
    max_sample_interval: int = 400
    search: CropConfig = field(default_factory=lambda: CropConfig(256, 4.0, 3.5, 0.5, 1))
    template: CropConfig = field(default_factory=lambda: CropConfig(256, 4.0, 0.0, 0.0, 2))
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    grayscale_prob: float = 0.05
    flip_prob: float = 0.5
    brightness_jitter: float = 0.2
    num_workers: int = 8
    max_redraws: int = 100  # bounded re-draws of an invalid sample before the error names the sequences
    reduced_decode: bool = True  # decode JPEGs at 1/2, 1/4, 1/8 scale where the crop is shrunk that much
    decoder: str = "simplejpeg"  # simplejpeg (libjpeg-turbo into reused buffers) | opencv: the same pixels

    def __post_init__(self):
        _require(len(self.datasets) > 0, "datasets", "lists no source; name at least one, for example "
                 "datasets: [{name: lasot, root: /data/LaSOT}]")
        _require(self.samples_per_epoch > 0, "samples_per_epoch", "must be positive")
        _require(self.max_sample_interval >= 1, "max_sample_interval", "must be >= 1")
        _require(all(s > 0 for s in self.std), "std", "must be positive")
        for name in ("grayscale_prob", "flip_prob"):
            _require(0.0 <= getattr(self, name) <= 1.0, name, "must be a probability in [0, 1]")
        _require(0.0 <= self.brightness_jitter < 1.0, "brightness_jitter", "must be in [0, 1)")
        _require(self.num_workers >= 0, "num_workers", "must be >= 0")
        _require(self.max_redraws >= 1, "max_redraws", "must be >= 1")
        _require(self.decoder in DECODERS, "decoder", f"must be one of {DECODERS}, got {self.decoder!r}")


@dataclass(frozen=True)
class ViTSize:
    width: int
    depth: int
    heads: int


# The encoder sizes (ViT; the patch side is model.patch_size, 16 in the original): ViT-Ti/S/B/L, and "nano",
# ViT-Ti's width with 4 blocks, for tests on the CPU (no pretrained weights exist for it).
VIT_SIZES: dict[str, ViTSize] = {
    "nano": ViTSize(width=192, depth=4, heads=3),
    "tiny": ViTSize(width=192, depth=12, heads=3),
    "small": ViTSize(width=384, depth=12, heads=6),
    "base": ViTSize(width=768, depth=12, heads=12),
    "large": ViTSize(width=1024, depth=24, heads=16),
}


@dataclass(frozen=True)
class NetworkConfig:
    """The fields that define the network, validated once here: the ``model`` section of a config holds them (with
    how to initialise and train it, ``ModelConfig``), and so does the model's Hub ``config.json`` (with the crop
    sizes, ``seqtrack_accel.model.SeqTrackConfig``)."""

    encoder: str = "base"  # a key of VIT_SIZES: nano | tiny | small | base | large
    # ViT patch side in pixels (the original: 16). Crop sizes must be multiples of it; pretrained 16 px patch
    # embeddings are resampled to it (timm's resample_patch_embed, FlexiViT).
    patch_size: int = 16
    drop_path: float = 0.0
    bins: int = 4000
    hidden_dim: int = 256
    decoder_layers: int = 2
    decoder_heads: int = 8
    decoder_ffn: int = 1024
    dropout: float = 0.1
    activation_checkpointing: bool = False

    def __post_init__(self):
        _require(self.encoder in VIT_SIZES, "encoder", f"must be one of {tuple(VIT_SIZES)}, got {self.encoder!r}")
        _require(self.patch_size >= 1, "patch_size", f"must be >= 1, got {self.patch_size}")
        _require(0.0 <= self.drop_path < 1.0, "drop_path", "must be in [0, 1)")
        _require(self.bins >= 2, "bins", "must be >= 2")
        _require(self.hidden_dim > 0 and self.decoder_heads > 0 and self.hidden_dim % self.decoder_heads == 0,
                 "hidden_dim", "must be positive and divisible by decoder_heads")
        _require(self.decoder_layers >= 1, "decoder_layers", "must be >= 1")
        _require(self.decoder_ffn > 0, "decoder_ffn", "must be positive")
        _require(0.0 <= self.dropout < 1.0, "dropout", "must be in [0, 1)")


@dataclass(frozen=True)
class ModelConfig(NetworkConfig):
    # scratch | mae (timm name or local MAE/timm file) | seqtrack (released .pth.tar) | pretrained (this package's
    # model: a training checkpoint or save_pretrained folder, or either on the Hub, hf://...: fine-tuning)
    init: str = "mae"
    init_weights: str = "vit_base_patch16_224.mae"  # timm model name or local file for `init`
    end_weight: float = 0.01  # cross-entropy weight of the END and START classes
    # weight of the auxiliary centre-token loss (seqtrack_accel.model.tokens.center_token_loss; not in the original,
    # which has only the sequence loss: 0). No parameter is added: weights and checkpoints are the same either way.
    center_weight: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        _require(self.init in INIT_MODES, "init", f"must be one of {INIT_MODES}, got {self.init!r}")
        _require(self.init == "scratch" or bool(self.init_weights), "init_weights",
                 f"init={self.init!r} needs a timm model name or a local file")
        _require(self.end_weight >= 0, "end_weight", "must be >= 0")
        _require(0 <= self.center_weight < math.inf, "center_weight",
                 f"must be >= 0 and finite, got {self.center_weight}")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 500
    batch_size: int = 16  # per process
    lr: float = 1e-4
    encoder_lr_mult: float = 0.1
    weight_decay: float = 1e-4
    lr_drop_epoch: int = 400  # step decay, stepped once per epoch
    lr_drop_factor: float = 0.1
    grad_clip_norm: float = 0.1
    grad_accum_steps: int = 1
    seed: int = 42
    print_interval: int = 50  # steps between console / log lines
    checkpoint_every_steps: int = 0  # 0: only at the end of each epoch
    keep_last: int = 3  # the newest checkpoints kept per phase, besides the best one
    best_metric: str = "free_iou"  # what picks the best checkpoint: free_iou | val_auc (higher is better) | loss
    phase_init: str = "resume"  # a new phase continues the previous one: full state (resume) or weights only
    compile: bool = False  # torch.compile the training forward (in place; checkpoints are unchanged)
    fused_optimizer: bool = True  # fused AdamW on CUDA
    pin_memory: bool = True
    prefetch_factor: int = 2
    log_images: int = 8  # search crops drawn into the TensorBoard image grid each epoch (0: none)

    def __post_init__(self):
        for name in ("epochs", "batch_size", "grad_accum_steps", "print_interval", "keep_last", "prefetch_factor"):
            _require(getattr(self, name) >= 1, name, f"must be >= 1, got {getattr(self, name)}")
        _require(0 < self.lr < math.inf, "lr", f"must be positive and finite, got {self.lr}")
        _require(self.encoder_lr_mult >= 0, "encoder_lr_mult", "must be >= 0")
        _require(self.weight_decay >= 0, "weight_decay", "must be >= 0")
        _require(self.lr_drop_epoch >= 1, "lr_drop_epoch", "must be >= 1")
        _require(self.lr_drop_factor > 0, "lr_drop_factor", "must be positive")
        _require(self.grad_clip_norm >= 0, "grad_clip_norm", "must be >= 0 (0 disables clipping)")
        _require(self.checkpoint_every_steps >= 0, "checkpoint_every_steps", "must be >= 0")
        _require(self.phase_init in PHASE_INIT_MODES, "phase_init", f"must be one of {PHASE_INIT_MODES}")
        _require(self.best_metric in BEST_METRICS, "best_metric", f"must be one of {tuple(BEST_METRICS)}, got "
                 f"{self.best_metric!r}")
        _require(self.log_images >= 0, "log_images", "must be >= 0")


@dataclass(frozen=True)
class HubConfig:
    repo_id: str = ""  # ORG/NAME; empty: no mirroring
    private: bool = True
    upload_full_state: bool = False  # also optimizer, scheduler and RNG files, so a run can resume from the Hub
    request_timeout: float = 60.0  # seconds, every request
    max_retries: int = 8
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    final_wait: float = 600.0  # seconds to wait for pending uploads when training ends
    # ... but only this many while the Hub has not answered a request since the wait began (refused or timed out)
    unreachable_grace: float = 60.0

    def __post_init__(self):
        _require(not self.repo_id or self.repo_id.count("/") == 1, "repo_id", f"must be ORG/NAME, got {self.repo_id!r}")
        _require(self.request_timeout > 0, "request_timeout", "must be positive")
        _require(self.max_retries >= 0, "max_retries", "must be >= 0")
        _require(self.backoff_base >= 0 and self.backoff_max >= self.backoff_base, "backoff_max",
                 "must be >= backoff_base >= 0")
        _require(self.final_wait >= 0, "final_wait", "must be >= 0")
        _require(self.unreachable_grace >= 0, "unreachable_grace", "must be >= 0")


@dataclass(frozen=True)
class EvalConfig:
    # The evaluation set of seqtrack-evaluate (without --dataset) and of validation during training; None: the
    # held-out split of the first training source (data.datasets[0] with split ""). An override that reaches into
    # it while it is None (eval.dataset.classes=[cup]) starts from that source.
    dataset: SourceConfig | None = None
    template_update_interval: int = 450
    template_update_threshold: float = 0.6
    hanning: bool = True
    validate_every_epochs: int = 0  # 0: no validation during training
    validate_sequences: tuple[str, ...] = ()  # empty: the whole split
    max_frames: int = 0  # frames tracked per sequence during validation (0: all)
    # Free-running validation (seqtrack_accel.training.validation): greedy decoding on fixed held-out crops of
    # the validation sequences, against the IoU of the training set's mean box, every K epochs (0: off).
    free_run_every_epochs: int = 1
    free_run_samples: int = 256
    collapse_spread: float = 0.2  # warn when a coordinate's predictions vary less than this x the targets' ...
    collapse_patience: int = 4  # ... in this many validations in a row (a fresh model starts collapsed)

    def __post_init__(self):
        _require(self.template_update_interval >= 1, "template_update_interval", "must be >= 1")
        _require(self.validate_every_epochs >= 0, "validate_every_epochs", "must be >= 0")
        _require(self.max_frames >= 0, "max_frames", "must be >= 0")
        _require(self.free_run_every_epochs >= 0, "free_run_every_epochs", "must be >= 0 (0: off)")
        _require(self.free_run_samples >= 1, "free_run_samples", "must be >= 1")
        _require(0.0 <= self.collapse_spread <= 1.0, "collapse_spread", "must be in [0, 1]")
        _require(self.collapse_patience >= 1, "collapse_patience", "must be >= 1")


@dataclass(frozen=True)
class Config:
    name: str = "seqtrack_b256"  # the experiment name; log file is logs/seqtrack-<name>.log
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    hub: HubConfig = field(default_factory=HubConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self):
        for key, crop in (("data.search.size", self.data.search), ("data.template.size", self.data.template)):
            _require(crop.size % self.model.patch_size == 0, key,
                     f"must be a multiple of model.patch_size={self.model.patch_size}, got {crop.size}")


# ---------------------------------------------------------------------------------------------------------------
# building from plain data


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert lists to tuples, dicts to dataclasses."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        options = [arg for arg in args if arg is not type(None)]
        if len(options) == 1:  # X | None: X's own errors, which name the key inside it
            return _convert(value, options[0], key)
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, key)
            except ConfigError as e:
                errors.append(e.message)
        raise ConfigError(key, "; ".join(errors))
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(key, f"expected a mapping of {tp.__name__} fields, got {value!r}")
        return _build(tp, value, key)
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(key, f"expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(key, f"expected a list of {len(args)} values, got {len(value)}")
        return tuple(_convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, f"expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, f"expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):
            # YAML 1.1 reads 1e-4 (no dot in the mantissa) as a string: take every float Python takes.
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(key, f"expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(key, f"expected a string, got {value!r}")
        return value
    raise ConfigError(key, f"unsupported type {_type_name(tp)}")


def _build(cls: type, values: dict, prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for k in values:
        if k not in names:
            path = f"{prefix}.{k}" if prefix else str(k)
            raise ConfigError(path, f"unknown key; known keys here: {', '.join(sorted(names))}")
    kwargs = {}
    for k, v in values.items():
        path = f"{prefix}.{k}" if prefix else k
        tp = hints[k]
        # A nested dataclass given partially is merged onto its default, so YAML files hold only differences.
        if dataclasses.is_dataclass(tp) and isinstance(v, dict):
            f = next(f for f in dataclasses.fields(cls) if f.name == k)
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
            if default is not None:
                merged = _merge(to_dict(default), v)
                kwargs[k] = _build(tp, merged, path)
                continue
        kwargs[k] = _convert(v, tp, path)
    try:
        return cls(**kwargs)
    except ConfigError as e:
        raise ConfigError(f"{prefix}.{e.key}" if prefix else e.key, e.message) from None
    except TypeError as e:  # a required field is missing
        raise ConfigError(prefix or cls.__name__, str(e)) from None


def _merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for k, v in update.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def to_dict(cfg: Any) -> Any:
    """Plain data (dicts, lists, scalars) for YAML / JSON."""
    if dataclasses.is_dataclass(cfg):
        return {f.name: to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, (tuple, list)):
        return [to_dict(v) for v in cfg]
    return cfg


def flat_config(cfg: Config) -> dict[str, int | float | str | bool]:
    """``{"train.lr": 0.0001, ...}``: every key by its dotted path, values other than numbers, strings and booleans
    as text (TensorBoard's hyper-parameters; what a resume changed)."""
    def flat(values: dict, prefix: str) -> dict:
        out = {}
        for key, value in values.items():
            if isinstance(value, dict):
                out.update(flat(value, f"{prefix}{key}."))
            else:
                out[f"{prefix}{key}"] = value if isinstance(value, (int, float, str, bool)) else str(value)
        return out

    return flat(to_dict(cfg), "")


def config_from_dict(values: dict) -> Config:
    return _build(Config, values)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"train.batch_size=8"`` -> (["train", "batch_size"], 8). Values are parsed as YAML."""
    if "=" not in text:
        raise ConfigError(text, "an override must look like key.path=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(text, "an override must look like key.path=value")
    return key.split("."), yaml.safe_load(raw) if raw.strip() else ""


_INDEXED = re.compile(r"(\w+)(?:\[(\d+)\])?")


def apply_overrides(values: dict, overrides: list[str]) -> dict:
    """``values`` (plain data) with each ``key.path=value`` of ``overrides`` set, in order. A list of sections is
    reached by index: ``data.datasets[0].root=/data/LaSOT``. Errors name the key."""
    values = json.loads(json.dumps(values))  # deep copy of plain data
    for text in overrides:
        path, value = parse_override(text)
        _refuse_flat_key(path, text.split("=", 1)[1])
        node, cls = values, Config
        for i, part in enumerate(path):
            dotted = ".".join(path[: i + 1])
            match = _INDEXED.fullmatch(part)
            hints = typing.get_type_hints(cls)
            if match is None or match.group(1) not in hints:
                raise ConfigError(dotted, f"unknown key; known keys here: {', '.join(sorted(hints))}")
            name, index, last = match.group(1), match.group(2), i == len(path) - 1
            tp = hints[name]
            if index is not None:
                node, tp = _list_entry(node, name, int(index), tp, dotted)
                name = int(index)
            if last:
                node[name] = value
                break
            inner = [a for a in typing.get_args(tp) if dataclasses.is_dataclass(a)]
            tp = inner[0] if inner else tp
            if not dataclasses.is_dataclass(tp):
                raise ConfigError(dotted, "is not a section; it has no sub-keys")
            child = node[name] if isinstance(node, list) else node.get(name)
            if dotted == "eval.dataset" and child is None:
                child = node[name] = _held_out_of_first_source(values)
            elif not isinstance(child, dict):
                child = node[name] = to_dict(tp()) if _default_constructible(tp) else {}
            node, cls = child, tp
    return values


def _default_constructible(cls: type) -> bool:
    return all(f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
               for f in dataclasses.fields(cls))


def _list_entry(node: dict, name: str, index: int, tp: Any, dotted: str) -> tuple[list, Any]:
    """The list ``node[name]`` that ``name[index]`` reaches into, and the type of its entries."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) is not tuple or len(args) != 2 or args[1] is not Ellipsis:
        raise ConfigError(dotted, "is not a list; it takes no [index]")
    entries = node.get(name)
    if not isinstance(entries, list) or not 0 <= index < len(entries):
        held = len(entries) if isinstance(entries, list) else 0
        where = dotted.rsplit("[", 1)[0]
        raise ConfigError(dotted, f"{where} holds {held} entries, so the index must be 0 to {held - 1}; set "
                                  f"{where}=[...] to change how many")
    return entries, args[0]


def _held_out_of_first_source(values: dict) -> dict:
    """What ``eval.dataset: null`` means, as plain data: the first training source with split "" (its held-out
    split when read as the evaluation source)."""
    first = values["data"]["datasets"][0]
    return {**first, "split": "", "ratio": 1.0}


# ---------------------------------------------------------------------------------------------------------------
# configs of earlier versions: the flat data keys


# The flat form of earlier versions: LaSOT at data.root with these keys, validated on eval.split / eval.classes.
_FLAT_DATA_KEYS = ("root", "synthetic", "classes", "split", "split_file")
_FLAT_EVAL_KEYS = ("split", "classes")


def _refuse_flat_key(path: list[str], raw: str) -> None:
    """An override of a flat key of earlier versions (``data.root=...``) is an error that shows the new spelling."""
    section, rest = path[0], path[1:]
    if section == "data" and rest and rest[0] in _FLAT_DATA_KEYS:
        new = ".".join(["data.datasets[0]", *rest])
    elif section == "eval" and rest and rest[0] in _FLAT_EVAL_KEYS:
        new = ".".join(["eval.dataset", *rest])
    else:
        return
    raise ConfigError(".".join(path), f"is a key of the flat form, which is gone: the sources are named in "
                                      f"data.datasets and eval.dataset; write {new}={raw.strip()}")


def _from_flat_form(values: dict, where: str) -> dict:
    """``values`` (a config file's plain data) in the one form when it uses the flat keys of earlier versions, with
    one logged note showing that form; else ``values`` itself.

    The flat form read LaSOT at ``data.root`` (``data.classes``, ``data.split``, ``data.split_file``,
    ``data.synthetic``) unless ``data.datasets`` listed sources, whose LaSOT entries then took ``data.root`` as
    their root; it evaluated on LaSOT's ``eval.split`` of ``eval.classes`` (else ``data.classes``) at
    ``data.root`` unless ``eval.dataset`` was set. Every run folder's and checkpoint's ``config.yaml`` written by
    an earlier version holds these keys.
    """
    data, evaluation = dict(values.get("data") or {}), dict(values.get("eval") or {})
    flat = {k: data.pop(k) for k in _FLAT_DATA_KEYS if k in data}
    flat_eval = {k: evaluation.pop(k) for k in _FLAT_EVAL_KEYS if k in evaluation}
    if not flat and not flat_eval:
        return values
    lasot = _kept({"name": "lasot", **flat, "split": "" if flat.get("split") == "train" else flat.get("split")})
    datasets = data.get("datasets") or [lasot]
    if data.get("datasets") and flat.get("root"):
        datasets = [{**d, "root": d.get("root") or flat["root"]} if d.get("name") == "lasot" else d
                    for d in datasets]
    data["datasets"] = datasets
    changed = {"data": {"datasets": datasets}}
    if evaluation.get("dataset") is None:
        old = _kept({**lasot, "split": flat_eval.get("split", "test"),
                     "classes": flat_eval.get("classes") or flat.get("classes")})
        now = _kept({**datasets[0], "split": "test" if datasets[0].get("name") == "lasot" else "", "ratio": None})
        if old != now:
            evaluation["dataset"] = old
            changed["eval"] = {"dataset": old}
    logger.warning("%s uses the flat data keys of earlier versions (%s); it is read as the one form below, which you "
                   "can write there instead:\n%s", where,
                   ", ".join([f"data.{k}" for k in flat] + [f"eval.{k}" for k in flat_eval]),
                   yaml.safe_dump(changed, sort_keys=False, default_flow_style=None).rstrip())
    return {**values, "data": data, "eval": evaluation}


def _kept(source: dict) -> dict:
    """A source's plain data without its empty values (None, "", []), as a config file would write it."""
    return {k: v for k, v in source.items() if v not in (None, "", [], ())}


def shipped_configs() -> list[str]:
    """Names of the experiment configs inside the package (``seqtrack_accel/configs/<name>.yaml``; the repository's
    ``configs/`` links to that folder)."""
    folder = importlib.resources.files("seqtrack_accel") / "configs"
    return sorted(f.name.removesuffix(".yaml") for f in folder.iterdir() if f.name.endswith(".yaml"))


def find_config(config: str | os.PathLike) -> Path | importlib.resources.abc.Traversable:
    """The YAML file that ``config`` names: an existing file, else a shipped config (``demo`` or ``demo.yaml``).

    A file wins over a shipped config of the same name, so a ``demo.yaml`` in the working directory is that file.
    """
    text = os.fspath(config)
    if Path(text).is_file():
        return Path(text)
    name = text.removesuffix(".yaml")
    shipped = shipped_configs()
    if "/" not in text and os.sep not in text and name in shipped:
        return importlib.resources.files("seqtrack_accel") / "configs" / f"{name}.yaml"
    raise FileNotFoundError(f"config {text!r} is neither an existing file nor the name of a shipped config; "
                            f"the shipped configs are: {', '.join(shipped)}")


def load_config(path: str | os.PathLike | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Defaults <- YAML file (differences only) <- ``key.path=value`` overrides.

    ``path`` is a YAML file or the name of a shipped config (``demo``, ``seqtrack_b192``: see ``shipped_configs``).
    The experiment name defaults to the YAML file's stem (``configs/seqtrack_b192.yaml`` -> ``seqtrack_b192``).
    """
    values: dict = {}
    if path is not None:
        source = find_config(path)
        try:
            loaded = yaml.safe_load(source.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(str(source), f"is not valid YAML: {e}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(str(source), "must hold a mapping of config sections")
        values = _from_flat_form(loaded, str(source))
        values.setdefault("name", Path(source.name).stem)
    values = _merge(to_dict(Config()), values)
    values = apply_overrides(values, list(overrides))
    return config_from_dict(values)


def dump_config(cfg: Config) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def with_scratch_init(cfg: Config) -> Config:
    """``cfg`` with ``model.init=scratch``: for building a network whose weights come from a checkpoint next, so that
    building does not first fetch or read the initial (MAE, released) weights."""
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, init="scratch"))


# The network fields that fix parameter shapes (drop_path, dropout and activation checkpointing do not).
_SHAPE_FIELDS = ("encoder", "patch_size", "bins", "hidden_dim", "decoder_layers", "decoder_heads", "decoder_ffn")


def network_signature(network: NetworkConfig, search_size: int, template_size: int, num_templates: int) -> dict:
    """What fixes the network's parameter shapes, under the dotted config keys that set each value."""
    return {**{f"model.{name}": getattr(network, name) for name in _SHAPE_FIELDS},
            "data.search.size": search_size, "data.template.size": template_size,
            "data.template.number": num_templates}


def model_signature(cfg: Config) -> dict:
    """``network_signature`` of a config: stored in every checkpoint, compared on resume and when tracking."""
    return network_signature(cfg.model, cfg.data.search.size, cfg.data.template.size, cfg.data.template.number)


def check_same_network(expected: dict, found: dict, what: str) -> None:
    """The one comparison of two model signatures: ConfigError naming every differing key, its ``expected`` and its
    ``found`` value, after ``what`` (which says what was compared with what, and what to do)."""
    keys = sorted(k for k in set(expected) | set(found) if expected.get(k) != found.get(k))
    if keys:
        listed = ", ".join(f"{k} (expected {expected.get(k)!r}, found {found.get(k)!r})" for k in keys)
        raise ConfigError(keys[0], f"{what}: {listed}")
