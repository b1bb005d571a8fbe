"""JPEG decoding with OpenCV, at full or reduced scale.

The reduced reads use libjpeg's DCT scaling (``IMREAD_REDUCED_COLOR_{2,4,8}``): the decoder skips most of the
inverse DCT and colour conversion work, so a frame that will be shrunk by 2x or more anyway is decoded several
times faster. A reduced image of a ``W x H`` frame is ``ceil(W / scale) x ceil(H / scale)`` pixels and its pixel
``j`` covers the full-scale pixels ``[j * scale, (j + 1) * scale)``.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

REDUCED_SCALES = (1, 2, 4, 8)
_REDUCED_FLAGS = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


class ImageDecodeError(ValueError):
    """A frame file exists but OpenCV cannot decode it (corrupt, truncated header, not an image)."""

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        super().__init__(
            f"cannot decode image {self.path}: the file is corrupt or not an image; "
            "re-extract it from the dataset archive"
        )


def decode_bgr(path: str | os.PathLike, scale: int = 1) -> np.ndarray:
    """Decode ``path`` in OpenCV's native BGR order, at ``1/scale`` of its size.

    Returns:
        uint8 array (ceil(H / scale), ceil(W / scale), 3), BGR.
    Raises:
        FileNotFoundError: the file does not exist.
        ImageDecodeError: the bytes are not a decodable image.
        ValueError: ``scale`` is not 1, 2, 4 or 8.
    """
    flag = _REDUCED_FLAGS.get(scale)
    if flag is None:
        raise ValueError(f"scale must be one of {REDUCED_SCALES}, got {scale!r}")
    # Reading the bytes ourselves separates "missing" (FileNotFoundError from numpy) from "undecodable"
    # (imdecode returns None); cv2.imread returns None for both.
    data = np.fromfile(os.fspath(path), dtype=np.uint8)
    image = cv2.imdecode(data, flag) if data.size else None
    if image is None or image.ndim != 3:
        raise ImageDecodeError(path)
    return image


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode a frame at full size. Returns uint8 (H, W, 3) RGB."""
    return cv2.cvtColor(decode_bgr(path, 1), cv2.COLOR_BGR2RGB)


def read_image_reduced(path: str | os.PathLike, scale: int) -> np.ndarray:
    """Decode a frame at ``1/scale`` of its size (scale in 1, 2, 4, 8) with libjpeg's DCT scaling.

    Returns uint8 (ceil(H / scale), ceil(W / scale), 3) RGB.
    """
    return cv2.cvtColor(decode_bgr(path, scale), cv2.COLOR_BGR2RGB)
