"""Generated image and video data: shapes to classify, scenes to segment, motion to tell apart.

Every nuisance factor a model could latch onto instead of the label is randomised: shape colour, background
colour, texture and noise, size, position and rotation. The four shapes are drawn with *equal area* at a given
size, so pixel count (and so mean intensity) says nothing about the class; colours are drawn relative to the
background so a shape always stands out (every channel differs by >= 0.3) but carries no class information.
"""

from __future__ import annotations

import numpy as np
import torch

from omnivec.data.base import SampleDataset
from omnivec.data.synthetic.common import ByteImages, balanced_labels, split_rng, to_uint8
from omnivec.types import Modality

SHAPE_NAMES = ["circle", "square", "triangle", "cross"]
DIRECTION_NAMES = ["left", "right", "up", "down"]

# Shape extents in units of the circle radius, chosen so every shape covers pi * r^2 pixels.
_SQUARE_HALF = float(np.sqrt(np.pi) / 2)  # (2h)^2 = pi
_TRIANGLE_R = float(np.sqrt(np.pi / (3 * np.sqrt(3) / 4)))  # equilateral circumradius: (3 sqrt3 / 4) R^2 = pi
_CROSS_ARM = float(np.sqrt(np.pi * 9 / 20))  # plus of arm half-length a, half-width a/3: (20/9) a^2 = pi
_CHUNK = 256  # samples rendered at once: bounds the float32 intermediates to a few tens of MB


def _shape_mask(
    cls: np.ndarray, cx: np.ndarray, cy: np.ndarray, r: np.ndarray, theta: np.ndarray, size: int
) -> np.ndarray:
    """(N, H, W) bool masks of shape ``cls[i]`` centred at (cx, cy), radius r, rotated by theta."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    dx = xx[None] - cx[:, None, None]  # (N, H, W)
    dy = yy[None] - cy[:, None, None]
    cos, sin = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    u = (cos * dx + sin * dy) / r[:, None, None]  # coordinates in the shape's own frame, radius 1
    v = (-sin * dx + cos * dy) / r[:, None, None]
    au, av = np.abs(u), np.abs(v)
    circle = u * u + v * v <= 1.0
    square = np.maximum(au, av) <= _SQUARE_HALF
    # An equilateral triangle is three half-planes at distance R/2 from its centroid.
    triangle = np.ones_like(circle)
    for k in range(3):
        phi = 2 * np.pi * k / 3 + np.pi / 2
        triangle &= u * np.cos(phi) + v * np.sin(phi) <= _TRIANGLE_R / 2
    w = _CROSS_ARM / 3
    cross = ((au <= _CROSS_ARM) & (av <= w)) | ((au <= w) & (av <= _CROSS_ARM))
    c = cls[:, None, None]
    return np.where(c == 0, circle, np.where(c == 1, square, np.where(c == 2, triangle, cross)))


def _contrasting(rng: np.random.Generator, base: np.ndarray) -> np.ndarray:
    """Colours whose every channel is 0.35-0.55 brighter than ``base`` (N, 3): random hue, but objects are always
    lighter than their background. (With mixed polarity — lighter in one channel, darker in another — a small ViT
    stayed at chance for 300 steps where a CNN did not; see docs/design.md.)"""
    return base + rng.uniform(0.35, 0.55, size=base.shape)


def _backgrounds(rng: np.random.Generator, n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Low-contrast textured backgrounds (N, 3, H, W) and their base colours (N, 3).

    Two random plane waves give a texture the model must learn to ignore; per-pixel noise is added later.
    """
    base = rng.uniform(0.0, 0.4, size=(n, 3))  # dark enough that every object colour fits below 1
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    texture = np.zeros((n, size, size), dtype=np.float32)
    for _ in range(2):
        fx, fy = rng.uniform(-3, 3, size=(2, n, 1, 1))
        phase = rng.uniform(0, 2 * np.pi, size=(n, 1, 1))
        amp = rng.uniform(0.02, 0.07, size=(n, 1, 1))
        texture += (amp * np.sin(2 * np.pi * (fx * xx + fy * yy) / size + phase)).astype(np.float32)
    bg = base[:, :, None, None].astype(np.float32) + texture[:, None]
    return bg, base


