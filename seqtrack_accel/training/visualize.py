"""TensorBoard pictures: search crops with the target (green) and predicted (red) boxes."""

from __future__ import annotations

import numpy as np
import torch
from torchvision.ops import box_convert
from torchvision.utils import draw_bounding_boxes, make_grid


def box_grid(search_images: torch.Tensor, search_anno: torch.Tensor, predicted: torch.Tensor, n: int) -> np.ndarray:
    """A uint8 (H, W, 3) grid of the first ``n`` crops.

    Args:
        search_images: (B, 3, H, W) uint8 RGB search crops, as the dataset makes them (before brightness).
        search_anno: (B, 4) targets, normalised x, y, w, h.
        predicted: (B, 4) predicted boxes, normalised cx, cy, w, h (``tokens_to_boxes`` of the predicted tokens).
    """
    n = min(n, search_images.shape[0])
    images = search_images[:n].detach().to(torch.uint8).cpu()
    size = images.shape[-1]
    target = box_convert(search_anno[:n].detach().float().cpu(), "xywh", "xyxy") * size
    pred = box_convert(predicted[:n].detach().float().cpu(), "cxcywh", "xyxy") * size
    drawn = [draw_bounding_boxes(img, torch.stack([t, p]), colors=["lime", "red"], width=1)
             for img, t, p in zip(images, target, pred)]
    return make_grid(drawn, nrow=min(n, 4), padding=2).permute(1, 2, 0).numpy()
