"""The looks of the procedural generator: object shapes, textures, colour schemes and backgrounds, each in named
families, and the split of the families between training and a held-out test.

As in GOT-10k's one-shot protocol, where no object class of the test set is in the training set, no family of the
test split is used for anything of the training split (object, distractor, occluder or background), and the other
way round:

    SPLITS["train"].shapes     ellipse, box, polygon, blob, compound
    SPLITS["test"].shapes      star, ring, cross, crescent, glyph

    alpha = shape_alpha("star", rng, 48, 32)                  # float32 (32, 48) in [0, 1], filling the canvas
    colors = palette("complementary", rng, 3)                 # float32 (3, 3) BGR, 0..255
    pixels = texture("checker", rng, 48, 32, colors)          # float32 (32, 48, 3) BGR, 0..255
    image = background("tiles", rng, 320, 240, SPLITS["test"])  # uint8 (240, 320, 3) BGR

Colour schemes are relations between a palette's colours, so the schemes of the two splits cannot produce the same
palette: analogous (hues 15-50 degrees apart), triadic (105-135) and accent (a near-grey with saturated colours) for
training; complementary (160-200) and monochrome (one hue, saturations within 0.16, values apart) for the test.
Every random draw comes from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class LookFamilies:
    """The families a split draws its looks from."""

    shapes: tuple[str, ...]
    textures: tuple[str, ...]
    schemes: tuple[str, ...]
    backgrounds: tuple[str, ...]

    def names(self) -> set[str]:
        """Every family name of the split."""
        return {*self.shapes, *self.textures, *self.schemes, *self.backgrounds}


SPLITS = {
    "train": LookFamilies(shapes=("ellipse", "box", "polygon", "blob", "compound"),
                          textures=("flat", "gradient", "stripes", "noise", "mosaic", "blotches"),
                          schemes=("analogous", "triadic", "accent"),
                          backgrounds=("leaves", "clouds", "room")),
    "test": LookFamilies(shapes=("star", "ring", "cross", "crescent", "glyph"),
                         textures=("checker", "dots", "rings", "plaid", "marble"),
                         schemes=("complementary", "monochrome"),
                         backgrounds=("tiles", "scatter")),
}

_GLYPHS = "ABDEFGHKMNPRSTUWXYZ2345689&#%@?"
_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX)
_AA = 4  # fractional bits of the polygon vertices drawn with cv2 (anti-aliased, sub-pixel)


# ---------------------------------------------------------------------------------------------------------------
# colour schemes


def _hsv_to_bgr(hsv: np.ndarray) -> np.ndarray:
    """(n, 3) hue in degrees, saturation and value in [0, 1] -> (n, 3) float32 BGR in 0..255."""
    hsv = np.asarray(hsv, dtype=np.float32).reshape(1, -1, 3).copy()
    hsv[..., 0] %= 360.0
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR).reshape(-1, 3) * 255.0


def palette(scheme: str, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` colours (float32 (n, 3) BGR, 0..255) related as ``scheme`` says (see the module docstring)."""
    h0 = rng.uniform(0, 360)
    sat, val = rng.uniform(0.3, 1.0, n), rng.uniform(0.25, 1.0, n)
    if scheme == "analogous":
        hues = h0 + np.cumsum(np.r_[0.0, rng.uniform(15, 50, n - 1) * rng.choice([-1, 1], n - 1)])
    elif scheme == "triadic":
        hues = h0 + 120.0 * np.arange(n) + rng.uniform(-15, 15, n)
    elif scheme == "accent":
        hues = h0 + rng.uniform(-20, 20, n)
        sat = rng.uniform(0.5, 1.0, n)
        grey = int(rng.integers(n))
        sat[grey], val[grey] = rng.uniform(0.0, 0.12), rng.uniform(0.15, 0.95)
    elif scheme == "complementary":
        hues = h0 + 180.0 * (np.arange(n) % 2) + rng.uniform(-20, 20, n) * (np.arange(n) % 2)
    elif scheme == "monochrome":
        hues = np.full(n, h0)
        sat = np.clip(rng.uniform(0, 1) + rng.uniform(-0.08, 0.08, n), 0, 1)
        val = (rng.uniform(0.15, 0.45) + np.arange(n) * rng.uniform(0.25, 0.4)) % 1.0 + 0.1 * (n == 1)
        val = np.clip(val, 0.12, 1.0)[rng.permutation(n)]
    else:
        raise ValueError(f"unknown colour scheme {scheme!r}; known: {', '.join(_schemes())}")
    return _hsv_to_bgr(np.stack([hues, sat, val], axis=1))


