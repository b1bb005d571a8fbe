"""Crops and augmentation of the original SeqTrack processing, done cheaply.

Original: ``lib/train/data/processing.py`` and ``processing_utils.py``.

Per crop: jitter the box, take a square window of side ``ceil(sqrt(w*h) * factor)`` centred on the jittered box
(corners rounded), zero padding outside the frame, resize to the output size; the object box lands at
``(out - 1)/2 + (gt_center - jittered_center) * resize_factor`` (centre) and ``wh * resize_factor`` (size),
normalised by the output size.

What differs from the original's implementation, not its statistics:

- One ``cv2.warpAffine`` samples the window straight into the ``out x out`` crop: no full-frame copy, no padded
  intermediate. It uses ``cv2.resize``'s pixel mapping (``src = (dst + 0.5) * side / out - 0.5``) and bilinear
  interpolation, and zero padding blends with the frame border exactly as pad-then-resize does.
- A frame whose window will be shrunk by 2x or more is decoded at 1/2, 1/4 or 1/8 scale by libjpeg
  (``decode_scale``) and sampled in those reduced coordinates.
- The original flips the whole frame with p 0.5 before cropping (one roll per sample), and each crop again
  with p 0.5 (one roll per crop). Both are folded into one mirrored read of the window: flipping the frame,
  jittering the centre by ``(dx, dy)`` and cropping equals cropping the unflipped frame around
  ``gt_center + (-dx, dy)`` and mirroring the crop. The mirrored box is exact in pixel terms
  (crop column ``u`` shows column ``out - 1 - u``). The original is off by one pixel here: its frame flip maps
  a box to ``x' = W - 1 - x - w`` while the object's pixels land at ``W - x - w``.
- Grayscale (p 0.05, one roll per sample in the original, on full frames) is applied to the crops: it is a
  per-pixel linear map, so it commutes with cropping and bilinear resizing up to uint8 rounding.
- Boxes are normalised by the output size, as the paper describes; the original code divides by ``out - 1``
  (``transform_image_to_crop``), a 0.5 % scale difference at 192 px.
- The original's ``sample_target`` pads one zero column (row) too many where the window crosses the right
  (bottom) frame border (``x2_pad = x2 - W + 1``), dropping the frame's last column; not reproduced.
- A sample whose window misses the frame entirely is re-drawn (the check of the original's STARK processing);
  SeqTrack's own processing has no such check.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Sequence as SequenceType

import cv2
import numpy as np
import torch

from ..config import CropConfig

MAX_DECODE_SCALE = 8


@dataclass(frozen=True)
class CropPlan:
    """Everything random about one crop, drawn before any pixel is touched.

    Attributes:
        x1, y1: top-left of the square window in the unflipped full-size frame, pixels (may be negative).
        side: window side in full-size pixels (>= 1).
        out_size: output crop side in pixels.
        mirror: read the window right to left (frame flip XOR crop flip).
        grayscale: convert the crop to 3-channel gray.
        brightness: multiplier of the [0, 1] pixel values (clipped at 1), ``U[1 - b, 1 + b]``.
        box: the object box in the output crop, normalised ``x, y, w, h`` (divided by ``out_size``).
    """

    x1: int
    y1: int
    side: int
    out_size: int
    mirror: bool
    grayscale: bool
    brightness: float
    box: tuple[float, float, float, float]

    @property
    def resize_factor(self) -> float:
        """Output pixels per full-size frame pixel."""
        return self.out_size / self.side


def crop_side(w: float, h: float, factor: float) -> int:
    """Window side ``ceil(sqrt(w * h) * factor)`` in pixels (0 or less for an empty box)."""
    area = w * h
    return math.ceil(math.sqrt(area) * factor) if area > 0 else 0


def decode_scale(side: int, out_size: int, max_scale: int = MAX_DECODE_SCALE) -> int:
    """Largest power of two <= ``side / out_size``, at most ``max_scale`` (1 when the crop is not shrunk 2x)."""
    scale = 1
    while scale * 2 <= min(side / out_size, max_scale):
        scale *= 2
    return scale


def plan_crop(
    box_xywh: SequenceType[float] | np.ndarray,
    crop: CropConfig,
    rng: np.random.Generator,
    *,
    frame_flip: bool,
    grayscale: bool,
    flip_prob: float,
    brightness_jitter: float,
) -> CropPlan | None:
    """Draw the jitter, brightness and crop flip of one crop of the box ``x, y, w, h`` (full-size pixels).

    Draws, in this order: 2 normals (scale jitter), 2 uniforms (centre jitter), 1 uniform (brightness),
    1 uniform (crop flip). Returns None when the window side is below 1 pixel (the sample is invalid).
    ``frame_flip`` is the sample's frame flip, drawn once by the caller: it mirrors the centre jitter and is folded
    with the crop flip into ``CropPlan.mirror``.
    """
    x, y, w, h = (float(v) for v in box_xywh)
    jittered_wh = np.array([w, h]) * np.exp(rng.standard_normal(2) * crop.scale_jitter)
    jittered_sz = math.sqrt(max(float(jittered_wh[0] * jittered_wh[1]), 0.0))
    offset = jittered_sz * crop.center_jitter * (rng.random(2) - 0.5)  # jittered centre - box centre, pixels
    brightness = float(rng.uniform(max(0.0, 1.0 - brightness_jitter), 1.0 + brightness_jitter))
    crop_flip = bool(rng.random() < flip_prob)

    side = math.ceil(jittered_sz * crop.factor)
    if side < 1:
        return None
    # The frame flip mirrors the jittered centre: flipping the frame, jittering by (dx, dy) and cropping is
    # cropping the unflipped frame around (gt_cx - dx, gt_cy + dy) and mirroring the crop.
    gt_cx, gt_cy = x + 0.5 * w, y + 0.5 * h
    center_x = gt_cx - float(offset[0]) if frame_flip else gt_cx + float(offset[0])
    center_y = gt_cy + float(offset[1])
    x1 = round(center_x - 0.5 * side)
    y1 = round(center_y - 0.5 * side)

    out = crop.size
    rf = out / side
    bw, bh = w * rf, h * rf
    cx = (out - 1) / 2 + (gt_cx - center_x) * rf  # object centre in the unmirrored crop, pixel-centre coordinates
    cy = (out - 1) / 2 + (gt_cy - center_y) * rf
    mirror = frame_flip != crop_flip
    if mirror:  # crop column u shows unmirrored column out - 1 - u
        cx = out - 1 - cx
    box = ((cx - 0.5 * bw) / out, (cy - 0.5 * bh) / out, bw / out, bh / out)
    return CropPlan(x1=int(x1), y1=int(y1), side=side, out_size=out, mirror=mirror, grayscale=grayscale,
                    brightness=brightness, box=box)


def window_hits_image(plan: CropPlan, image_shape: tuple[int, ...], scale: int) -> bool:
    """Whether the plan's window overlaps a frame decoded at ``1/scale`` of its size (shape (h, w, ...))."""
    height, width = image_shape[0] * scale, image_shape[1] * scale
    return plan.x1 < width and plan.x1 + plan.side > 0 and plan.y1 < height and plan.y1 + plan.side > 0


