"""Class-agnostic tracking data: clips of objects that no other clip shows, rendered on the fly for training, and a
held-out test split of looks that no training clip has, written as a LaSOT-layout tree.

    data:
      datasets: [{name: procedural}]                       # every training sample a new clip, rendered on the fly
    eval:
      dataset: {name: procedural, split: test, root: data/procedural_test}   # written on first use

A clip is one object of a random look (``seqtrack_accel.data.looks``: a shape, a texture and a colour scheme of the
split's families) moving over a background of the split's families, among distractors that look like it, under
occluders. Over its frames the object moves smoothly, fast or by jumps, leaves the view and comes back (or bounces
off the borders), changes scale, aspect and in-plane rotation; the camera pans; the light changes slowly or
suddenly; fast motion blurs the object; the frame is defocused, noisy and JPEG-compressed at a random quality.

    clip = draw_clip(split="train", seed=1234, config=ProceduralConfig())   # boxes and visibility, no pixels yet
    clip.boxes, clip.visible                  # float32 (N, 4) x,y,w,h; bool (N,)
    image = clip.render(7)                    # uint8 (H, W, 3) BGR frame 7; clip.render(7, (x0, y0, x1, y1)) a part
    root = make_procedural_tree("data/procedural_test", split="test", sequences=40, frames=100)

Why on the fly: a training sample needs three frames of one clip. Rendering them (only the parts the crops need)
costs a few milliseconds, about what decoding three JPEG frames costs, and every sample shows an object no other
sample has; a tree on disk gives as many objects as it has sequences, costs its generation time first, and its
samples repeat objects. The backgrounds, the slowest part to draw, come from a bank of ``backgrounds`` scenes per
process (each a pure function of the generator's seed and its index), seen through random windows and flips.

Deterministic: a clip is a pure function of its seed (``draw_clip``); a training sample draws its clip's seed from
the sample's generator, so samples stay a pure function of ``(train.seed, epoch, index)``; the test tree is a pure
function of its arguments (same seed, same bytes). Boxes are the object's bounding box (its rotated, scaled outline,
within a pixel and a half of its drawn pixels) cut to the frame; a frame whose box keeps less than 10% of its area in the frame
is out of view (box ``0,0,0,0``), one whose object an occluder covers by 90% or more fully occluded.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np

from ..config import ProceduralConfig
from .looks import SPLITS, Look, LookFamilies, background, draw_look, shape_alpha, texture
from .synthetic import JPEG_QUALITY, MANIFEST_FILE, _new_tree, check_manifest

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
FIRST_CLEAN_FRAMES = 5  # no occlusion starts before this frame: a tracker starts from frame 0's box
OUT_OF_VIEW_AREA = 0.1  # a box with less of its area inside the frame is out of view
FULL_OCCLUSION = 0.8  # share of the object an occluder must cover for the frame to count as (fully) occluded
MAX_SPRITE = 160  # objects are drawn at their largest size in the clip, at most this many pixels a side
PLAIN_TEXTURES = ("flat", "gradient")  # one colour, lit: what the easiest clips' objects wear


# ---------------------------------------------------------------------------------------------------------------
# motion


def _smooth(rng: np.random.Generator, n: int, period: float) -> np.ndarray:
    """A smooth random curve of ``n`` values with unit standard deviation, varying over about ``period`` frames."""
    t = np.arange(n)[:, None]
    frequencies = rng.uniform(0.5, 2.0, 4) / period
    curve = np.sin(2 * np.pi * t * frequencies + rng.uniform(0, 2 * np.pi, 4)) @ rng.normal(0, 1, 4)
    return (curve / np.sqrt(2.0)).astype(np.float64)


def _fold(x: np.ndarray, low: np.ndarray | float, high: np.ndarray | float) -> np.ndarray:
    """Reflect a path into [low, high], as a point bouncing between two walls."""
    span = np.maximum(np.asarray(high) - np.asarray(low), 1e-6)
    y = np.mod(x - low, 2 * span)
    return low + np.where(y > span, 2 * span - y, y)


@dataclass(frozen=True)
class Motion:
    """Per frame: centre, size (the geometric mean of the sides, unrotated), aspect multiplier, rotation (radians),
    all (N,) float64, and the camera's offset into the background, (N, 2)."""

    cx: np.ndarray
    cy: np.ndarray
    size: np.ndarray
    aspect: np.ndarray
    angle: np.ndarray
    camera: np.ndarray

    @property
    def speed(self) -> np.ndarray:
        """Pixels moved since the previous frame, (N,)."""
        return np.hypot(np.diff(self.cx, prepend=self.cx[0]), np.diff(self.cy, prepend=self.cy[0]))


