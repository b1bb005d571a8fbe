"""The per-epoch TensorBoard picture: search crops with the ground-truth (green) and predicted (red) boxes."""

from __future__ import annotations

import numpy as np
import torch
from torchvision.ops import box_convert
from torchvision.utils import draw_bounding_boxes, make_grid

from ..config import Config
from ..model.tokens import tokens_to_boxes


def box_grid(search_images: torch.Tensor, search_anno: torch.Tensor, logits: torch.Tensor, cfg: Config) -> np.ndarray:
    """A uint8 (H, W, 3) grid of up to ``cfg.train.log_images`` crops.

    Args:
        search_images: (B, 3, H, W) uint8 RGB search crops, as the dataset makes them (before brightness).
        search_anno: (B, 4) ground truth, normalised x, y, w, h.
        logits: (B, 5, bins + 2) teacher-forced logits; the predicted box is the argmax token of each coordinate.
    """
    n = min(cfg.train.log_images, search_images.shape[0])
    images = search_images[:n].detach().to(torch.uint8).cpu()
    size = images.shape[-1]
    gt = box_convert(search_anno[:n].detach().float().cpu(), "xywh", "xyxy") * size
    tokens = logits[:n, :4, : cfg.model.bins].detach().float().argmax(-1).cpu()
    pred = box_convert(tokens_to_boxes(tokens, cfg.model.bins), "cxcywh", "xyxy") * size
    drawn = [
        draw_bounding_boxes(img, torch.stack([g, p]), colors=["lime", "red"], width=1)
        for img, g, p in zip(images, gt, pred)
    ]
    return make_grid(drawn, nrow=min(n, 4), padding=2).permute(1, 2, 0).numpy()
