"""Crops, jitter plans and normalisation."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch
from bench_data import straightforward_crop

from seqtrack_accel.config import CropConfig
from seqtrack_accel.data.processing import crop_around, decode_scale, normalize_crops, plan_crop, render_crop


@pytest.fixture(scope="module")
def frame():
    """A smooth random uint8 (120, 160, 3) image."""
    noise = np.random.default_rng(0).integers(0, 256, size=(120, 160, 3), dtype=np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 2)


def _plan(box, crop, frame_flip=False, flip_prob=0.0, seed=0):
    return plan_crop(box, crop, np.random.default_rng(seed), frame_flip=frame_flip, grayscale=False,
                     flip_prob=flip_prob, brightness_jitter=0.0)


def test_crop_around_returns_the_output_size_and_resize_factor(frame):
    crop, resize_factor = crop_around(frame, (50, 40, 20, 10), 3.0, 32)
    assert crop.shape == (32, 32, 3) and crop.dtype == np.uint8
    assert resize_factor == pytest.approx(32 / math.ceil(math.sqrt(200) * 3.0))


def test_crop_around_rejects_a_crop_side_below_one_pixel(frame):
    with pytest.raises(ValueError, match="below 1 pixel"):
        crop_around(frame, (50, 40, 0, 10), 3.0, 32)


@pytest.mark.parametrize("box,factor,out", [((50, 40, 20, 10), 3.0, 32), ((2, 3, 30, 24), 4.0, 64),
                                            ((140, 100, 15, 19), 2.0, 48), ((60, 50, 40, 30), 2.0, 16)])
def test_crop_around_matches_pad_then_resize_of_the_original(frame, box, factor, out):
    ours, rf = crop_around(frame, box, factor, out)
    reference, reference_rf = straightforward_crop(frame, box, factor, out)
    assert rf == reference_rf
    assert np.abs(ours.astype(int) - reference.astype(int)).max() <= 2


def test_crop_around_pads_outside_the_frame_with_zeros(frame):
    crop, _ = crop_around(frame + 1, (0, 0, 20, 20), 4.0, 32)  # window [-30, 50): the top-left 3/8 is outside
    assert crop[:10, :10].max() == 0 and crop[20:, 20:].min() > 0


def test_mirrored_plan_equals_flipping_the_frame_then_cropping(frame):
    box, crop = (100.0, 40.0, 40.0, 30.0), CropConfig(32, 3.0)
    plan = _plan(box, crop, frame_flip=True)
    assert plan.mirror
    flipped_box = (frame.shape[1] - box[0] - box[2], box[1], box[2], box[3])  # exact pixel mirror
    expected, _ = crop_around(np.ascontiguousarray(frame[:, ::-1]), flipped_box, 3.0, 32)
    assert np.abs(render_crop(frame, 1, plan).astype(int) - expected.astype(int)).max() <= 1


def test_unjittered_plan_centres_the_box():
    plan = _plan((30.0, 20.0, 12.0, 8.0), CropConfig(32, 2.0))
    x, y, w, h = plan.box
    side = math.ceil(math.sqrt(96) * 2.0)
    assert (x + w / 2, y + h / 2) == pytest.approx(((32 - 1) / 2 / 32, (32 - 1) / 2 / 32))
    assert (w, h) == pytest.approx((12 / side, 8 / side))


def test_crop_flip_mirrors_the_box_in_pixel_terms():
    box, crop = (30.0, 20.0, 12.0, 8.0), CropConfig(32, 2.0, center_jitter=2.0)
    plain, flipped = _plan(box, crop, flip_prob=0.0, seed=5), _plan(box, crop, flip_prob=1.0, seed=5)
    assert flipped.mirror and not plain.mirror
    # crop column u shows column out - 1 - u: centres c and out - 1 - c
    assert (flipped.box[0] + flipped.box[2] / 2) * 32 == pytest.approx(31 - (plain.box[0] + plain.box[2] / 2) * 32)


def test_plan_of_an_empty_box_is_invalid():
    assert _plan((10.0, 10.0, 0.0, 5.0), CropConfig(32, 2.0)) is None


@pytest.mark.parametrize("side,out,scale", [(100, 64, 1), (128, 64, 2), (255, 64, 2), (256, 64, 4),
                                            (600, 64, 8), (5000, 64, 8)])
def test_decode_scale_is_the_largest_power_of_two_not_above_the_shrink(side, out, scale):
    assert decode_scale(side, out) == scale


def test_reduced_scale_crop_matches_the_full_scale_crop(frame):
    big = cv2.resize(frame, (640, 480), interpolation=cv2.INTER_CUBIC)
    jpeg = cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 95])[1]
    plan = _plan((200.0, 150.0, 100.0, 80.0), CropConfig(32, 3.0))
    assert decode_scale(plan.side, plan.out_size) == 8
    full = render_crop(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), 1, plan)
    reduced = render_crop(cv2.imdecode(jpeg, cv2.IMREAD_REDUCED_COLOR_8), 8, plan)
    assert np.abs(full.astype(int) - reduced.astype(int)).mean() < 3


def test_grayscale_plan_gives_equal_channels(frame):
    plan = plan_crop((50, 40, 20, 10), CropConfig(32, 3.0), np.random.default_rng(0), frame_flip=False,
                     grayscale=True, flip_prob=0.0, brightness_jitter=0.0)
    crop = render_crop(frame, 1, plan)
    assert (crop[..., 0] == crop[..., 1]).all() and (crop[..., 1] == crop[..., 2]).all()


def test_normalize_crops_scales_clips_and_normalises_each_crop_with_its_brightness():
    crops = torch.tensor([0, 128, 255], dtype=torch.uint8).expand(2, 1, 1, 3).permute(0, 3, 1, 2)  # (2, 3, 1, 1)
    mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
    normalised = normalize_crops(crops, torch.tensor([1.0, 1.2]), mean, std)
    assert normalised.shape == (2, 3, 1, 1) and normalised.dtype == torch.float32
    for crop, brightness in zip(normalised, (1.0, 1.2)):
        expected = (np.minimum(np.array([0, 128, 255]) / 255 * brightness, 1.0) - 0.5) / 0.25
        np.testing.assert_allclose(crop[:, 0, 0].numpy(), expected, rtol=1e-5, atol=1e-6)  # float32 rounding
