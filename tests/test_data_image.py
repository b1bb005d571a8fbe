"""JPEG decoding at full and reduced scale."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import pickle

from seqtrack_accel.data.image import FrameDecoder, ImageDecodeError, read_image


@pytest.fixture
def textured_jpeg(tmp_path):
    """A 4:2:0 JPEG with smooth gradients and edges, odd-sized so the reduced sizes round up."""
    y, x = np.mgrid[0:75, 0:101]
    bgr = np.stack([x * 2.5, y * 3.0, 128 + 100 * np.sin(x / 7.0) * np.cos(y / 5.0)], axis=-1).astype(np.uint8)
    bgr[20:40, 30:60] = (255, 255, 255)
    path = tmp_path / "textured.jpg"
    path.write_bytes(cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
    return path


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


@pytest.mark.parametrize("decoder", ["simplejpeg", "opencv"])
@pytest.mark.parametrize("scale", [1, 2, 4, 8])
def test_reduced_decode_is_the_ceiling_size_and_bgr(red_jpeg, scale, decoder):
    image = FrameDecoder(decoder).decode(red_jpeg, scale)
    assert image.shape == (-(-37 // scale), -(-50 // scale), 3)
    assert image[..., 2].mean() > 240 and image[..., 0].mean() < 15


def test_reduced_decode_rejects_other_scales(red_jpeg):
    with pytest.raises(ValueError, match="scale"):
        FrameDecoder("opencv").decode(red_jpeg, 3)


def test_undecodable_file_raises_image_decode_error_naming_it(tmp_path):
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"this is not a jpeg")
    with pytest.raises(ImageDecodeError, match="broken.jpg"):
        read_image(path)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_image(tmp_path / "absent.jpg")


@pytest.mark.parametrize("scale", [1, 2, 4, 8])
def test_simplejpeg_and_opencv_decode_the_same_pixels(textured_jpeg, scale):
    fast = FrameDecoder("simplejpeg").decode(textured_jpeg, scale)
    reference = FrameDecoder("opencv").decode(textured_jpeg, scale)
    assert fast.shape == (-(-75 // scale), -(-101 // scale), 3)
    assert np.array_equal(fast, reference)  # both are libjpeg's accurate IDCT and upsampling


def test_each_slot_keeps_its_frame_until_it_is_reused(textured_jpeg, red_jpeg):
    decoder = FrameDecoder("simplejpeg")
    first = decoder.decode(textured_jpeg, 1, slot=0)
    kept = first.copy()
    decoder.decode(red_jpeg, 1, slot=1)
    assert np.array_equal(first, kept)
    again = decoder.decode(textured_jpeg, 2, slot=0)
    assert np.shares_memory(first, again)  # the slot's buffer is reused, not reallocated


def test_decoder_buffers_are_not_pickled(textured_jpeg):
    decoder = FrameDecoder("simplejpeg")
    decoder.decode(textured_jpeg, 1)
    assert pickle.loads(pickle.dumps(decoder))._buffers == []


def test_simplejpeg_decoder_reads_png_through_opencv(tmp_path):
    path = tmp_path / "frame.png"
    cv2.imwrite(str(path), np.full((9, 12, 3), (10, 20, 30), dtype=np.uint8))
    assert FrameDecoder("simplejpeg").decode(path, 1)[0, 0].tolist() == [10, 20, 30]


def test_simplejpeg_decoder_names_an_undecodable_jpeg(tmp_path):
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(ImageDecodeError, match="broken.jpg"):
        FrameDecoder("simplejpeg").decode(path, 1)


def test_read_image_gives_opencvs_pixels(textured_jpeg):
    reference = cv2.cvtColor(cv2.imread(str(textured_jpeg)), cv2.COLOR_BGR2RGB)
    difference = read_image(textured_jpeg).astype(int) - reference.astype(int)
    assert np.abs(difference).max() <= 1  # both are libjpeg's accurate decode (identical where both are turbo)


def test_cmyk_jpeg_decodes_to_opencvs_colours(tmp_path):
    from PIL import Image

    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (40, 30), (10, 200, 30, 0)).save(path)
    reference = cv2.imread(str(path))
    assert np.abs(FrameDecoder("simplejpeg").decode(path).astype(int) - reference.astype(int)).max() <= 1


def _cut_to_half(path, tmp_path):
    data = path.read_bytes()
    half = tmp_path / "half.jpg"
    half.write_bytes(data[:len(data) // 2])
    return half


@pytest.mark.parametrize("decoder", ["simplejpeg", "opencv"])
def test_truncated_jpeg_is_an_error_naming_the_file_with_both_decoders(textured_jpeg, tmp_path, decoder):
    half = _cut_to_half(textured_jpeg, tmp_path)  # libjpeg alone would fill the missing rows with grey
    with pytest.raises(ImageDecodeError, match=r"half\.jpg: the file is truncated"):
        FrameDecoder(decoder).decode(half, 2)


def test_read_image_rejects_a_truncated_jpeg(textured_jpeg, tmp_path):
    half = _cut_to_half(textured_jpeg, tmp_path)
    with pytest.raises(ImageDecodeError, match=r"half\.jpg: the file is truncated"):
        read_image(half)


@pytest.mark.parametrize("decoder", ["simplejpeg", "opencv"])
def test_bytes_padded_after_the_end_marker_are_accepted(textured_jpeg, tmp_path, decoder):
    padded = tmp_path / "padded.jpg"
    padded.write_bytes(textured_jpeg.read_bytes() + b"\x00" * 16)
    assert np.array_equal(FrameDecoder(decoder).decode(padded), FrameDecoder(decoder).decode(textured_jpeg))


def test_read_image_names_a_file_it_cannot_read(tmp_path):
    unreadable = tmp_path / "00000001.jpg"
    unreadable.mkdir()  # reading a folder fails with an OSError, as root too (chmod 000 does not stop root)
    with pytest.raises(OSError, match=r"cannot read frame .*00000001\.jpg: Is a directory"):
        read_image(unreadable)