def _render_scenes(
    rng: np.random.Generator,
    classes: np.ndarray,
    present: np.ndarray,
    size: int,
    radius: tuple[float, float] = (1 / 10.5, 1 / 5.3),
    spread: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw shapes ``classes`` (N, K) where ``present`` (N, K), later slots on top.

    Returns uint8 images (N, 3, H, W) and int64 masks (N, H, W), 0 = background, 1 + class elsewhere.
    """
    n, k = classes.shape
    # Draw every random number up front, in a fixed order, so chunked rendering cannot change the stream.
    r = rng.uniform(size * radius[0], size * radius[1], size=(n, k))  # default 3-6 px at 32x32
    margin = 1.2 * r
    # spread < 1 keeps centres in the middle of the free range (1 = anywhere the shape fits).
    offset = 0.5 + spread * (rng.uniform(0, 1, size=(2, n, k)) - 0.5)
    cx = margin + offset[0] * (size - 1 - 2 * margin)
    cy = margin + offset[1] * (size - 1 - 2 * margin)
    theta = rng.uniform(0, 2 * np.pi, size=(n, k))
    bg, base = _backgrounds(rng, n, size)
    colours = np.stack([_contrasting(rng, base) for _ in range(k)], axis=1)  # (N, K, 3)
    noise_std = rng.uniform(0.01, 0.05, size=(n, 1, 1, 1)).astype(np.float32)
    noise = rng.standard_normal(size=(n, 3, size, size), dtype=np.float32)

    images = np.empty((n, 3, size, size), dtype=np.uint8)
    masks = np.zeros((n, size, size), dtype=np.int64)
    for lo in range(0, n, _CHUNK):
        sl = slice(lo, lo + _CHUNK)
        img, seg = bg[sl], masks[sl]
        for j in range(k):
            drawn = _shape_mask(classes[sl, j], cx[sl, j], cy[sl, j], r[sl, j], theta[sl, j], size)
            drawn &= present[sl, j, None, None]
            img = np.where(drawn[:, None], colours[sl, j, :, None, None].astype(np.float32), img)
            seg = np.where(drawn, classes[sl, j, None, None] + 1, seg)
        images[sl] = to_uint8(img + noise_std[sl] * noise[sl])
        masks[sl] = seg
    return images, masks


def shapes(
    split: str,
    num_samples: int = 2000,
    seed: int = 0,
    image_size: int = 32,
    radius: tuple[float, float] = (1 / 5, 1 / 3.2),
    spread: float = 0.5,
) -> SampleDataset:
    """One shape (circle, square, triangle or cross) on a textured background; target = shape class.

    The single shape is larger than in the scenes (radius 6-10 px at 32x32 by default, so it spans several 4-px
    patches): colour, position, rotation, texture and noise stay random, so the class is still only in the outline.
    """
    rng = split_rng("shapes", split, seed)
    labels = balanced_labels(rng, num_samples, len(SHAPE_NAMES))
    images, _ = _render_scenes(rng, labels[:, None], np.ones((num_samples, 1), bool), image_size, radius, spread)
    return SampleDataset(Modality.IMAGE, ByteImages(images), labels.tolist(), SHAPE_NAMES, f"shapes/{split}")


def shape_scenes(
    split: str, num_samples: int = 2000, seed: int = 0, image_size: int = 32, max_shapes: int = 3
) -> SampleDataset:
    """1 to ``max_shapes`` shapes, possibly overlapping; target = (H, W) int64 per-pixel class mask."""
    rng = split_rng("shape_scenes", split, seed)
    classes = rng.integers(0, len(SHAPE_NAMES), size=(num_samples, max_shapes))
    count = rng.integers(1, max_shapes + 1, size=num_samples)
    present = np.arange(max_shapes)[None] < count[:, None]
    images, masks = _render_scenes(rng, classes, present, image_size)
    targets = list(torch.from_numpy(masks))
    names = ["background", *SHAPE_NAMES]
    return SampleDataset(Modality.IMAGE, ByteImages(images), targets, names, f"shape_scenes/{split}")


def motion(
    split: str,
    num_samples: int = 2000,
    seed: int = 0,
    image_size: int = 32,
    num_frames: int = 8,
    half_size: tuple[float, float] = (1 / 10, 1 / 6),
) -> SampleDataset:
    """A square or disc moving left, right, up or down past a static distractor; target = direction.

    Start, speed, size, colour and look are random, and the start is drawn so the whole path stays in frame.
    The static distractor has the same kind of look, so only *motion* (across frames) tells the mover apart.
    """
    rng = split_rng("motion", split, seed)
    n, s, t = num_samples, image_size, num_frames
    labels = balanced_labels(rng, n, len(DIRECTION_NAMES))
    half = rng.uniform(s * half_size[0], s * half_size[1], size=(n, 2))  # mover, distractor: 3-5 px at 32x32
    disc = rng.uniform(size=(n, 2)) < 0.5
    speed = rng.uniform(1.5, 3.0, size=n) * s / 32 * 8 / max(t, 2)  # keeps the path inside the frame
    travel = speed * (t - 1)
    along_lo = half[:, 0] + rng.uniform(size=n) * (s - 1 - 2 * half[:, 0] - travel)
    across = half[:, 0] + rng.uniform(size=n) * (s - 1 - 2 * half[:, 0])
    sign = np.where(np.isin(labels, [0, 2]), -1.0, 1.0)  # left and up move towards smaller x / y
    start = np.where(sign > 0, along_lo, along_lo + travel)
    steps = start[:, None] + sign[:, None] * speed[:, None] * np.arange(t)[None]  # (N, T)
    horizontal = (labels < 2)[:, None]
    mx = np.where(horizontal, steps, across[:, None])
    my = np.where(horizontal, across[:, None], steps)
    dxy = half[:, 1:2] + rng.uniform(size=(n, 2)) * (s - 1 - 2 * half[:, 1:2])  # distractor centre
    bg, base = _backgrounds(rng, n, s)
    colours = [_contrasting(rng, base), _contrasting(rng, base)]
    noise_std = rng.uniform(0.01, 0.05, size=(n, 1, 1, 1, 1)).astype(np.float32)

    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
    videos = np.empty((n, 3, t, s, s), dtype=np.uint8)
    for lo in range(0, n, _CHUNK):
        sl = slice(lo, lo + _CHUNK)
        m = len(range(n)[sl])
        clip = np.broadcast_to(bg[sl, :, None], (m, 3, t, s, s))
        centres = [(dxy[sl, 0, None], dxy[sl, 1, None]), (mx[sl], my[sl])]  # distractor first, mover on top
        for obj, (cx, cy) in zip((1, 0), centres, strict=True):
            ox = xx[None, None] - cx[..., None, None]  # (m, T or 1, H, W)
            oy = yy[None, None] - cy[..., None, None]
            h = half[sl, obj, None, None, None]
            inside = np.where(
                disc[sl, obj, None, None, None], ox * ox + oy * oy <= h * h, np.maximum(abs(ox), abs(oy)) <= h
            )
            colour = colours[obj][sl, :, None, None, None].astype(np.float32)
            clip = np.where(inside[:, None], colour, clip)
        clip = clip + noise_std[sl] * rng.standard_normal(size=clip.shape, dtype=np.float32)
        videos[sl] = to_uint8(clip)
    return SampleDataset(Modality.VIDEO, ByteImages(videos), labels.tolist(), DIRECTION_NAMES, f"motion/{split}")
