"""Frame decoding at full or reduced scale, with libjpeg-turbo (simplejpeg) or OpenCV.

Reduced reads use libjpeg's DCT scaling: the decoder skips most of the inverse DCT, upsampling and colour
conversion, so a frame that will be shrunk by 2x or more anyway costs less. A reduced image of a ``W x H`` frame
is ``ceil(W / scale) x ceil(H / scale)`` pixels and its pixel ``j`` covers the full-scale pixels
``[j * scale, (j + 1) * scale)``; both decoders follow this (it is libjpeg's scaling in both).

Decoders (``data.decoder``), measured by ``scripts/bench_data.py`` (1280x720 frames, one core; see the README):

- ``simplejpeg`` (default): libjpeg-turbo with its SIMD paths, decoding into buffers that are reused from one
  frame to the next, so no frame costs a fresh multi-megabyte allocation. It uses libjpeg's accurate IDCT and
  chroma upsampling, so its pixels are OpenCV's, bit for bit, at every scale: the decoder changes the speed of
  training, never its samples. (The fast IDCT and upsampling would save 2.5% of a half-scale decode and 10% of
  a full-scale one, for a few grey levels of difference.)
  Files that are not JPEGs, and JPEGs that libjpeg-turbo's TurboJPEG interface rejects, go to OpenCV.
- ``opencv``: ``cv2.imdecode`` with the ``IMREAD_REDUCED_COLOR_{2,4,8}`` flags.

``read_image`` (tracking and evaluation) decodes full frames exactly, with libjpeg-turbo's accurate IDCT: the
same pixels as OpenCV, 2.2-2.4x faster on 1280x720 frames.
"""

from __future__ import annotations

import math
import os

import cv2
import numpy as np

from ..config import DECODERS

try:  # a dependency (setup.cfg); guarded so that decoder="opencv" still works where its wheel is missing
    import simplejpeg
except ImportError:  # pragma: no cover - exercised only on platforms without a simplejpeg wheel
    simplejpeg = None

REDUCED_SCALES = (1, 2, 4, 8)
_REDUCED_FLAGS = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}
_JPEG_MAGIC = b"\xff\xd8"


class ImageDecodeError(ValueError):
    """A frame file exists but cannot be decoded (corrupt, truncated header, not an image)."""

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        super().__init__(
            f"cannot decode image {self.path}: the file is corrupt or not an image; "
            "re-extract it from the dataset archive"
        )


class FrameDecoder:
    """Decodes frames in BGR order, optionally at ``1/scale``, into reusable per-slot buffers.

    The array returned for ``slot`` k stays valid until the next ``decode`` into slot k, so a caller that needs
    several frames at once (the frames of one training sample) gives each its own slot. Buffers are created on
    first use in the process that decodes (a DataLoader worker) and are not pickled.

    Args:
        decoder: ``"simplejpeg"`` or ``"opencv"`` (see the module docstring).
    """

    def __init__(self, decoder: str = "simplejpeg"):
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, got {decoder!r}")
        if decoder == "simplejpeg" and simplejpeg is None:
            raise ImportError("data.decoder=simplejpeg needs the simplejpeg package: pip install simplejpeg, "
                              "or set data.decoder=opencv")
        self.decoder = decoder
        self._buffers: list[np.ndarray] = []

    def __getstate__(self) -> dict:
        return {"decoder": self.decoder, "_buffers": []}

    def decode(self, path: str | os.PathLike, scale: int = 1, slot: int = 0) -> np.ndarray:
        """Decode ``path`` at ``1/scale`` of its size.

        Returns:
            uint8 array (ceil(H / scale), ceil(W / scale), 3), BGR. With ``simplejpeg`` it is a view of the
            slot's buffer.
        Raises:
            FileNotFoundError: the file does not exist.
            ImageDecodeError: the bytes are not a decodable image.
            ValueError: ``scale`` is not 1, 2, 4 or 8.
        """
        if scale not in _REDUCED_FLAGS:
            raise ValueError(f"scale must be one of {REDUCED_SCALES}, got {scale!r}")
        # Reading the bytes ourselves separates "missing" (FileNotFoundError) from "undecodable";
        # cv2.imread returns None for both.
        with open(os.fspath(path), "rb") as f:
            data = f.read()
        if self.decoder == "simplejpeg" and data[:2] == _JPEG_MAGIC:
            image = self._decode_turbo(data, scale, slot)
            if image is not None:
                return image
        return _decode_opencv(data, scale, path)

    def _decode_turbo(self, data: bytes, scale: int, slot: int) -> np.ndarray | None:
        """libjpeg-turbo decode into the slot's buffer; None when TurboJPEG rejects the file (OpenCV then tries)."""
        try:
            height, width, _, _ = simplejpeg.decode_jpeg_header(data)
            out_h, out_w = math.ceil(height / scale), math.ceil(width / scale)
            buffer = self._buffer(slot, out_h * out_w * 3)
            # min_height/min_width select the scaling factor; min_factor alone does not scale.
            # strict=False: recoverable libjpeg warnings (extraneous bytes, a truncated tail) decode as
            # OpenCV decodes them, instead of failing the frame.
            image = simplejpeg.decode_jpeg(data, "BGR", min_height=out_h, min_width=out_w, min_factor=scale,
                                           buffer=buffer, strict=False)
        except ValueError:
            return None
        return image if image.shape == (out_h, out_w, 3) else None

    def _buffer(self, slot: int, size: int) -> np.ndarray:
        while len(self._buffers) <= slot:
            self._buffers.append(np.empty(0, dtype=np.uint8))
        if self._buffers[slot].size < size:
            self._buffers[slot] = np.empty(size, dtype=np.uint8)
        return self._buffers[slot]


def _decode_opencv(data: bytes, scale: int, path: str | os.PathLike) -> np.ndarray:
    array = np.frombuffer(data, dtype=np.uint8)
    image = cv2.imdecode(array, _REDUCED_FLAGS[scale]) if array.size else None
    if image is None or image.ndim != 3:
        raise ImageDecodeError(path)
    return image


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode a frame at full size, exactly (accurate IDCT and upsampling). Returns uint8 (H, W, 3) RGB.

    JPEGs go through libjpeg-turbo (simplejpeg) straight to RGB: the same pixels as OpenCV's decode, in less than
    half its time on 1280x720 frames; other files, and JPEGs TurboJPEG rejects, through OpenCV.
    """
    with open(os.fspath(path), "rb") as f:
        data = f.read()
    if simplejpeg is not None and data[:2] == _JPEG_MAGIC:
        try:
            return simplejpeg.decode_jpeg(data, "RGB", strict=False)
        except ValueError:
            pass  # rejected by TurboJPEG (corrupt, unusual): OpenCV decides
    return cv2.cvtColor(_decode_opencv(data, 1, path), cv2.COLOR_BGR2RGB)

