"""SeqTrack inference on a video, one frame at a time, and loading a model to track with.

Original: ``lib/test/tracker/seqtrack.py``.

    model, cfg = load_tracker_model("runs/demo/phase_1/checkpoints/checkpoint_6")
    tracker = SeqTrackTracker(model, cfg, device="cuda")
    tracker.initialize(first_frame, first_box_xywh)
    for frame in frames:
        box_xywh, confidence = tracker.track(frame)
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from huggingface_hub import constants
from safetensors.torch import load_file

from ..config import Config, check_same_network, load_config, model_signature, with_scratch_init
from ..data.processing import crop_around, normalize_crops
from ..model import SeqTrack, SeqTrackConfig, build_model, load_original_checkpoint
from ..model.card import TRACKING_FILE
from ..hub import download, is_address

logger = logging.getLogger(__name__)

CLIP_MARGIN = 10.0  # pixels of the box kept inside the image, as in the original


def map_box_back(box_cxcywh: np.ndarray, previous_xywh: np.ndarray, crop_side: float) -> np.ndarray:
    """A box in search-crop pixels (cx, cy, w, h; crop scale undone) -> x,y,w,h in image pixels.

    The crop is centred on the previous box, so its top-left corner is the previous center minus half the side.
    """
    cx_prev = previous_xywh[0] + 0.5 * previous_xywh[2]
    cy_prev = previous_xywh[1] + 0.5 * previous_xywh[3]
    cx = box_cxcywh[0] + cx_prev - 0.5 * crop_side
    cy = box_cxcywh[1] + cy_prev - 0.5 * crop_side
    w, h = box_cxcywh[2], box_cxcywh[3]
    return np.array([cx - 0.5 * w, cy - 0.5 * h, w, h], dtype=np.float64)


def clip_box(box_xywh: np.ndarray, height: int, width: int, margin: float = CLIP_MARGIN) -> np.ndarray:
    """Clip an x,y,w,h box to a ``width`` x ``height`` image so at least ``margin`` px of it stays inside."""
    x1, y1, w, h = (float(v) for v in box_xywh)
    x2, y2 = x1 + w, y1 + h
    x1 = min(max(0.0, x1), width - margin)
    x2 = min(max(margin, x2), width)
    y1 = min(max(0.0, y1), height - margin)
    y2 = min(max(margin, y2), height)
    return np.array([x1, y1, max(margin, x2 - x1), max(margin, y2 - y1)], dtype=np.float64)


class SeqTrackTracker:
    """Tracks one target: ``initialize`` on the first frame, then ``track`` every following frame.

    Args:
        model: a SeqTrack model; it is put in eval mode and moved to ``device``.
        cfg: ``data.template`` / ``data.search`` (factor, size), ``data.mean`` / ``data.std`` and ``eval``
            (hanning, template_update_interval, template_update_threshold).
        device: where the model runs.
        dtype: torch.float32, or torch.bfloat16 to run under autocast.
        use_cache: decode the box tokens with the decoder's KV cache (False recomputes the prefix at every token;
            the same boxes, slower; ``scripts/bench_track.py`` compares the two).
    """

    def __init__(self, model: torch.nn.Module, cfg: Config, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32, use_cache: bool = True):
        if dtype not in (torch.float32, torch.bfloat16):
            raise ValueError(f"dtype must be torch.float32 or torch.bfloat16, got {dtype}")
        self.device = torch.device(device)
        self.dtype = dtype
        self.use_cache = use_cache
        self.model = model.to(self.device).eval()
        self.cfg = cfg
        self._check_model_matches(cfg)
        self._brightness = torch.ones((), device=self.device)  # no brightness jitter at inference
        self.templates: list[torch.Tensor] = []  # each (3, Hz, Wz), normalised
        self.state = np.zeros(4)  # x,y,w,h of the last box, image pixels
        self.frame_index = 0

    def _check_model_matches(self, cfg: Config) -> None:
        model_config = getattr(self.model, "config", None)
        if isinstance(model_config, SeqTrackConfig):
            check_same_network(model_signature(cfg), model_config.signature(),
                               "the config (expected) and the model (found) differ; track with the config the "
                               "model was trained with")

    def _crop(self, frame: np.ndarray, box_xywh: np.ndarray, factor: float, size: int) -> tuple[torch.Tensor, float]:
        crop, resize_factor = crop_around(frame, box_xywh, factor, size)
        # uint8 to the device (a quarter of float32's bytes), normalised there as the training step does; made
        # contiguous first, as normalisation keeps the layout and the model expects channel-first memory.
        image = torch.from_numpy(crop).to(self.device).permute(2, 0, 1).contiguous()  # (3, size, size) uint8
        return normalize_crops(image, self._brightness, self.cfg.data.mean, self.cfg.data.std), float(resize_factor)

    def _template(self, frame: np.ndarray, box_xywh: np.ndarray) -> torch.Tensor:
        template_cfg = self.cfg.data.template
        return self._crop(frame, box_xywh, template_cfg.factor, template_cfg.size)[0]

    def initialize(self, frame: np.ndarray, box_xywh: np.ndarray) -> None:
        """Start tracking the target at ``box_xywh`` (pixels) in ``frame`` (H, W, 3) RGB uint8."""
        box = np.asarray(box_xywh, dtype=np.float64).reshape(4)
        if not (box[2] > 0 and box[3] > 0):
            raise ValueError(f"the initial box {box.tolist()} has no area; give x,y,w,h with w > 0 and h > 0")
        template = self._template(frame, box)
        # The same first-frame template fills every template slot until an update replaces the later ones.
        self.templates = [template] * self.cfg.data.template.number
        self.state = box
        self.frame_index = 0

    @torch.inference_mode()
    def track(self, frame: np.ndarray) -> tuple[np.ndarray, float]:
        """The target's box in ``frame`` (H, W, 3) RGB uint8.

        Returns:
            box: (4,) float64 x,y,w,h pixels, clipped to the image with a 10 px margin.
            confidence: sum of the 4 chosen token probabilities x 10 (as the original), in [0, 40].
        """
        if not self.templates:
            raise RuntimeError("track() called before initialize(); initialise on the first frame's box")
        height, width = frame.shape[:2]
        self.frame_index += 1
        search_cfg = self.cfg.data.search
        search, resize_factor = self._crop(frame, self.state, search_cfg.factor, search_cfg.size)
        templates = torch.stack(self.templates)[None]  # (1, T, 3, Hz, Wz)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.dtype == torch.bfloat16):
            out = self.model.generate(templates, search[None], window=self.cfg.eval.hanning,
                                      use_cache=self.use_cache)
        # One host transfer per frame: the normalised (cx, cy, w, h) and the confidence together.
        values = torch.cat([out["boxes"][0].float(), out["confidence"][:1].float()]).cpu().numpy().astype(np.float64)
        box_in_crop = values[:4] * search_cfg.size / resize_factor
        confidence = float(values[4])
        self.state = clip_box(map_box_back(box_in_crop, self.state, search_cfg.size / resize_factor), height, width)
        self._maybe_update_template(frame, confidence)
        return self.state.copy(), confidence

    def _maybe_update_template(self, frame: np.ndarray, confidence: float) -> None:
        eval_cfg = self.cfg.eval
        if len(self.templates) < 2 or self.frame_index % eval_cfg.template_update_interval:
            return
        if confidence > eval_cfg.template_update_threshold:
            # As the original: drop the oldest updatable template (index 1) and append the new one; the first
            # frame's template is always kept. With the usual 2 templates this replaces the last one.
            self.templates = [self.templates[0], *self.templates[2:], self._template(frame, self.state)]


class FirstBoxTracker:
    """A baseline that reports the first frame's box on every frame (the floor any tracker must beat)."""

    def initialize(self, frame: np.ndarray, box_xywh: np.ndarray) -> None:
        self.box = np.asarray(box_xywh, dtype=np.float64).reshape(4).copy()

    def track(self, frame: np.ndarray) -> tuple[np.ndarray, float]:
        """Returns the first box and a confidence of 0 (this baseline has none)."""
        return self.box.copy(), 0.0