def _draw_motion(rng: np.random.Generator, n: int, width: int, height: int, pad: int) -> Motion:
    short = min(width, height)
    size0 = short * np.exp(rng.uniform(np.log(0.1), np.log(0.4)))
    log_size = rng.uniform(0, 0.35) * _smooth(rng, n, rng.uniform(15, 80))
    if rng.random() < 0.2:  # a zoom: the object approaches or recedes over 10-30 frames
        start, length = rng.integers(0, n), rng.integers(10, 31)
        log_size += rng.uniform(-0.8, 0.8) * np.clip((np.arange(n) - start) / length, 0, 1)
    size = np.clip(size0 * np.exp(log_size), 0.06 * short, 0.9 * short)
    aspect = np.exp(rng.uniform(0, 0.25) * _smooth(rng, n, rng.uniform(15, 80)))
    spin = 0.0 if rng.random() < 0.5 else rng.normal(0, 0.04)
    angle = (rng.uniform(-0.3, 0.3) if rng.random() < 0.7 else rng.uniform(0, 2 * np.pi)) + spin * np.arange(n) \
        + rng.uniform(0, 0.3) * _smooth(rng, n, 30)

    # Velocity: a speed scale per clip, modulated smoothly, along a heading that turns at a random rate; jumps
    # (abrupt motion: a shaking camera, a low frame rate) in some clips.
    speed = short * np.exp(rng.uniform(np.log(0.002), np.log(0.05))) * np.exp(0.4 * _smooth(rng, n, 20))
    heading = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, rng.uniform(0.02, 0.4), n))
    steps = speed[:, None] * np.stack([np.cos(heading), np.sin(heading)], axis=1)
    if rng.random() < 0.3:
        jumps = rng.random(n) < rng.uniform(0.01, 0.05)
        directions = rng.uniform(0, 2 * np.pi, n)
        lengths = rng.uniform(0.5, 2.5, n) * size * jumps
        steps += lengths[:, None] * np.stack([np.cos(directions), np.sin(directions)], axis=1)
    steps[0] = 0
    path = rng.uniform(0.3, 0.7, 2) * (width, height) + np.cumsum(steps, axis=0)
    # Bounce off the borders, or (some clips) off walls beyond them: the object leaves the view and comes back.
    beyond = rng.uniform(0.5, 1.5) * size if rng.random() < 0.35 else 0.0
    half = 0.5 * size
    cx = _fold(path[:, 0], half - beyond, width - half + beyond)
    cy = _fold(path[:, 1], half - beyond, height - half + beyond)

    camera_steps = rng.normal(0, 1, (n, 2)).cumsum(axis=0) * rng.uniform(0, 0.3) + rng.uniform(-1.5, 1.5, 2)
    camera = _fold(rng.uniform(0, 2 * pad, 2) + np.cumsum(camera_steps, axis=0), 0, 2 * pad)
    return Motion(cx=cx, cy=cy, size=size, aspect=aspect, angle=angle, camera=camera)


# ---------------------------------------------------------------------------------------------------------------
# sprites: an object's pixels and where they go


@dataclass(frozen=True)
class Sprite:
    """An object's alpha at its drawing size and the outline of its opaque pixels (for boxes without pixels)."""

    alpha: np.ndarray  # float32 (h, w) in [0, 1]
    outline: np.ndarray  # float64 (k, 2) x, y: corners of the opaque pixels' convex hull, pixel-centre coordinates

    @classmethod
    def of(cls, alpha: np.ndarray) -> Sprite:
        opaque = alpha >= 0.5
        rows = np.flatnonzero(opaque.any(axis=1))
        if len(rows) == 0:
            opaque = np.zeros_like(opaque)
            opaque[alpha.shape[0] // 2, alpha.shape[1] // 2] = True
            rows = np.flatnonzero(opaque.any(axis=1))
        # Each opaque row's leftmost and rightmost pixel: their convex hull is the opaque pixels' convex hull.
        left = opaque[rows].argmax(axis=1)
        right = opaque.shape[1] - 1 - opaque[rows, ::-1].argmax(axis=1)
        ends = np.concatenate([np.stack([left, rows], 1), np.stack([right, rows], 1)]).astype(np.float32)
        hull = cv2.convexHull(ends).reshape(-1, 2).astype(np.float64)
        corners = (hull[:, None, :] + np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]])).reshape(-1, 2)
        return cls(alpha=alpha, outline=corners)

    @property
    def side(self) -> float:
        """The geometric mean of the sprite's sides, pixels."""
        return float(np.sqrt(self.alpha.shape[0] * self.alpha.shape[1]))


def _affine(sprite_shape: tuple[int, int], side: float, cx, cy, size, aspect, angle) -> np.ndarray:
    """(N, 2, 3) maps from sprite pixel-centre coordinates to frame coordinates, one per value of the (N,) arrays (or
    scalars): scaled to ``size`` (the geometric mean of the sides) with the aspect multiplier, rotated by ``angle``
    about the sprite's centre, centred at ``cx, cy``."""
    h, w = sprite_shape
    cx, cy, size, aspect, angle = np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, dtype=np.float64))
                                                        for v in (cx, cy, size, aspect, angle)))
    scale = size / side
    sx, sy = scale * np.sqrt(aspect), scale / np.sqrt(aspect)
    c, s = np.cos(angle), np.sin(angle)
    linear = np.stack([np.stack([c * sx, -s * sy], -1), np.stack([s * sx, c * sy], -1)], -2)  # (N, 2, 2)
    center = np.array([(w - 1) / 2, (h - 1) / 2])
    shift = np.stack([cx, cy], -1) - linear @ center
    return np.concatenate([linear, shift[..., None]], axis=-1)


def _outline_boxes(outline: np.ndarray, affines: np.ndarray) -> np.ndarray:
    """(N, 4) x0, y0, x1, y1 (pixel edges) of the (k, 2) ``outline`` points under each of the (N, 2, 3) affines."""
    points = affines[:, :, :2] @ outline.T + affines[:, :, 2:]  # (N, 2, k)
    low, high = points.min(axis=2), points.max(axis=2)
    return np.concatenate([low + 0.5, high + 0.5], axis=1)