def render_crop(image: np.ndarray, scale: int, plan: CropPlan) -> np.ndarray:
    """Sample the plan's window from ``image`` (a frame decoded at ``1/scale``) into an ``out x out`` crop.

    Applies the mirror and grayscale of the plan; brightness is left to the tensor conversion.
    Returns uint8 (out_size, out_size, 3) in the channel order of ``image``.
    """
    crop = _warp_window(image, scale, plan.x1, plan.y1, plan.side, plan.out_size, plan.mirror)
    if plan.grayscale:
        # Channel order does not matter for the caller's RGB/BGR: the weights are applied to BGR here.
        gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
        crop = cv2.merge((gray, gray, gray))
    return crop


def crop_window(box_xywh: SequenceType[float] | np.ndarray, factor: float) -> tuple[int, int, int]:
    """``(x1, y1, side)``: the top-left corner and side, in image pixels, of the square ``crop_around`` cuts around
    ``box_xywh`` (x,y,w,h) with ``factor``."""
    x, y, w, h = (float(v) for v in box_xywh)
    side = crop_side(w, h, factor)
    return int(round(x + 0.5 * w - 0.5 * side)), int(round(y + 0.5 * h - 0.5 * side)), side


def crop_around(image: np.ndarray, box_xywh: SequenceType[float] | np.ndarray, factor: float,
                out_size: int) -> tuple[np.ndarray, float]:
    """Square crop of side ``ceil(sqrt(w*h) * factor)`` centred on the box, zero padded, resized to out_size.

    Args:
        image: uint8 (H, W, 3), any channel order (kept).
        box_xywh: ``x, y, w, h`` in pixels, top-left origin.
        factor: crop side / sqrt(box area).
        out_size: output side in pixels.
    Returns:
        The crop, uint8 (out_size, out_size, 3), and the resize factor ``out_size / side`` (output pixels per
        image pixel).
    Raises:
        ValueError: the crop side is below 1 pixel (empty or degenerate box).
    """
    x1, y1, side = crop_window(box_xywh, factor)
    if side < 1:
        x, y, w, h = (float(v) for v in box_xywh)
        raise ValueError(f"crop side ceil(sqrt({w} * {h}) * {factor}) is below 1 pixel; the box is too small")
    return _warp_window(image, 1, x1, y1, side, out_size, False), out_size / side