# ---------------------------------------------------------------------------------------------------------------
# loading

@dataclass(frozen=True)
class TrackerCheckpoint:
    """A model to track with, the config to track with, and what identifies the weights.

    ``identity``: ``weights_sha256`` (of the weights file: exact, where a path is not, since a re-trained epoch
    reuses folder names), ``source`` (as given) and, for a Hub repo, ``hub_commit``.
    """

    model: torch.nn.Module
    cfg: Config
    identity: dict[str, str]


def _load_training_checkpoint(folder: Path, cfg: Config | None) -> tuple[torch.nn.Module, Config]:
    checkpoint_cfg = load_config(folder / "config.yaml")
    if cfg is None:
        cfg = checkpoint_cfg
    else:
        check_same_network(model_signature(cfg), model_signature(checkpoint_cfg),
                           f"the given config (expected) and {folder / 'config.yaml'} (found) build different "
                           "models; drop --config to use the checkpoint's config")
    model = build_model(with_scratch_init(cfg))
    state = load_file(str(folder / "model.safetensors"), device="cpu")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise KeyError(f"{folder / 'model.safetensors'} does not fit the model built from its config.yaml; "
                       f"is it a SeqTrack checkpoint of this package? {e}") from e
    return model, cfg


def _load_pretrained(folder: Path, cfg: Config | None, source: str) -> tuple[torch.nn.Module, Config]:
    """``SeqTrack.from_pretrained`` of a local folder; the crop settings come from ``cfg`` or from the
    ``config.yaml`` stored next to the weights."""
    model = SeqTrack.from_pretrained(folder)
    if cfg is None:
        if not (folder / TRACKING_FILE).is_file():
            raise FileNotFoundError(f"{source} has no {TRACKING_FILE} with the crop and tracking settings (it was "
                                    "saved without them); pass the config the model was trained with, --config "
                                    "CONFIG, or save it again with model.save_pretrained(folder, config=cfg)")
        cfg = load_config(folder / TRACKING_FILE)
    return model, cfg