def _schemes() -> list[str]:
    return [s for split in SPLITS.values() for s in split.schemes]


# ---------------------------------------------------------------------------------------------------------------
# shapes


def shape_alpha(family: str, rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """An object's silhouette of ``family``, stretched to fill a ``width`` x ``height`` canvas: float32 (height,
    width) alpha in [0, 1], anti-aliased edges; the opaque pixels touch all four borders."""
    draw = _SHAPES.get(family)
    if draw is None:
        raise ValueError(f"unknown shape family {family!r}; known: {', '.join(_SHAPES)}")
    canvas = np.zeros((128, 128), dtype=np.uint8)
    draw(canvas, rng)
    ys, xs = np.nonzero(canvas > 127)
    if len(xs) == 0:  # cannot happen for the drawn families; a guard against a degenerate draw
        canvas[32:96, 32:96] = 255
        ys, xs = np.nonzero(canvas > 127)
    cut = canvas[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    alpha = cv2.resize(cut, (max(1, width), max(1, height)), interpolation=cv2.INTER_AREA)
    return alpha.astype(np.float32) / 255.0


def _points(xy: np.ndarray) -> list[np.ndarray]:
    """Polygon vertices (k, 2) on the 128 px canvas -> cv2's fixed-point int32 form."""
    return [np.round(np.asarray(xy) * (1 << _AA)).astype(np.int32)]


def _fill(canvas: np.ndarray, xy: np.ndarray, value: int = 255) -> None:
    cv2.fillPoly(canvas, _points(xy), value, cv2.LINE_AA, _AA)


def _radial(radii: np.ndarray, angles: np.ndarray, center=(64.0, 64.0), scale: float = 56.0) -> np.ndarray:
    return np.stack([center[0] + scale * radii * np.cos(angles), center[1] + scale * radii * np.sin(angles)], axis=1)


def _ellipse(canvas: np.ndarray, rng: np.random.Generator) -> None:
    cv2.ellipse(canvas, (64 << _AA, 64 << _AA), (56 << _AA, 56 << _AA), 0, 0, 360, 255, -1, cv2.LINE_AA, _AA)


def _rounded_box(canvas: np.ndarray, rng: np.random.Generator, x0=8.0, y0=8.0, x1=120.0, y1=120.0) -> None:
    r = rng.uniform(0.0, 0.35) * min(x1 - x0, y1 - y0)
    t = np.linspace(0, np.pi / 2, 8)
    corners = [(x1 - r, y1 - r, 0.0), (x0 + r, y1 - r, np.pi / 2), (x0 + r, y0 + r, np.pi), (x1 - r, y0 + r, 1.5 * np.pi)]
    xy = np.concatenate([np.stack([cx + r * np.cos(t + a), cy + r * np.sin(t + a)], axis=1) for cx, cy, a in corners])
    _fill(canvas, xy)


def _polygon(canvas: np.ndarray, rng: np.random.Generator) -> None:
    k = int(rng.integers(3, 10))
    angles = np.sort(rng.uniform(0, 2 * np.pi, k))
    angles = np.linspace(0, 2 * np.pi, k, endpoint=False) * 0.6 + angles * 0.4 + rng.uniform(0, 2 * np.pi)
    _fill(canvas, _radial(np.ones(k), np.sort(angles % (2 * np.pi))))


def _blob(canvas: np.ndarray, rng: np.random.Generator) -> None:
    angles = np.linspace(0, 2 * np.pi, 96, endpoint=False)
    radii = np.ones_like(angles)
    for k in range(2, 6):
        radii += rng.uniform(0, 0.3 / np.sqrt(k)) * np.cos(k * angles + rng.uniform(0, 2 * np.pi))
    _fill(canvas, _radial(np.clip(radii, 0.25, None) / radii.max(), angles))


def _compound(canvas: np.ndarray, rng: np.random.Generator) -> None:
    """2-4 overlapping ellipses and boxes: an irregular silhouette such as a mug, a toy or an animal."""
    parts = int(rng.integers(2, 5))
    center = np.array([64.0, 64.0])
    for _ in range(parts):
        w, h = rng.uniform(18, 56, 2)
        if rng.random() < 0.5:
            cv2.ellipse(canvas, (int(center[0] * (1 << _AA)), int(center[1] * (1 << _AA))), (int(w * (1 << _AA)), int(h * (1 << _AA))),
                        float(rng.uniform(0, 180)), 0, 360, 255, -1, cv2.LINE_AA, _AA)
        else:
            _rounded_box(canvas, rng, center[0] - w, center[1] - h, center[0] + w, center[1] + h)
        center = np.clip(center + rng.uniform(-28, 28, 2), 36, 92)


def _star(canvas: np.ndarray, rng: np.random.Generator) -> None:
    k = int(rng.integers(4, 9))
    angles = np.linspace(0, 2 * np.pi, 2 * k, endpoint=False) + rng.uniform(0, 2 * np.pi)
    radii = np.where(np.arange(2 * k) % 2 == 0, 1.0, rng.uniform(0.35, 0.65))
    _fill(canvas, _radial(radii, angles))


def _ring(canvas: np.ndarray, rng: np.random.Generator) -> None:
    inner = int(56 * rng.uniform(0.35, 0.7))
    cv2.ellipse(canvas, (64 << _AA, 64 << _AA), (56 << _AA, 56 << _AA), 0, 0, 360, 255, -1, cv2.LINE_AA, _AA)
    cv2.ellipse(canvas, (64 << _AA, 64 << _AA), (inner << _AA, inner << _AA), 0, 0, 360, 0, -1, cv2.LINE_AA, _AA)


def _cross(canvas: np.ndarray, rng: np.random.Generator) -> None:
    arm = rng.uniform(0.12, 0.24) * 112
    offset = rng.uniform(-0.2, 0.2) * 112  # the bars cross off centre: a plus, a T-like or a Latin cross
    _fill(canvas, np.array([[64 - arm, 8], [64 + arm, 8], [64 + arm, 120], [64 - arm, 120]]))
    _fill(canvas, np.array([[8, 64 + offset - arm], [120, 64 + offset - arm], [120, 64 + offset + arm],
                            [8, 64 + offset + arm]]))
    if rng.random() < 0.5:  # a saltire: the cross turned by 45 degrees
        canvas[:] = cv2.warpAffine(canvas, cv2.getRotationMatrix2D((63.5, 63.5), 45, 1.0), (128, 128))


def _crescent(canvas: np.ndarray, rng: np.random.Generator) -> None:
    cv2.ellipse(canvas, (64 << _AA, 64 << _AA), (56 << _AA, 56 << _AA), 0, 0, 360, 255, -1, cv2.LINE_AA, _AA)
    angle = rng.uniform(0, 2 * np.pi)
    shift, radius = 56 * rng.uniform(0.3, 0.6), int(56 * rng.uniform(0.75, 1.0))
    center = (int((64 + shift * np.cos(angle)) * (1 << _AA)), int((64 + shift * np.sin(angle)) * (1 << _AA)))
    cv2.ellipse(canvas, center, (radius << _AA, radius << _AA), 0, 0, 360, 0, -1, cv2.LINE_AA, _AA)


def _glyph(canvas: np.ndarray, rng: np.random.Generator) -> None:
    char = _GLYPHS[int(rng.integers(len(_GLYPHS)))]
    font = _FONTS[int(rng.integers(len(_FONTS)))]
    thickness = int(rng.integers(6, 14))
    (w, h), _ = cv2.getTextSize(char, font, 3.0, thickness)
    cv2.putText(canvas, char, (max(0, 64 - w // 2), min(127, 64 + h // 2)), font, 3.0, 255, thickness, cv2.LINE_AA)


_SHAPES: dict[str, Callable[[np.ndarray, np.random.Generator], None]] = {
    "ellipse": _ellipse, "box": _rounded_box, "polygon": _polygon, "blob": _blob, "compound": _compound,
    "star": _star, "ring": _ring, "cross": _cross, "crescent": _crescent, "glyph": _glyph,
}


# ---------------------------------------------------------------------------------------------------------------
# textures


def texture(family: str, rng: np.random.Generator, width: int, height: int, colors: np.ndarray) -> np.ndarray:
    """A ``width`` x ``height`` surface of ``family`` in the palette ``colors`` (n, 3): float32 (height, width, 3)
    BGR, 0..255, lit by a random soft light (brighter on one side, sometimes a highlight)."""
    make = _TEXTURES.get(family)
    if make is None:
        raise ValueError(f"unknown texture family {family!r}; known: {', '.join(_TEXTURES)}")
    u, v = _coordinates(width, height, rng)
    surface = make(u, v, rng, colors)
    return np.clip(surface * _shading(u, v, rng)[..., None], 0, 255).astype(np.float32)


def _coordinates(width: int, height: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates normalised by the longer side, rotated by a random angle: (height, width) each."""
    side = max(width, height)
    x = (np.arange(width, dtype=np.float32) - 0.5 * width) / side
    y = (np.arange(height, dtype=np.float32) - 0.5 * height) / side
    angle = rng.uniform(0, np.pi)
    c, s = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    return c * x[None, :] + s * y[:, None], -s * x[None, :] + c * y[:, None]


def _shading(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    light = 1.0 + rng.uniform(0.0, 0.5) * (u * np.cos(a := rng.uniform(0, 2 * np.pi)) + v * np.sin(a))
    if rng.random() < 0.4:  # a rounded object: darker towards its rim, a highlight off centre
        cx, cy = rng.uniform(-0.25, 0.25, 2)
        light = light * (1.0 - rng.uniform(0.2, 0.6) * ((u - cx) ** 2 + (v - cy) ** 2))
    return light.astype(np.float32)


def _mix(colors: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Colours along the palette by ``t`` in [0, 1] (0: the first colour, 1: the last), (h, w) -> (h, w, 3)."""
    n = len(colors)
    if n == 1:
        return np.broadcast_to(colors[0], (*t.shape, 3)).astype(np.float32)
    position = np.clip(t, 0, 1) * (n - 1)
    low = np.minimum(position.astype(np.int32), n - 2)
    frac = (position - low)[..., None]
    return (colors[low] * (1 - frac) + colors[low + 1] * frac).astype(np.float32)


def _two(colors: np.ndarray, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A two-colour pattern: ``t`` in [0, 1] between two different colours of the palette."""
    i, j = rng.choice(len(colors), 2, replace=len(colors) < 2)
    t = t[..., None]
    return (colors[i] * (1 - t) + colors[j] * t).astype(np.float32)


def _edge(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A periodic wave sharpened to a pattern with edges of random softness, in [0, 1]."""
    return 1.0 / (1.0 + np.exp(-rng.uniform(2, 20) * x))


def fractal_noise(rng: np.random.Generator, width: int, height: int, octaves: int = 4, persistence: float = 0.55,
                  channels: int = 1) -> np.ndarray:
    """Smooth random field with a 1/f-like spectrum: float32 (height, width[, channels]) in [0, 1]."""
    total = np.zeros((height, width, channels), dtype=np.float32)
    cells, weight = int(rng.integers(2, 5)), 1.0
    for _ in range(octaves):
        grid = rng.random((cells, cells, channels), dtype=np.float32)
        total += weight * cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC).reshape(total.shape)
        cells, weight = cells * 2, weight * persistence
    low, high = total.min(), total.max()
    total = (total - low) / max(high - low, 1e-6)
    return total[..., 0] if channels == 1 else total


def _flat(u, v, rng, colors):
    return _mix(colors[:1], u)


def _gradient(u, v, rng, colors):
    t = u + 0.5 if rng.random() < 0.6 else np.sqrt(u * u + v * v) * 1.5
    return _mix(colors, t)


def _stripes(u, v, rng, colors):
    return _two(colors, _edge(np.sin(2 * np.pi * rng.uniform(1.5, 6) * u + rng.uniform(0, 6.3)), rng), rng)


def _noise(u, v, rng, colors):
    return _mix(colors, fractal_noise(rng, u.shape[1], u.shape[0], octaves=int(rng.integers(2, 6))))


def _mosaic(u, v, rng, colors):
    k = int(rng.integers(3, 16))
    seeds = rng.uniform(-0.6, 0.6, (k, 2)).astype(np.float32)
    distance = (u[None] - seeds[:, 0, None, None]) ** 2 + (v[None] - seeds[:, 1, None, None]) ** 2
    cell = np.argmin(distance, axis=0)
    tints = colors[rng.integers(len(colors), size=k)] * rng.uniform(0.8, 1.15, (k, 1)).astype(np.float32)
    return tints[cell].astype(np.float32)


def _blotches(u, v, rng, colors):
    field = fractal_noise(rng, u.shape[1], u.shape[0], octaves=3)
    edges = np.quantile(field, np.sort(rng.uniform(0.2, 0.8, max(1, len(colors) - 1))))
    return colors[np.searchsorted(edges, field)].astype(np.float32)


def _checker(u, v, rng, colors):
    f = rng.uniform(2, 8)
    return _two(colors, ((np.floor(f * u) + np.floor(f * v)) % 2).astype(np.float32), rng)


def _dots(u, v, rng, colors):
    f, r = rng.uniform(2.5, 8), rng.uniform(0.18, 0.4)
    du, dv = f * u - np.round(f * u), f * v - np.round(f * v)
    return _two(colors, _edge(r - np.sqrt(du * du + dv * dv), rng), rng)


def _rings(u, v, rng, colors):
    cx, cy = rng.uniform(-0.3, 0.3, 2)
    r = np.sqrt((u - cx) ** 2 + (v - cy) ** 2)
    return _two(colors, _edge(np.sin(2 * np.pi * rng.uniform(2, 7) * r), rng), rng)


def _plaid(u, v, rng, colors):
    f1, f2 = rng.uniform(1.5, 5, 2)
    a = _edge(np.sin(2 * np.pi * f1 * u), rng)
    b = _edge(np.sin(2 * np.pi * f2 * v + rng.uniform(0, 6.3)), rng)
    return _mix(colors, 0.5 * (a + b))


def _marble(u, v, rng, colors):
    turbulence = fractal_noise(rng, u.shape[1], u.shape[0], octaves=4) * rng.uniform(3, 9)
    return _mix(colors, 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(1, 4) * u + turbulence))


_TEXTURES: dict[str, Callable] = {
    "flat": _flat, "gradient": _gradient, "stripes": _stripes, "noise": _noise, "mosaic": _mosaic,
    "blotches": _blotches, "checker": _checker, "dots": _dots, "rings": _rings, "plaid": _plaid, "marble": _marble,
}


# ---------------------------------------------------------------------------------------------------------------
# backgrounds


@dataclass(frozen=True)
class Look:
    """One object's look: its families and palette."""

    shape: str
    texture: str
    scheme: str
    colors: np.ndarray  # float32 (n, 3) BGR, 0..255


def draw_look(rng: np.random.Generator, families: LookFamilies) -> Look:
    """A random look of the split's families: a shape, a texture and 2-4 colours of one scheme."""
    scheme = families.schemes[int(rng.integers(len(families.schemes)))]
    return Look(shape=families.shapes[int(rng.integers(len(families.shapes)))],
                texture=families.textures[int(rng.integers(len(families.textures)))],
                scheme=scheme, colors=palette(scheme, rng, int(rng.integers(2, 5))))


def background(family: str, rng: np.random.Generator, width: int, height: int,
               families: LookFamilies) -> np.ndarray:
    """A ``width`` x ``height`` scene behind the objects: uint8 (height, width, 3) BGR. ``families`` are the looks
    its content is drawn from (the split's)."""
    make = _BACKGROUNDS.get(family)
    if make is None:
        raise ValueError(f"unknown background family {family!r}; known: {', '.join(_BACKGROUNDS)}")
    image = make(rng, width, height, families)
    return np.clip(image, 0, 255).astype(np.uint8)


def _scheme_colors(rng: np.random.Generator, families: LookFamilies, n: int) -> np.ndarray:
    return palette(families.schemes[int(rng.integers(len(families.schemes)))], rng, n)


def _paste(image: np.ndarray, pixels: np.ndarray, alpha: np.ndarray, x: int, y: int) -> None:
    """Blend ``pixels`` (h, w, 3) with ``alpha`` (h, w) into float ``image`` at top-left (x, y), clipped."""
    h, w = alpha.shape
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, image.shape[1]), min(y + h, image.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    a = alpha[y0 - y:y1 - y, x0 - x:x1 - x, None]
    region = image[y0:y1, x0:x1]
    region *= 1 - a
    region += a * pixels[y0 - y:y1 - y, x0 - x:x1 - x]


def _leaves(rng, width, height, families):
    """Dead leaves: overlapping shapes whose sizes follow a power law, as regions and edges in photographs do, under
    a soft light; a few of the larger ones textured."""
    image = _mix(_scheme_colors(rng, families, 3), fractal_noise(rng, width, height, octaves=3))
    colors = np.concatenate([_scheme_colors(rng, families, 3) for _ in range(4)])
    short = min(width, height)
    count = int(rng.integers(150, 400))
    sizes = np.clip(4.0 * (1 - rng.random(count)) ** -0.5, 4, 0.5 * short)  # p(r) ~ r^-3 from 4 px
    centers = rng.uniform(0, 1, (count, 2)) * (width, height)
    tints = colors[rng.integers(len(colors), size=count)] * rng.uniform(0.6, 1.1, (count, 1))
    kinds = rng.random(count)
    for size, (x, y), tint, kind in zip(sizes, centers, tints, kinds):
        color = tint.tolist()
        if kind < 0.5:  # ellipse
            axes = (int(size * 16), int(size * np.exp(rng.uniform(-0.8, 0.3)) * 16))
            cv2.ellipse(image, (int(x * 16), int(y * 16)), axes, float(rng.uniform(0, 180)), 0, 360, color, -1,
                        cv2.LINE_AA, _AA)
        else:  # polygon or box
            k = 4 if kind < 0.75 else int(rng.integers(3, 8))
            angles = np.sort(rng.uniform(0, 2 * np.pi, k)) if k != 4 else np.arange(4) * np.pi / 2 + rng.uniform(0, 3)
            _fill_color(image, _radial(np.ones(k), angles, (x, y), size), color)
    for _ in range(int(rng.integers(2, 8))):
        look = draw_look(rng, families)
        w, h = (max(4, int(s)) for s in rng.uniform(0.1, 0.45, 2) * short)
        _paste(image, texture(look.texture, rng, w, h, look.colors), shape_alpha(look.shape, rng, w, h),
               int(rng.integers(-w // 2, width)), int(rng.integers(-h // 2, height)))
    light = 0.55 + 0.7 * fractal_noise(rng, width, height, octaves=2)
    return image * light[..., None]


def _fill_color(image: np.ndarray, xy: np.ndarray, color: list[float]) -> None:
    cv2.fillPoly(image, _points(xy), color, cv2.LINE_AA, _AA)


def _clouds(rng, width, height, families):
    """A soft scene: colour fields of a 1/f spectrum with a few large blurred shapes."""
    image = _mix(_scheme_colors(rng, families, int(rng.integers(2, 5))),
                 fractal_noise(rng, width, height, octaves=int(rng.integers(3, 6))))
    for _ in range(int(rng.integers(0, 5))):
        w, h = (int(v) for v in rng.uniform(0.2, 0.7, 2) * min(width, height))
        alpha = cv2.GaussianBlur(shape_alpha(families.shapes[int(rng.integers(len(families.shapes)))], rng, w, h),
                                 (0, 0), 0.1 * min(w, h))
        color = _scheme_colors(rng, families, 1)[0]
        _paste(image, np.broadcast_to(color, (h, w, 3)), alpha * rng.uniform(0.4, 0.9),
               int(rng.integers(-w // 2, width)), int(rng.integers(-h // 2, height)))
    return image


def _room(rng, width, height, families):
    """An indoor-like scene: a wall and a floor, furniture-like boxes with shading, straight edges."""
    colors = _scheme_colors(rng, families, 4)
    horizon = int(rng.uniform(0.3, 0.8) * height)
    image = np.empty((height, width, 3), dtype=np.float32)
    wall = texture("gradient", rng, width, horizon, colors[:2]) if horizon else image[:0]
    image[:horizon] = wall
    floor = draw_look(rng, families)
    image[horizon:] = texture(floor.texture if rng.random() < 0.5 else "flat", rng, width, height - horizon,
                              floor.colors)
    for _ in range(int(rng.integers(2, 9))):
        w, h = int(rng.uniform(0.08, 0.5) * width), int(rng.uniform(0.08, 0.6) * height)
        x, y = int(rng.integers(-w // 2, width)), int(rng.integers(0, max(1, horizon + h // 2)))
        look = draw_look(rng, families)
        pixels = texture(look.texture if rng.random() < 0.4 else "flat", rng, w, h, look.colors)
        _paste(image, pixels, np.ones((h, w), dtype=np.float32), x, y)
    for _ in range(int(rng.integers(2, 10))):
        p1, p2 = rng.integers(0, [width, height], 2), rng.integers(0, [width, height], 2)
        color = colors[rng.integers(len(colors))] * rng.uniform(0.3, 1.0)
        cv2.line(image, (int(p1[0]), int(p1[1])), (int(p2[0]), int(p2[1])), color.tolist(),
                 int(rng.integers(1, 4)), cv2.LINE_AA)
    return image


def _tiles(rng, width, height, families):
    """Tiles or bricks: a grid of patterned cells with joints between them."""
    look = draw_look(rng, families)
    side = int(rng.uniform(0.06, 0.3) * min(width, height)) + 4
    tile_w, tile_h = side, int(side * rng.choice([1.0, 0.5, 0.33]))
    tile_h = max(tile_h, 4)
    joint = int(rng.integers(1, max(2, side // 8)))
    image = np.empty((height, width, 3), dtype=np.float32)
    image[:] = look.colors[0] * rng.uniform(0.3, 0.7)
    patterned = rng.random() < 0.5
    shift = tile_w // 2 if rng.random() < 0.5 else 0  # bricks: every other row shifted by half a tile
    for row, y in enumerate(range(-int(rng.integers(tile_h)), height, tile_h)):
        for x in range(-int(rng.integers(tile_w)) - (shift if row % 2 else 0), width, tile_w):
            w, h = tile_w - joint, tile_h - joint
            color = look.colors[rng.integers(len(look.colors))] * rng.uniform(0.75, 1.1)
            pixels = (texture(look.texture, rng, w, h, look.colors) if patterned
                      else np.broadcast_to(color, (h, w, 3)))
            _paste(image, pixels, np.ones((h, w), dtype=np.float32), x, y)
    return image


def _scatter(rng, width, height, families):
    """A cluttered surface: many small objects of the split's looks strewn over a patterned ground."""
    ground = draw_look(rng, families)
    image = texture(ground.texture, rng, width, height, ground.colors) * rng.uniform(0.5, 1.0)
    short = min(width, height)
    for _ in range(int(rng.integers(15, 50))):
        look = draw_look(rng, families)
        w, h = (max(3, int(s)) for s in rng.uniform(0.03, 0.12, 2) * short)
        pixels = texture(look.texture, rng, w, h, look.colors)
        _paste(image, pixels, shape_alpha(look.shape, rng, w, h), int(rng.integers(-w // 2, width)),
               int(rng.integers(-h // 2, height)))
    return image


_BACKGROUNDS: dict[str, Callable] = {
    "leaves": _leaves, "clouds": _clouds, "room": _room, "tiles": _tiles, "scatter": _scatter,
}
