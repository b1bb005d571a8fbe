"""Box <-> token conversion, teacher-forcing sequences, the sequence loss and the logged IoU.

Original: ``lib/train/actors/seqtrack.py`` and ``lib/models/seqtrack/seqtrack.py``.

Pure functions over batch-first tensors. Coordinates are normalised to the search crop ([0, 1]); a box becomes
four tokens ``[cx, cy, w, h]``, each ``floor(v * (bins - 1))`` in ``0 .. bins - 1``. Two special tokens follow
the coordinate tokens: END = ``bins`` and START = ``bins + 1``, so the vocabulary has ``bins + 2`` entries.

    input_tokens, target_tokens = make_sequences(boxes_xywh, bins)   # (B, 5) each
    logits = model(templates, search, input_tokens)                  # (B, 5, bins + 2)
    loss = sequence_loss(logits, target_tokens, bins)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import box_convert

NUM_COORDINATES = 4  # cx, cy, w, h
SEQUENCE_LENGTH = NUM_COORDINATES + 1  # START + 4 coordinates on the input side, 4 coordinates + END on the target


def end_token(bins: int) -> int:
    """The END token id (the first id after the coordinate tokens)."""
    return bins


def start_token(bins: int) -> int:
    """The START token id."""
    return bins + 1


def vocab_size(bins: int) -> int:
    """Coordinate tokens plus END and START."""
    return bins + 2


def boxes_to_tokens(boxes_xywh: Tensor, bins: int) -> Tensor:
    """Quantise boxes to coordinate tokens.

    Args:
        boxes_xywh: (B, 4) float, ``x, y, w, h`` normalised to the search crop (top-left corner and size).
        bins: number of coordinate tokens.

    Returns:
        (B, 4) long tokens ``[cx, cy, w, h]`` in ``0 .. bins - 1``. The box is clamped to the crop as corners
        first, so a box that leaves the crop is cut at the border rather than shifted.
    """
    _check_boxes(boxes_xywh, "boxes_xywh")
    xyxy = box_convert(boxes_xywh.float(), "xywh", "xyxy").clamp(0.0, 1.0)
    cxcywh = box_convert(xyxy, "xyxy", "cxcywh")
    # The values are >= 0 here, so floor equals the original's truncating .int().
    return torch.floor(cxcywh * (bins - 1)).long()


def tokens_to_boxes(tokens: Tensor, bins: int) -> Tensor:
    """Map coordinate tokens back to boxes.

    Args:
        tokens: (B, 4) integer tokens ``[cx, cy, w, h]`` in ``0 .. bins - 1``.
        bins: number of coordinate tokens.

    Returns:
        (B, 4) float ``cx, cy, w, h`` normalised to the search crop, in [0, 1].
    """
    _check_boxes(tokens, "tokens")
    return tokens.float() / (bins - 1)


def make_sequences(boxes_xywh: Tensor, bins: int) -> tuple[Tensor, Tensor]:
    """Teacher-forcing input and target sequences for a batch of boxes.

    Args:
        boxes_xywh: (B, 4) float, normalised ``x, y, w, h``.
        bins: number of coordinate tokens.

    Returns:
        ``(input, target)``, each (B, 5) long: ``[START, cx, cy, w, h]`` and ``[cx, cy, w, h, END]``.
    """
    box = boxes_to_tokens(boxes_xywh, bins)
    column = torch.ones_like(box[:, :1])
    return torch.cat([column * start_token(bins), box], dim=1), torch.cat([box, column * end_token(bins)], dim=1)


def sequence_loss(logits: Tensor, target: Tensor, bins: int, end_weight: float = 0.01) -> Tensor:
    """Weighted cross-entropy over all sequence positions (the original's only loss term).

    Args:
        logits: (B, L, bins + 2) decoder logits, any float dtype (the loss is computed in float32).
        target: (B, L) long target tokens.
        bins: number of coordinate tokens.
        end_weight: class weight of END and START; every coordinate class weighs 1.

    Returns:
        scalar float32 loss: ``sum_i w[y_i] * CE_i / sum_i w[y_i]`` (PyTorch's weighted mean), no label smoothing.
    """
    vocab = vocab_size(bins)
    if logits.shape[-1] != vocab or logits.shape[:-1] != target.shape:
        raise ValueError(
            f"sequence_loss: logits {tuple(logits.shape)} and target {tuple(target.shape)} do not fit "
            f"bins={bins}; expected logits (B, L, {vocab}) and target (B, L)"
        )
    weight = torch.ones(vocab, device=logits.device, dtype=torch.float32)
    weight[end_token(bins)] = end_weight
    weight[start_token(bins)] = end_weight
    return F.cross_entropy(logits.reshape(-1, vocab).float(), target.reshape(-1), weight=weight)


def center_token_loss(memory: Tensor, boxes_xywh: Tensor) -> Tensor:
    """An auxiliary loss that makes the first channel of the decoder memory a map of where the target's centre is.

    Not part of the original SeqTrack. Its sequence loss reaches the encoder only through the decoder's reading of
    the memory, and a network trained from scratch learns slowly to find an object that differs from its
    surroundings only by matching the templates: the encoder waits for the decoder and the decoder for the encoder.
    This term gives the encoder a direct signal (a cross-entropy over the search tokens, as a classification head
    on the feature map would, e.g. OSTrack's centre score map) without adding a parameter: the bottleneck's first
    output channel is the score, so a model trained with it has the same weights, checkpoints and exports.

    Args:
        memory: (B, Ns, C) decoder memory (``SeqTrack.encode``), Ns a square number of search tokens, row-major.
        boxes_xywh: (B, 4) target boxes ``x, y, w, h`` normalised to the search crop.

    Returns:
        scalar float32 loss: the cross-entropy of ``memory[..., 0]`` over the Ns tokens against the token whose
        patch holds the box centre (clamped into the crop).
    """
    tokens = memory.shape[1]
    grid = math.isqrt(tokens)
    if grid * grid != tokens or boxes_xywh.shape != (memory.shape[0], 4):
        raise ValueError(f"center_token_loss: memory {tuple(memory.shape)} needs a square number of search tokens "
                         f"and boxes {tuple(boxes_xywh.shape)} one (x, y, w, h) row per sample")
    center = (boxes_xywh[:, :2] + 0.5 * boxes_xywh[:, 2:]).float()
    cell = (center * grid).floor().long().clamp(0, grid - 1)
    return F.cross_entropy(memory[..., 0].float(), cell[:, 1] * grid + cell[:, 0])


def teacher_forced_iou(logits: Tensor, target: Tensor, bins: int) -> Tensor:
    """IoU of the teacher-forced prediction with the target box, per sample (the original's logged ``IoU``).

    Optimistic by construction: every position saw the ground-truth tokens before it.

    Args:
        logits: (B, 5, bins + 2) teacher-forced decoder logits.
        target: (B, 5) long target tokens ``[cx, cy, w, h, END]``.
        bins: number of coordinate tokens.

    Returns:
        (B,) float32 IoU in [0, 1], on the logits' device (no host sync; average it on device). Where both boxes
        have zero area the original divides 0 by 0; here the union is floored at a tiny epsilon so that such a
        sample counts as IoU 0 instead of turning the epoch mean into NaN.
    """
    if logits.dim() != 3 or logits.shape[1] < NUM_COORDINATES or target.shape[:2] != logits.shape[:2]:
        raise ValueError(
            f"teacher_forced_iou: expected logits (B, 5, V) and target (B, 5), got {tuple(logits.shape)} "
            f"and {tuple(target.shape)}"
        )
    predicted = logits[:, :NUM_COORDINATES, :bins].argmax(dim=-1)
    return paired_iou(predicted.float(), target[:, :NUM_COORDINATES].float())


def paired_iou(boxes_a: Tensor, boxes_b: Tensor) -> Tensor:
    """Element-wise IoU of two (B, 4) ``cx, cy, w, h`` box sets in the same units (torchvision's ``box_iou`` is
    pairwise, B x B). Where both boxes have zero area the union is floored at a tiny epsilon, giving IoU 0.

    Returns:
        (B,) float IoU in [0, 1], on the boxes' device.
    """
    a = box_convert(boxes_a, "cxcywh", "xyxy")
    b = box_convert(boxes_b, "cxcywh", "xyxy")
    top_left = torch.maximum(a[:, :2], b[:, :2])
    bottom_right = torch.minimum(a[:, 2:], b[:, 2:])
    intersection = (bottom_right - top_left).clamp(min=0).prod(dim=-1)
    area_a = (a[:, 2:] - a[:, :2]).prod(dim=-1)
    area_b = (b[:, 2:] - b[:, :2]).prod(dim=-1)
    union = area_a + area_b - intersection
    return intersection / union.clamp(min=torch.finfo(torch.float32).tiny)


def _check_boxes(boxes: Tensor, name: str) -> None:
    if boxes.dim() != 2 or boxes.shape[-1] != NUM_COORDINATES:
        raise ValueError(f"{name} must have shape (B, 4), got {tuple(boxes.shape)}")