class Layer:
    """One object's premultiplied pixels at several resolutions (halved each time), for drawing it at any scale
    without aliasing. ``make`` gives its colours (h, w, 3) and alpha (h, w) when it is first drawn into a frame
    part it overlaps: a distractor far from every crop costs nothing."""

    def __init__(self, shape: tuple[int, int], make: Callable[[], tuple[np.ndarray, np.ndarray]]):
        self.shape = shape
        self._make = make
        self._levels: list[np.ndarray] = []

    @property
    def levels(self) -> list[np.ndarray]:
        if not self._levels:
            pixels, alpha = self._make()
            level = cv2.merge((*cv2.split(cv2.multiply(pixels, cv2.merge((alpha, alpha, alpha)))), alpha))
            self._levels.append(level)
            while min(level.shape[:2]) >= 8:
                level = cv2.resize(level, (level.shape[1] // 2, level.shape[0] // 2), interpolation=cv2.INTER_AREA)
                self._levels.append(level)
        return self._levels

    def draw(self, canvas: np.ndarray, origin: tuple[int, int], affine: np.ndarray, blur: np.ndarray | None = None,
             light: float = 1.0, color: bool = True) -> None:
        """Blend the object into ``canvas`` (float32 (h, w, 3), the frame part whose top-left is ``origin``), placed
        by ``affine`` (sprite pixel centres -> frame), optionally convolved with the motion-blur kernel ``blur`` and
        its colours multiplied by ``light``; ``color=False`` blends white instead (the object's alpha, on black)."""
        h, w = self.shape
        corners = affine[:, :2] @ np.array([[-0.5, w - 0.5, w - 0.5, -0.5], [-0.5, -0.5, h - 0.5, h - 0.5]]) \
            + affine[:, 2:]
        margin = 1 + (blur.shape[0] // 2 if blur is not None else 0)
        x0 = max(int(np.floor(corners[0].min())) - margin, origin[0])
        y0 = max(int(np.floor(corners[1].min())) - margin, origin[1])
        x1 = min(int(np.ceil(corners[0].max())) + margin + 1, origin[0] + canvas.shape[1])
        y1 = min(int(np.ceil(corners[1].max())) + margin + 1, origin[1] + canvas.shape[0])
        if x1 <= x0 or y1 <= y0:
            return
        scale = np.sqrt(abs(affine[0, 0] * affine[1, 1] - affine[0, 1] * affine[1, 0]))
        index = int(np.clip(np.floor(np.log2(1.0 / max(scale, 1e-6))), 0, len(self.levels) - 1))
        # Level k's pixel centre i lies at 2^k * i + (2^k - 1) / 2 of the full-size sprite.
        factor = 2.0 ** index
        matrix = np.array(affine, dtype=np.float64)
        matrix[:, 2] += matrix[:, :2].sum(axis=1) * (factor - 1) / 2 - (x0, y0)
        matrix[:, :2] *= factor
        patch = cv2.warpAffine(self.levels[index], matrix, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        if blur is not None:
            patch = cv2.filter2D(patch, -1, blur, borderType=cv2.BORDER_CONSTANT)
        # canvas = canvas * (1 - alpha) + premultiplied colour, with OpenCV in place (numpy's broadcasting over the
        # colour axis is several times slower)
        b, g, r, alpha = cv2.split(patch)
        if color:
            pixels = cv2.merge((b, g, r))
            if light != 1.0:
                pixels = cv2.multiply(pixels, (light, light, light, 0))
        else:
            pixels = cv2.merge((alpha, alpha, alpha))
        inverse = 1.0 - alpha
        region = canvas[y0 - origin[1]:y1 - origin[1], x0 - origin[0]:x1 - origin[0]]
        cv2.multiply(region, cv2.merge((inverse, inverse, inverse)), dst=region)
        cv2.add(region, pixels, dst=region)


def _motion_kernel(length: float, angle: float) -> np.ndarray | None:
    """A line kernel of ``length`` pixels along ``angle``: the blur of an object moving during the exposure."""
    if length < 1.5:
        return None
    size = int(np.ceil(length)) | 1
    kernel = np.zeros((size, size), dtype=np.float32)
    c = (size - 1) / 2
    dx, dy = 0.5 * (length - 1) * np.cos(angle), 0.5 * (length - 1) * np.sin(angle)
    cv2.line(kernel, (int(round((c - dx) * 16)), int(round((c - dy) * 16))),
             (int(round((c + dx) * 16)), int(round((c + dy) * 16))), 1.0, 1, cv2.LINE_AA, 4)
    return kernel / kernel.sum()


# ---------------------------------------------------------------------------------------------------------------
# backgrounds


class Backgrounds:
    """The backgrounds clips are drawn over: a bank of ``count`` scenes of the split (each a pure function of
    ``seed`` and its index), made when first drawn or all at once by ``fill``, or with ``count`` 0 a new one per clip.

    ``fill`` before DataLoader workers start: they inherit the bank instead of each drawing its own."""

    def __init__(self, families: LookFamilies, count: int, width: int, height: int, seed: int):
        self.families, self.count, self.width, self.height, self.seed = families, count, width, height, seed
        self._bank: dict[int, np.ndarray] = {}

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """A background of at least ``width`` x ``height``: uint8 BGR."""
        if self.count == 0:
            return self._make(rng)
        image = self._entry(int(rng.integers(self.count)))
        return image[:, ::-1] if rng.random() < 0.5 else image

    def fill(self) -> None:
        for index in range(self.count):
            self._entry(index)

    def _entry(self, index: int) -> np.ndarray:
        if index not in self._bank:
            self._bank[index] = self._make(np.random.default_rng((self.seed, 7, index)))
        return self._bank[index]

    def _make(self, rng: np.random.Generator) -> np.ndarray:
        family = self.families.backgrounds[int(rng.integers(len(self.families.backgrounds)))]
        return background(family, rng, self.width, self.height, self.families)

    def __getstate__(self) -> dict:  # a pickled copy (spawned DataLoader workers) makes its own bank
        return {**self.__dict__, "_bank": {}}


# ---------------------------------------------------------------------------------------------------------------
# clips


@dataclass(frozen=True)
class Occlusion:
    """An occluder crossing the object from frame ``start`` to ``stop`` (exclusive): where it goes is drawn with the
    clip's motion; its look and silhouette, from ``seed``, only when needed (most never cover the object fully)."""

    start: int
    stop: int
    shape: tuple[int, int]  # (h, w) of its silhouette
    pole: bool  # long and thin: a pole, a beam
    families: LookFamilies
    seed: int
    affines: np.ndarray  # (stop - start, 2, 3)

    @cached_property
    def look(self) -> Look:
        return draw_look(np.random.default_rng((self.seed, 0)), self.families)

    @cached_property
    def sprite(self) -> Sprite:
        family = "box" if self.pole and "box" in self.families.shapes else self.look.shape
        return Sprite.of(shape_alpha(family, np.random.default_rng((self.seed, 1)), self.shape[1], self.shape[0]))


@dataclass(eq=False)
class Clip:
    """One procedural sequence: boxes and visibility first, pixels on demand.

    Attributes:
        name, class_name: the clip's name and its object's shape family.
        boxes: float32 (N, 4) x, y, w, h in pixels, ``0, 0, 0, 0`` where out of view; read-only.
        visible: bool (N,), the object in view and not fully occluded; read-only.
        occluded, out_of_view: bool (N,).
        look: the object's look; difficulty: how hard its scene is, in [0, 1] (see ``draw_clip``).
    """

    name: str
    class_name: str
    boxes: np.ndarray
    visible: np.ndarray
    occluded: np.ndarray
    out_of_view: np.ndarray
    look: Look
    difficulty: float
    seed: int
    config: ProceduralConfig
    families: LookFamilies
    backgrounds: Backgrounds
    motion: Motion
    sprite: Sprite
    affines: np.ndarray  # (N, 2, 3) the object's sprite -> frame maps
    occlusions: list[Occlusion]
    still: bool = False
    _scene: dict = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def render(self, t: int, window: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """Frame ``t`` (0-based), or its part ``window`` = (x0, y0, x1, y1) (pixels, inside the frame): uint8 BGR."""
        cfg = self.config
        x0, y0, x1, y1 = window if window is not None else (0, 0, cfg.width, cfg.height)
        scene = self._scene or self._build_scene()
        rng = np.random.default_rng((self.seed, 2, t))
        ox, oy = (int(v) for v in self.motion.camera[t])
        canvas = scene["background"][oy + y0:oy + y1, ox + x0:ox + x1].astype(np.float32)
        if scene["background_blur"]:  # a defocused background, as behind an object in focus
            canvas = cv2.GaussianBlur(canvas, (0, 0), scene["background_blur"])
        if scene["background_fade"] < 1.0:
            fade = scene["background_fade"]
            cv2.multiply(canvas, (fade, fade, fade, 0.0), dst=canvas)
            cv2.add(canvas, tuple((1.0 - fade) * m for m in scene["background_mean"]) + (0.0,), dst=canvas)
        origin = (x0, y0)
        for layer, affines in scene["distractors"]:
            layer.draw(canvas, origin, affines[t])
        if not self.out_of_view[t]:
            heading = np.arctan2(self.motion.cy[t] - self.motion.cy[max(t - 1, 0)],
                                 self.motion.cx[t] - self.motion.cx[max(t - 1, 0)])
            blur = _motion_kernel(scene["exposure"] * self.motion.speed[t], heading)
            gx, gy = scene["light"]  # the object brightens and darkens as it moves through the scene's light
            light = 1.0 + gx * (self.motion.cx[t] / cfg.width - 0.5) + gy * (self.motion.cy[t] / cfg.height - 0.5)
            scene["object"].draw(canvas, origin, self.affines[t], blur, light)
        for occlusion, layer in zip(self.occlusions, scene["occluders"]):
            if occlusion.start <= t < occlusion.stop:
                layer.draw(canvas, origin, occlusion.affines[t - occlusion.start])

        # light: a gain that drifts (and in some clips changes at once) and a colour cast; the camera's colour
        # response (some scenes look washed out), defocus, sensor noise and JPEG compression
        gain = scene["gain"][t] * scene["cast"]
        cv2.multiply(canvas, (*gain.tolist(), 0), dst=canvas)
        if scene["saturation"] != 1.0:
            grey = cv2.cvtColor(cv2.cvtColor(canvas, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
            canvas = cv2.addWeighted(canvas, scene["saturation"], grey, 1.0 - scene["saturation"], 0.0)
        if scene["defocus"] > 0:
            canvas = cv2.GaussianBlur(canvas, (0, 0), scene["defocus"])
        if scene["noise"] > 0:  # a grain tile, shifted per frame, laid in frame coordinates
            tile = scene["grain"]
            side = tile.shape[0]
            dy, dx = ((int(v) + o) % side for v, o in zip(rng.integers(0, side, 2), (y0, x0)))
            reps = (-(-(canvas.shape[0] + dy) // side), -(-(canvas.shape[1] + dx) // side), 1)
            cv2.add(canvas, np.tile(tile, reps)[dy:dy + canvas.shape[0], dx:dx + canvas.shape[1]], dst=canvas)
        image = np.clip(canvas, 0, 255, out=canvas).astype(np.uint8)
        if scene["jpeg"] and image.size:
            ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, scene["jpeg"]])
            image = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
        return image

    def silhouette(self, t: int) -> np.ndarray:
        """The object's alpha in frame ``t`` as ``render`` draws it (without motion blur and occluders): float32
        (H, W) in [0, 1]."""
        scene = self._scene or self._build_scene()
        canvas = np.zeros((self.config.height, self.config.width, 3), dtype=np.float32)
        scene["object"].draw(canvas, (0, 0), self.affines[t], color=False)
        return canvas[..., 0]

    def _build_scene(self) -> dict:
        """Everything about the pixels, drawn once per clip from the clip's own generator: textures, background,
        distractors, light and camera artefacts."""
        rng = np.random.default_rng((self.seed, 1))
        n, scene = len(self), self._scene
        scene["object"] = _textured(self.sprite.alpha, self.look, int(rng.integers(2**62)))
        scene["background"] = self.backgrounds.draw(rng)
        scene["occluders"] = [_textured(o.shape, None, int(rng.integers(2**62)), o) for o in self.occlusions]
        scene["distractors"] = [self._distractor(rng, scene["object"])
                                for _ in range(rng.binomial(5, self.difficulty))]
        scene["background_blur"] = rng.uniform(2.0, 8.0) if rng.random() < 1 - self.difficulty else 0.0
        # An easy scene's background is faded towards its mean colour: the object stands out from it.
        scene["background_fade"] = 0.35 + 0.65 * self.difficulty
        scene["background_mean"] = cv2.mean(scene["background"])[:3]
        scene["exposure"] = rng.uniform(0, 1.2)
        gain = np.exp(rng.uniform(0, 0.25) * _smooth(rng, n, rng.uniform(10, 60)))
        if rng.random() < 0.25:  # a light switched, a cloud, a shadow: the light changes at once
            gain[int(rng.integers(1, n)):] *= np.exp(rng.uniform(-0.6, 0.5))
        scene["gain"] = gain
        scene["cast"] = np.exp(rng.normal(0, 0.06, 3))
        scene["saturation"] = 1.0 if rng.random() < 0.4 else rng.uniform(0.3, 1.0)
        scene["light"] = rng.uniform(-0.5, 0.5, 2)
        scene["defocus"] = 0.0 if rng.random() < 0.7 else rng.uniform(0.4, 1.5)
        scene["noise"] = rng.uniform(0, 6)
        scene["grain"] = (rng.standard_normal((64, 64, 3)) * scene["noise"]).astype(np.float32)
        scene["jpeg"] = int(rng.integers(30, 96)) if rng.random() < 0.7 else 0
        return scene

    def _distractor(self, rng: np.random.Generator, target: Layer) -> tuple[Layer, np.ndarray]:
        """Another object over the background, behind the tracked one: a copy of it, one of the same look (shape,
        texture and scheme, colours close to its), or one of another look; near the object or anywhere."""
        cfg, motion, n = self.config, self.motion, len(self)
        kind = rng.random()
        ratio = np.exp(rng.uniform(np.log(0.6), np.log(1.6)))
        if kind < 0.1:
            layer = target
        else:
            if kind < 0.5:
                look = Look(self.look.shape, self.look.texture, self.look.scheme,
                            np.clip(self.look.colors * rng.uniform(0.8, 1.2, self.look.colors.shape), 0, 255))
            else:
                look = draw_look(rng, self.families)
            h, w = self.sprite.alpha.shape
            aspect = np.exp(rng.uniform(-0.6, 0.6))
            w, h = max(4, int(w * aspect)), max(4, int(h / aspect))
            layer = _textured((h, w), look, int(rng.integers(2**62)))
        size = motion.size * ratio
        if rng.random() < 0.5:  # it stays near the object
            offset = rng.uniform(0.8, 3.0) * motion.size[:, None] * _heading(rng, n, rng.uniform(20, 100))
            cx, cy = motion.cx + offset[:, 0], motion.cy + offset[:, 1]
        else:
            wander = np.cumsum(rng.normal(0, 1, (n, 2)) * rng.uniform(0.2, 3.0), axis=0)
            start = rng.uniform(0, 1, 2) * (cfg.width, cfg.height)
            cx = _fold(start[0] + wander[:, 0], 0, cfg.width)
            cy = _fold(start[1] + wander[:, 1], 0, cfg.height)
        angle = rng.uniform(0, 2 * np.pi) * (rng.random() < 0.5) + rng.normal(0, 0.03) * np.arange(n)
        side = float(np.sqrt(layer.shape[0] * layer.shape[1]))
        affines = _affine(layer.shape, side, cx, cy, size, motion.aspect, angle)
        return layer, affines


def _textured(alpha: np.ndarray | tuple[int, int], look: Look | None, seed: int,
              occluder: Occlusion | None = None) -> Layer:
    """A layer of ``look``'s texture (an occluder's: its own) over ``alpha`` (given a shape (h, w): over a new
    silhouette of ``look``'s shape family, or the occluder's), made from ``seed`` when first drawn."""
    shape = alpha.shape if isinstance(alpha, np.ndarray) else alpha

    def make() -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        mine = occluder.look if occluder is not None else look
        if isinstance(alpha, np.ndarray):
            mask = alpha
        elif occluder is not None:
            mask = occluder.sprite.alpha
        else:
            mask = shape_alpha(mine.shape, rng, shape[1], shape[0])
        return texture(mine.texture, rng, shape[1], shape[0], mine.colors), mask

    return Layer(shape, make)


def _heading(rng: np.random.Generator, n: int, period: float) -> np.ndarray:
    """(n, 2) unit vectors turning smoothly."""
    angle = rng.uniform(0, 2 * np.pi) + 2.0 * _smooth(rng, n, period)
    return np.stack([np.cos(angle), np.sin(angle)], axis=1)



def draw_clip(split: str, seed: int, config: ProceduralConfig, backgrounds: Backgrounds | None = None,
              name: str | None = None, max_sprite: int = MAX_SPRITE, hardest: float = 1.0) -> Clip:
    """The clip of ``seed`` in ``split`` ("train" or "test"): its motion, boxes and visibility (cheap); its pixels
    are drawn by ``Clip.render`` on first use. ``backgrounds``: where its background comes from (default: a new one
    of the split). ``max_sprite``: the most pixels a side its object is drawn with (larger, it is magnified).

    Its difficulty, uniform in [0, ``hardest``], sets how busy and how plain its scene is: an easy clip shows a lone
    object of one colour (training looks: flat or graded) before a faded, defocused background; a hard one an object
    of any texture among up to five distractors, crossed by occluders, before a sharp background."""
    families = SPLITS[split]
    cfg = config
    if backgrounds is None:
        backgrounds = Backgrounds(families, 0, *_background_size(cfg), seed=0)
    rng = np.random.default_rng((seed, 0))
    n, pad = cfg.frames, _pad(cfg)
    # The easy clips let a network from scratch learn to localise at all, the hard ones to match and to ignore.
    difficulty = hardest * rng.uniform(0, 1)
    motion = _draw_motion(rng, n, cfg.width, cfg.height, pad)
    look = draw_look(rng, families)
    plain = [t for t in families.textures if t in PLAIN_TEXTURES]
    if plain and rng.random() > difficulty:
        look = dataclasses.replace(look, texture=plain[int(rng.integers(len(plain)))])
    side = float(np.clip(motion.size.max(), 8, max_sprite))
    aspect = np.exp(rng.uniform(-0.9, 0.9))
    w, h = max(4, int(round(side * np.sqrt(aspect)))), max(4, int(round(side / np.sqrt(aspect))))
    sprite = Sprite.of(shape_alpha(look.shape, rng, w, h))
    affines = _affine(sprite.alpha.shape, sprite.side, motion.cx, motion.cy, motion.size, motion.aspect,
                      motion.angle)
    full = _outline_boxes(sprite.outline, affines)  # (N, 4) x0, y0, x1, y1
    cut = _in_frame_boxes(sprite, affines, full, cfg.width, cfg.height)
    area = lambda b: np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)  # noqa: E731
    out_of_view = area(cut) < OUT_OF_VIEW_AREA * area(full)
    occlusions = _draw_occlusions(rng, families, motion, sprite, n, 2.0 * difficulty)
    occluded = _occluded(sprite, affines, occlusions, n) & ~out_of_view
    boxes = np.where(out_of_view[:, None], 0.0, np.concatenate([cut[:, :2], cut[:, 2:] - cut[:, :2]], axis=1))
    boxes = boxes.astype(np.float32)
    visible = ~out_of_view & ~occluded & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
    for array in (boxes, visible, occluded, out_of_view):
        array.setflags(write=False)
    return Clip(name=name or f"procedural-{seed}", class_name=look.shape, boxes=boxes, visible=visible,
                occluded=occluded, out_of_view=out_of_view, look=look, difficulty=difficulty, seed=seed, config=cfg,
                families=families,
                backgrounds=backgrounds, motion=motion, sprite=sprite, affines=affines, occlusions=occlusions)


def _in_frame_boxes(sprite: Sprite, affines: np.ndarray, full: np.ndarray, width: int, height: int) -> np.ndarray:
    """(N, 4) x0, y0, x1, y1 of the object's part inside the frame: its full box where it lies inside; where it
    crosses a border, the box of its opaque pixels inside the frame (a rotated object's corner fills little of the
    cut box); zeros where none is."""
    cut = full.copy()
    crossing = (full[:, 0] < 0) | (full[:, 1] < 0) | (full[:, 2] > width) | (full[:, 3] > height)
    for t in np.flatnonzero(crossing):
        x0, y0 = max(int(np.floor(full[t, 0])), 0), max(int(np.floor(full[t, 1])), 0)
        x1, y1 = min(int(np.ceil(full[t, 2])), width), min(int(np.ceil(full[t, 3])), height)
        cut[t] = 0
        if x1 <= x0 or y1 <= y0:
            continue
        matrix = affines[t].copy()
        matrix[:, 2] -= (x0, y0)
        part = cv2.warpAffine(sprite.alpha, matrix, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        rows, cols = np.flatnonzero((part >= 0.5).any(axis=1)), np.flatnonzero((part >= 0.5).any(axis=0))
        if len(rows):
            cut[t] = (x0 + cols[0], y0 + rows[0], x0 + cols[-1] + 1, y0 + rows[-1] + 1)
    return cut


def _draw_occlusions(rng: np.random.Generator, families: LookFamilies, motion: Motion, sprite: Sprite,
                     n: int, rate: float) -> list[Occlusion]:
    """Occluders that cross the object (``rate`` of them on average): some larger than it and through its middle
    (full occlusion), some past its edge or smaller (partial)."""
    events = rng.poisson(rate)
    occlusions = []
    for _ in range(events):
        if n <= FIRST_CLEAN_FRAMES + 3:
            break
        start = int(rng.integers(FIRST_CLEAN_FRAMES, n - 2))
        stop = min(n, start + int(rng.integers(3, 21)))
        full = rng.random() < 0.5
        ratio = rng.uniform(1.3, 2.5) if full else np.exp(rng.uniform(np.log(0.4), np.log(1.5)))
        pole = rng.random() < 0.3
        if pole:
            w, h = 12, int(rng.integers(60, 120))
        else:
            aspect = np.exp(rng.uniform(-0.5, 0.5))
            w, h = max(4, int(48 * aspect)), max(4, int(48 / aspect))
        direction = rng.uniform(0, 2 * np.pi)
        along, across = np.array([np.cos(direction), np.sin(direction)]), np.array([-np.sin(direction),
                                                                                   np.cos(direction)])
        sideways = 0.0 if full else rng.uniform(0.3, 0.8) * rng.choice([-1, 1])
        frames = np.arange(start, stop)
        progress = (frames - start + 0.5) / (stop - start) * 2 - 1  # -1 .. 1 across the event
        size = motion.size[frames]
        reach = 0.6 * size * (1 + ratio)
        centers = np.stack([motion.cx[frames], motion.cy[frames]], axis=1) \
            + (progress * reach)[:, None] * along + (sideways * reach)[:, None] * across
        angle = rng.uniform(0, 2 * np.pi)
        affines = _affine((h, w), np.sqrt(w * h), centers[:, 0], centers[:, 1], size * ratio, 1.0, angle)
        occlusions.append(Occlusion(start=start, stop=stop, shape=(h, w), pole=pole, families=families,
                                    seed=int(rng.integers(2**62)), affines=affines))
    return occlusions


def _occluded(sprite: Sprite, affines: np.ndarray, occlusions: list[Occlusion], n: int) -> np.ndarray:
    """bool (n,): an occluder covers at least FULL_OCCLUSION of the object's pixels (measured on a grid of at most
    32 x 32 over the object's box)."""
    coverage = np.zeros(n)
    fill = float(sprite.alpha.mean())  # the object's share of its unrotated box
    for occlusion in occlusions:
        boxes = _outline_boxes(sprite.outline, affines[occlusion.start:occlusion.stop])
        h, w = occlusion.shape  # the box of its whole rectangle holds the box of its silhouette
        corners = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]])
        cover = _outline_boxes(corners, occlusion.affines)
        overlap = (np.clip(np.minimum(boxes[:, 2], cover[:, 2]) - np.maximum(boxes[:, 0], cover[:, 0]), 0, None)
                   * np.clip(np.minimum(boxes[:, 3], cover[:, 3]) - np.maximum(boxes[:, 1], cover[:, 1]), 0, None))
        # The covered share is at most the boxes' overlap over the object's pixel area (its scaled alpha sum).
        area = fill * np.abs(np.linalg.det(affines[occlusion.start:occlusion.stop, :, :2])) * sprite.alpha.size
        for t in occlusion.start + np.flatnonzero(overlap >= FULL_OCCLUSION * area):
            box = boxes[t - occlusion.start]
            step = max(box[2] - box[0], box[3] - box[1]) / 32.0
            to_grid = np.array([[1 / step, 0, -box[0] / step - 0.5], [0, 1 / step, -box[1] / step - 0.5]])
            size = (int(np.ceil((box[2] - box[0]) / step)), int(np.ceil((box[3] - box[1]) / step)))
            mine = _warp_alpha(sprite.alpha, to_grid, affines[t], size)
            theirs = _warp_alpha(occlusion.sprite.alpha, to_grid, occlusion.affines[t - occlusion.start], size)
            total = mine.sum()
            if total > 0:
                coverage[t] = max(coverage[t], float((mine * theirs).sum() / total))
    return coverage >= FULL_OCCLUSION


def _warp_alpha(alpha: np.ndarray, to_grid: np.ndarray, affine: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    matrix = (np.vstack([to_grid, [0, 0, 1]]) @ np.vstack([affine, [0, 0, 1]]))[:2]
    return cv2.warpAffine(alpha, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _pad(cfg: ProceduralConfig) -> int:
    """How far the camera pans: the background is this much larger than the frame on each side."""
    return max(8, min(cfg.width, cfg.height) // 6)


def _background_size(cfg: ProceduralConfig) -> tuple[int, int]:
    pad = _pad(cfg)
    return cfg.width + 2 * pad, cfg.height + 2 * pad


# ---------------------------------------------------------------------------------------------------------------
# the training source and the test tree


class ProceduralClips:
    """The training split as a source of ``TrackingDataset``: ``draw(rng)`` gives a new clip of the training looks
    (or, with ``config.clips`` > 0, one of that many fixed clips).

    ``max_sprite``: the most pixels a side an object is drawn with. The crops are small (an object takes at most
    about half of a search crop), so drawing it larger than the search crop is wasted time.
    """

    split = "train"

    def __init__(self, config: ProceduralConfig, max_sprite: int = MAX_SPRITE):
        self.config = config
        self.max_sprite = max_sprite
        self.backgrounds = Backgrounds(SPLITS["train"], config.backgrounds, *_background_size(config), config.seed)
        self._fixed: dict[int, Clip] = {}
        start = time.perf_counter()
        self.backgrounds.fill()
        if config.backgrounds:
            logger.info("drew the bank of %d training backgrounds in %.1f s", config.backgrounds,
                        time.perf_counter() - start)

    def draw(self, rng: np.random.Generator, epoch: int = 0) -> Clip:
        """A clip for a sample of ``epoch`` (0-based): with ``config.curriculum`` = K, the hardest clip of epoch e is
        of difficulty (e + 1) / K, then 1 from epoch K - 1 on."""
        if not self.config.clips:
            hardest = min(1.0, (epoch + 1) / self.config.curriculum) if self.config.curriculum else 1.0
            return draw_clip(self.split, int(rng.integers(2**62)), self.config, self.backgrounds,
                             max_sprite=self.max_sprite, hardest=hardest)
        # One of the fixed clips, kept once drawn (with its pixels' makings) in this process.
        index = int(rng.integers(self.config.clips))
        if index not in self._fixed:
            seed = int(np.random.default_rng((self.config.seed, 3, index)).integers(2**62))
            self._fixed[index] = draw_clip(self.split, seed, self.config, self.backgrounds, max_sprite=self.max_sprite)
        return self._fixed[index]

    def describe(self) -> str:
        what = f"{self.config.clips} fixed clips" if self.config.clips else "a new clip for every sample"
        return (f"procedural, rendered on the fly: {what} of {self.config.frames} frames of "
                f"{self.config.width}x{self.config.height}, backgrounds from a bank of {self.config.backgrounds}")


def make_procedural_tree(out: str | os.PathLike, split: str = "test", sequences: int = 40, frames: int = 100,
                         size: tuple[int, int] = (320, 240), seed: int = 0) -> Path:
    """Write ``sequences`` clips of ``split``'s looks as a LaSOT-layout tree at ``out`` and return its path.

    ``out/<shape>/<shape>-<k>/img/00000001.jpg ..``, ``groundtruth.txt`` (x,y,w,h, 2 decimals), ``full_occlusion.txt``,
    ``out_of_view.txt`` and ``nlp.txt`` (the look in words); the class is the object's shape family, the k-th
    sequence's family is the split's (k mod number of families)-th. At the root, ``synthetic.json`` holds the
    arguments and both splits' families, and ``README.md`` states which looks the tree holds and that none of them
    is in the other split. Read it with ``load_lasot(out, split="all")`` or as ``{name: procedural, split: test}``.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {tuple(SPLITS)}, got {split!r}")
    if sequences < 1 or frames < 20:
        raise ValueError(f"make_procedural_tree needs at least one sequence of at least 20 frames, got {sequences} "
                         f"sequences of {frames}")
    cfg = ProceduralConfig(width=size[0], height=size[1], frames=frames, test_sequences=sequences, seed=seed)
    manifest = tree_manifest(split, cfg)
    shapes = SPLITS[split].shapes
    with _new_tree(out, manifest) as (tmp, _):
        for k in range(sequences):
            family = shapes[k % len(shapes)]
            name = f"{family}-{k // len(shapes) + 1}"
            clip = _tree_clip(split, cfg, k, family, name)
            _write_clip(tmp / family / name, clip)
        (tmp / "README.md").write_text(_tree_readme(split, cfg))
    return Path(out).expanduser().resolve()


def _tree_clip(split: str, cfg: ProceduralConfig, k: int, family: str, name: str) -> Clip:
    """Sequence k of a tree: the first clip from seeds (seed, k, 0), (seed, k, 1), .. whose object has ``family``'s
    shape (so the classes are balanced) and lies whole inside the first frame (where a tracker starts)."""
    for attempt in range(1000):
        seed = int(np.random.default_rng((cfg.seed, k, attempt)).integers(2**62))
        clip = draw_clip(split, seed, cfg, name=name)
        x, y, w, h = clip.boxes[0]
        whole = x > 0 and y > 0 and x + w < cfg.width and y + h < cfg.height  # a cut object touches the border
        if clip.class_name == family and whole:
            return clip
    raise RuntimeError(f"no clip of shape {family} in 1000 draws")  # 1 in 5 draws has it


def _write_clip(seq_dir: Path, clip: Clip) -> None:
    from .synthetic import encode_jpeg

    img_dir = seq_dir / "img"
    img_dir.mkdir(parents=True)
    for t in range(len(clip)):
        (img_dir / f"{t + 1:08d}.jpg").write_bytes(encode_jpeg(clip.render(t), f"frame {t + 1} of {seq_dir}"))
    (seq_dir / "groundtruth.txt").write_text("".join(f"{x:.2f},{y:.2f},{w:.2f},{h:.2f}\n"
                                                     for x, y, w, h in clip.boxes.tolist()))
    (seq_dir / "full_occlusion.txt").write_text(",".join(str(int(v)) for v in clip.occluded))
    (seq_dir / "out_of_view.txt").write_text(",".join(str(int(v)) for v in clip.out_of_view))
    look = clip.look
    (seq_dir / "nlp.txt").write_text(f"a {look.texture} {look.shape} in {look.scheme} colours\n")


def tree_manifest(split: str, cfg: ProceduralConfig) -> dict:
    """What ``synthetic.json`` of a procedural tree holds: the generator's arguments and the looks of both splits."""
    other = "train" if split == "test" else "test"
    return {"dataset": "procedural", "format_version": FORMAT_VERSION, "split": split,
            "sequences": cfg.test_sequences, "frames": cfg.frames, "width": cfg.width, "height": cfg.height,
            "seed": cfg.seed, "looks": _families_dict(SPLITS[split]), f"{other}_looks": _families_dict(SPLITS[other])}


def _families_dict(families: LookFamilies) -> dict:
    return {"shapes": list(families.shapes), "textures": list(families.textures), "colour_schemes":
            list(families.schemes), "backgrounds": list(families.backgrounds)}


def _tree_readme(split: str, cfg: ProceduralConfig) -> str:
    other = "train" if split == "test" else "test"
    mine, theirs = SPLITS[split], SPLITS[other]
    lines = [f"# Procedural tracking sequences: the {split} split", "",
             f"{cfg.test_sequences} sequences of {cfg.frames} frames of {cfg.width}x{cfg.height}, written by "
             f"seqtrack_accel.data.procedural (seed {cfg.seed}; the arguments are in {MANIFEST_FILE}), in LaSOT's "
             "layout: one class folder per object shape.", "",
             f"Every object, distractor, occluder and background here is drawn from the {split} split's look "
             f"families; none of them is used by the {other} split (GOT-10k's one-shot protocol: the test objects "
             "look like nothing seen in training).", "",
             "| | this split | the other split |", "| --- | --- | --- |"]
    for label, attr in (("shapes", "shapes"), ("textures", "textures"), ("colour schemes", "schemes"),
                        ("backgrounds", "backgrounds")):
        lines.append(f"| {label} | {', '.join(getattr(mine, attr))} | {', '.join(getattr(theirs, attr))} |")
    lines += ["", f"Frames whose object is out of view (box 0,0,0,0) or covered by an occluder for "
              f"{FULL_OCCLUSION:.0%} or more are flagged in out_of_view.txt and full_occlusion.txt; the first frame "
              "of every sequence shows its object whole.", ""]
    return "\n".join(lines)


def ensure_procedural_tree(root: Path, split: str, cfg: ProceduralConfig, key: str) -> None:
    """The tree of ``split`` at ``root`` as a source's root treats a generated tree (``sources.resolve_root``):
    written where the root is missing; where it holds the generator's manifest, that must match ``cfg`` (the config
    key ``key``); a folder without one is read as it is."""
    if not root.exists():
        logger.info("writing the procedural %s split at %s: %d sequences x %d frames of %dx%d, seed %d", split, root,
                    cfg.test_sequences, cfg.frames, cfg.width, cfg.height, cfg.seed)
        make_procedural_tree(root, split, cfg.test_sequences, cfg.frames, (cfg.width, cfg.height), cfg.seed)
    elif (root / MANIFEST_FILE).is_file():
        check_manifest(root, tree_manifest(split, cfg), key,
                       f"set {key} to the settings it was made with (seqtrack-evaluate --root reads it as it is)")


def read_manifest(root: Path) -> dict:
    return json.loads((Path(root) / MANIFEST_FILE).read_text())


__all__ = ["Clip", "ProceduralClips", "draw_clip", "ensure_procedural_tree", "make_procedural_tree", "JPEG_QUALITY"]
