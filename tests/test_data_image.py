"""JPEG decoding at full and reduced scale."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from seqtrack_accel.data.image import ImageDecodeError, read_image, read_image_reduced


@pytest.fixture
def red_jpeg(tmp_path):
    bgr = np.zeros((37, 50, 3), dtype=np.uint8)
    bgr[..., 2] = 255  # pure red in OpenCV's BGR order
    path = tmp_path / "red.jpg"
    path.write_bytes(cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes())
    return path


def test_read_image_returns_rgb_uint8(red_jpeg):
    image = read_image(red_jpeg)
    assert image.shape == (37, 50, 3) and image.dtype == np.uint8
    assert image[..., 0].mean() > 240 and image[..., 2].mean() < 15


@pytest.mark.parametrize("scale", [1, 2, 4, 8])
def test_reduced_read_is_the_ceiling_size_and_rgb(red_jpeg, scale):
    image = read_image_reduced(red_jpeg, scale)
    assert image.shape == (-(-37 // scale), -(-50 // scale), 3)
    assert image[..., 0].mean() > 240 and image[..., 2].mean() < 15


def test_reduced_read_rejects_other_scales(red_jpeg):
    with pytest.raises(ValueError, match="scale"):
        read_image_reduced(red_jpeg, 3)


def test_undecodable_file_raises_image_decode_error_naming_it(tmp_path):
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"this is not a jpeg")
    with pytest.raises(ImageDecodeError, match="broken.jpg"):
        read_image(path)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_image(tmp_path / "absent.jpg")