def _warp_window(image: np.ndarray, scale: int, x1: int, y1: int, side: int, out_size: int,
                 mirror: bool) -> np.ndarray:
    """Bilinear sample of the full-size window ``[x1, x1 + side) x [y1, y1 + side)`` from ``image`` decoded at
    ``1/scale``, into (out_size, out_size, C); outside the image is 0."""
    step = side / out_size  # full-size pixels per output pixel
    # Output pixel u samples window position (u + 0.5) * step - 0.5 (cv2.resize's mapping); a full-size
    # coordinate p is (p - (scale - 1) / 2) / scale in the reduced image, whose pixel j covers [j*scale, (j+1)*scale).
    shift = 0.5 * (scale - 1)
    a = step / scale
    if mirror:
        ax, bx = -a, (x1 + (out_size - 0.5) * step - 0.5 - shift) / scale
    else:
        ax, bx = a, (x1 + 0.5 * step - 0.5 - shift) / scale
    by = (y1 + 0.5 * step - 0.5 - shift) / scale
    matrix = np.array([[ax, 0.0, bx], [0.0, a, by]], dtype=np.float64)
    return cv2.warpAffine(image, matrix, (out_size, out_size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def normalize_crops(images: torch.Tensor, brightness: torch.Tensor, mean: SequenceType[float],
                    std: SequenceType[float]) -> torch.Tensor:
    """uint8 crops (..., 3, H, W) and their brightness factors (...) -> float32 ``(min(v / 255 * b, 1) - mean) / std``.

    Runs on the crops' device: the training step and the tracker ship uint8 crops and normalise them there.
    """
    scale = (brightness.to(torch.float32) / 255.0)[..., None, None, None]
    x = (images.to(torch.float32) * scale).clamp_(max=1.0)
    mean_t, std_t = _channel_constants(tuple(mean), tuple(std), images.device)
    return x.sub_(mean_t).div_(std_t)


@functools.lru_cache(maxsize=16)
def _channel_constants(mean: tuple[float, ...], std: tuple[float, ...],
                       device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(3, 1, 1) mean and std on ``device``, made once: a fresh host-to-device copy per step would sync the host."""
    return (torch.tensor(mean, dtype=torch.float32, device=device)[:, None, None],
            torch.tensor(std, dtype=torch.float32, device=device)[:, None, None])


def normalize_batch(batch: dict[str, torch.Tensor], mean: SequenceType[float],
                    std: SequenceType[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """The model inputs of a training batch (``TrackingDataset`` samples, collated, on any device).

    Returns:
        template_images float32 (B, T, 3, Hz, Wz) and search_images float32 (B, 3, Hx, Wx) (or (B, S, 3, Hx, Wx)),
        normalised.
    """
    return (normalize_crops(batch["template_images"], batch["template_brightness"], mean, std),
            normalize_crops(batch["search_images"], batch["search_brightness"], mean, std))
