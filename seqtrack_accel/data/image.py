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

A truncated JPEG (an interrupted copy or extraction) is an ``ImageDecodeError`` for both decoders and for
``read_image``: libjpeg would decode it with a warning and grey rows in place of the missing data (OpenCV 5 rejects
it, simplejpeg with ``strict=False`` does not). The check is that the end-of-image marker is among the file's last
``END_MARKER_WINDOW`` bytes, so a JPEG with more than that after its marker (an appended trailer) counts as
truncated too.
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
_JPEG_END = b"\xff\xd9"
# Where a complete JPEG's end-of-image marker may be: some writers pad a few bytes after it. Entropy-coded data
# never holds FF D9 (a data byte FF is followed by 00), so a cut file has no marker there, however it was cut.
END_MARKER_WINDOW = 64


class ImageDecodeError(ValueError):
    """A frame file exists but cannot be decoded (corrupt, truncated, not an image)."""

    def __init__(self, path: str | os.PathLike, reason: str = "the file is corrupt or not an image"):
        self.path = str(path)
        super().__init__(f"cannot decode image {self.path}: {reason}; re-extract it from the dataset archive")


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
        """Read and decode ``path`` at ``1/scale`` of its size (``decode_bytes`` of the file's bytes).

        Raises:
            OSError: the file cannot be read (FileNotFoundError, PermissionError, ...).
            ImageDecodeError, ValueError: as ``decode_bytes``.
        """
        # Reading the bytes ourselves separates "missing" or "unreadable" (OSError) from "undecodable";
        # cv2.imread returns None for all of them.
        with open(os.fspath(path), "rb") as f:
            data = f.read()
        return self.decode_bytes(data, path, scale, slot)

    def decode_bytes(self, data: bytes, path: str | os.PathLike, scale: int = 1, slot: int = 0) -> np.ndarray:
        """Decode the bytes ``data`` of the file ``path`` (named in errors) at ``1/scale`` of its size.

        Returns:
            uint8 array (ceil(H / scale), ceil(W / scale), 3), BGR. With ``simplejpeg`` it is a view of the
            slot's buffer.
        Raises:
            ImageDecodeError: the bytes are not a decodable image, or a truncated JPEG.
            ValueError: ``scale`` is not 1, 2, 4 or 8.
        """
        if scale not in _REDUCED_FLAGS:
            raise ValueError(f"scale must be one of {REDUCED_SCALES}, got {scale!r}")
        if data[:2] == _JPEG_MAGIC:
            _check_jpeg_end(data, path)
            if self.decoder == "simplejpeg":
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
            # strict=False: recoverable libjpeg warnings (extraneous bytes) decode as OpenCV decodes them,
            # instead of failing the frame. A truncated file, which libjpeg would pad with grey, never gets here.
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


def _check_jpeg_end(data: bytes, path: str | os.PathLike) -> None:
    """ImageDecodeError unless the JPEG ``data`` ends with its end-of-image marker (a few padding bytes allowed).

    libjpeg decodes a truncated file with a warning and fills the missing rows with grey. Searching the last
    ``END_MARKER_WINDOW`` bytes costs well under a microsecond per frame; libjpeg's own report (a strict decode)
    would also fail frames with recoverable warnings, which OpenCV accepts.
    """
    if data.rfind(_JPEG_END, max(0, len(data) - END_MARKER_WINDOW)) < 0:
        raise ImageDecodeError(path, f"the file is truncated (no JPEG end-of-image marker FF D9 in its last "
                                     f"{END_MARKER_WINDOW} bytes: an interrupted copy or extraction)")


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

    Tracking cannot skip a frame, so every failure is an error naming the file.

    Raises:
        OSError: the file cannot be read (its type kept: FileNotFoundError, PermissionError, ...).
        ImageDecodeError: the file is not a decodable image, or a truncated JPEG (which libjpeg would decode
            with grey rows in place of the missing ones).
    """
    try:
        with open(os.fspath(path), "rb") as f:
            data = f.read()
    except OSError as error:
        reason = error.strerror or error
        raise OSError(error.errno, f"cannot read frame {path}: {reason}; check the file's permissions and the "
                                   "disk, or re-extract the sequence") from error
    return decode_image(data, path)


def decode_image(data: bytes, path: str | os.PathLike) -> np.ndarray:
    """``read_image`` of the bytes ``data`` of the file ``path`` (named in errors: a path, or a zip member)."""
    if data[:2] == _JPEG_MAGIC:
        _check_jpeg_end(data, path)
        if simplejpeg is not None:
            try:
                return simplejpeg.decode_jpeg(data, "RGB", strict=False)
            except ValueError:
                pass  # rejected by TurboJPEG (corrupt, unusual): OpenCV decides
    return cv2.cvtColor(_decode_opencv(data, 1, path), cv2.COLOR_BGR2RGB)