def _load_local(path: Path, cfg: Config | None, source: str) -> tuple[torch.nn.Module, Config, Path]:
    """Model, config and weights file of a local checkpoint folder or ``.pth.tar`` file."""
    if path.is_dir():
        weights = path / constants.SAFETENSORS_SINGLE_FILE
        pretrained = (path / constants.CONFIG_NAME).is_file()
        if weights.is_file() and (path / "config.yaml").is_file() and not pretrained:
            return (*_load_training_checkpoint(path, cfg), weights)
        if pretrained:
            return (*_load_pretrained(path, cfg, source), weights)
        raise FileNotFoundError(f"{path} holds neither a training checkpoint (config.yaml + model.safetensors) "
                                "nor a save_pretrained folder (config.json + model.safetensors)")
    if path.is_file():
        if not path.name.endswith((".pth.tar", ".pth")):
            raise ValueError(f"{path}: checkpoint files must be original SeqTrack .pth.tar files; for this "
                             "package's checkpoints pass the folder that holds model.safetensors")
        if cfg is None:
            raise ValueError(f"{path} is an original SeqTrack checkpoint, which carries no crop settings; "
                             "pass the matching config, e.g. --config configs/seqtrack_b256.yaml")
        return load_original_checkpoint(path, cfg), cfg, path
    # Never a Hub lookup: a relative path (runs/x) and a repo id (org/x) look the same, and a typo should not wait
    # on the network.
    repo_like = source.count("/") == 1 and not source.startswith((".", "/", "~"))
    raise FileNotFoundError(f"checkpoint {source} does not exist (no {path.absolute()}): pass a training checkpoint "
                            "folder, a save_pretrained folder or an original .pth.tar file; a Hub repo is written "
                            + (f"hf://{source} (if {source} is one)" if repo_like else "hf://ORG/NAME"))


def _load(source: str, cfg: Config | None) -> tuple[torch.nn.Module, Config, Path, dict[str, str]]:
    if is_address(source):  # what is at the address decides: an export, or a mirrored run's checkpoint
        fetched = download(source)
        if fetched.kind == "export":
            model, cfg = _load_pretrained(fetched.folder, cfg, source)
        else:
            model, cfg = _load_training_checkpoint(fetched.folder, cfg)
        return model.eval(), cfg, fetched.folder / constants.SAFETENSORS_SINGLE_FILE, {"hub_commit": fetched.commit}
    model, cfg, weights = _load_local(Path(source).expanduser(), cfg, source)
    return model.eval(), cfg, weights, {}


def load_tracker_model(source: str, cfg: Config | None = None) -> tuple[torch.nn.Module, Config]:
    """A SeqTrack model and the config to track with, from any of:

    - a training checkpoint folder (``config.yaml`` + ``model.safetensors``): ``cfg`` defaults to its config, and
      a given ``cfg`` must build the same network;
    - a ``save_pretrained`` folder, loaded with ``SeqTrack.from_pretrained``; ``cfg`` defaults to the
      ``config.yaml`` stored next to the weights;
    - a Hub address ``hf://ORG/NAME[@REVISION][/PATH]`` of either (a ``save_pretrained`` export, or a checkpoint of
      a mirrored run: its newest, ``/best``, or ``/phase_N/checkpoint_E``), as ``seqtrack_accel.hub.download`` says;
    - a released original checkpoint file (``SEQTRACK_ep0500.pth.tar``), which needs ``cfg``.

    Anything else is a FileNotFoundError at once: only ``hf://`` reaches the Hub. The model is returned in eval mode
    on the CPU.
    """
    model, cfg, _, _ = _load(source, cfg)
    return model, cfg


def load_tracker_checkpoint(source: str, cfg: Config | None = None) -> TrackerCheckpoint:
    """``load_tracker_model`` (same sources) with the identity of the weights: the SHA-256 of the weights file
    (``model.safetensors`` or the ``.pth.tar``), read once more after loading."""
    model, cfg, weights, hub = _load(source, cfg)
    with open(weights, "rb") as f:
        sha256 = hashlib.file_digest(f, "sha256").hexdigest()
    return TrackerCheckpoint(model, cfg, {"weights_sha256": sha256, "source": source, **hub})
