"""Generated audio and 3D data: tones and chirps to classify by sound, solids to classify by surface shape.

Audio clips vary in length (0.4-1.0 s), so batches need padding masks; the event inside starts at a random
time with a random loudness, so neither length nor energy gives the class away. Point clouds are sampled
uniformly by *area* on each surface (as ModelNet-style clouds are), then randomly stretched, rotated,
jittered, centred and scaled to the unit sphere, so only the shape of the point set says which solid it was.
"""

from __future__ import annotations

import numpy as np
import torch

from omnivec.data.base import SampleDataset
from omnivec.data.synthetic.common import balanced_labels, split_rng
from omnivec.types import Modality

TONE_NAMES = ["low_tone", "high_tone", "rising_chirp", "falling_chirp", "noise_burst"]
SOLID_NAMES = ["sphere", "cube", "cylinder", "cone", "torus"]
_CHUNK = 256


def _tone_frequencies(rng: np.random.Generator, labels: np.ndarray, sample_rate: int) -> np.ndarray:
    """Start and end frequency (N, 2) in Hz per class; ranges shrink with the rate so nothing aliases."""
    n = len(labels)
    k = min(1.0, sample_rate / 8000)
    low = rng.uniform(200, 500, size=n) * k
    high = rng.uniform(1000, 2500, size=n) * k
    c_lo = rng.uniform(250, 600, size=n) * k
    c_hi = rng.uniform(1200, 3000, size=n) * k
    f0 = np.select([labels == 0, labels == 1, labels == 2, labels == 3], [low, high, c_lo, c_hi], 0.0)
    f1 = np.select([labels == 0, labels == 1, labels == 2, labels == 3], [low, high, c_hi, c_lo], 0.0)
    return np.stack([f0, f1], axis=1)


def tones(
    split: str,
    num_samples: int = 2000,
    seed: int = 0,
    sample_rate: int = 8000,
    min_seconds: float = 0.4,
    max_seconds: float = 1.0,
) -> SampleDataset:
    """Mono clips of a low tone, a high tone, a rising or falling chirp, or a noise burst, in light noise."""
    rng = split_rng("tones", split, seed)
    n = num_samples
    labels = balanced_labels(rng, n, len(TONE_NAMES))
    lengths = np.round(rng.uniform(min_seconds, max_seconds, size=n) * sample_rate).astype(np.int64)
    event = rng.uniform(0.5, 0.9, size=n) * lengths  # event duration in samples
    onset = rng.uniform(0, 1, size=n) * (lengths - event)
    amp = rng.uniform(0.2, 0.9, size=n)
    freqs = _tone_frequencies(rng, labels, sample_rate)
    phase0 = rng.uniform(0, 2 * np.pi, size=n)
    noise_std = rng.uniform(0.005, 0.03, size=n)
    fade = 0.01 * sample_rate  # 10 ms ramps: no clicks, which would be an easy cue for "onset"

    waves: list[torch.Tensor] = []
    idx = np.arange(int(lengths.max()), dtype=np.float64)[None]  # (1, L)
    for lo in range(0, n, _CHUNK):
        sl = slice(lo, lo + _CHUNK)
        tau = idx - onset[sl, None]  # samples since the event began, (m, L)
        dur = event[sl, None]
        env = np.clip(np.minimum(tau, dur - tau) / fade, 0.0, 1.0)
        f0, f1 = freqs[sl, 0, None] / sample_rate, freqs[sl, 1, None] / sample_rate  # cycles per sample
        # Linear chirp: instantaneous frequency f0 + (f1 - f0) tau / dur, integrated to a phase.
        phase = 2 * np.pi * (f0 * tau + (f1 - f0) * tau * tau / (2 * dur)) + phase0[sl, None]
        tone = np.sin(phase)
        burst = rng.standard_normal(size=tau.shape) / np.sqrt(2)  # same RMS as a unit sine
        is_noise = (labels[sl] == 4)[:, None]
        sig = amp[sl, None] * env * np.where(is_noise, burst, tone)
        sig = sig + noise_std[sl, None] * rng.standard_normal(size=tau.shape)
        sig = np.clip(sig, -1.0, 1.0).astype(np.float32)
        waves.extend(torch.from_numpy(sig[i, : lengths[lo + i]].copy()) for i in range(sig.shape[0]))
    return SampleDataset(Modality.AUDIO, waves, labels.tolist(), TONE_NAMES, f"tones/{split}")


def _surface_points(rng: np.random.Generator, cls: int, n: int, p: int) -> np.ndarray:
    """(n, p, 3) points uniform by area on the surface of solid ``cls`` in its own frame (about [-1, 1]^3)."""
    u = rng.uniform(size=(n, p, 3))
    if cls == 0:  # sphere
        x = rng.standard_normal(size=(n, p, 3))
        return x / np.linalg.norm(x, axis=-1, keepdims=True)
    if cls == 1:  # cube: a random face, uniform on it
        face = rng.integers(0, 6, size=(n, p))
        axis, side = face % 3, np.where(face < 3, -1.0, 1.0)
        x = u * 2 - 1
        np.put_along_axis(x, axis[..., None], side[..., None], axis=-1)
        return x
    ang = 2 * np.pi * u[..., 0]
    if cls == 2:  # cylinder r=1, h=2: side area 4pi, two caps 2pi in all
        on_side = u[..., 2] < 2 / 3
        rad = np.where(on_side, 1.0, np.sqrt(u[..., 1]))
        z = np.where(on_side, u[..., 1] * 2 - 1, np.where(rng.uniform(size=(n, p)) < 0.5, -1.0, 1.0))
        return np.stack([rad * np.cos(ang), rad * np.sin(ang), z], axis=-1)
    if cls == 3:  # cone: apex at z=1, base r=1 at z=-1; lateral area pi*sqrt5, base pi
        on_side = u[..., 2] < np.sqrt(5) / (1 + np.sqrt(5))
        rad = np.sqrt(u[..., 1])  # area grows linearly with distance from the apex (side) or centre (base)
        z = np.where(on_side, 1 - 2 * rad, -1.0)
        return np.stack([rad * np.cos(ang), rad * np.sin(ang), z], axis=-1)
    # torus R=1, r=0.35: the tube angle is weighted by (R + r cos) — rejection-sampled from one shared pool.
    big, small = 1.0, 0.35
    need = n * p
    pool = np.empty(0)
    while pool.size < need:
        cand = rng.uniform(0, 2 * np.pi, size=2 * need)
        keep = rng.uniform(size=2 * need) * (big + small) < big + small * np.cos(cand)
        pool = np.concatenate([pool, cand[keep]])
    tube = pool[:need].reshape(n, p)
    ring = big + small * np.cos(tube)
    return np.stack([ring * np.cos(ang), ring * np.sin(ang), small * np.sin(tube)], axis=-1)


def _random_rotations(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 3, 3) rotations uniform on SO(3), from normalised Gaussian quaternions."""
    q = rng.standard_normal(size=(n, 4))
    w, x, y, z = (q / np.linalg.norm(q, axis=1, keepdims=True)).T
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], axis=-1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], axis=-1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=-1),
        ],
        axis=1,
    )


def solids(
    split: str, num_samples: int = 2000, seed: int = 0, num_points: int = 256, noise: float = 0.01
) -> SampleDataset:
    """Point clouds (P, 3) on a sphere, cube, cylinder, cone or torus; target = which solid."""
    rng = split_rng("solids", split, seed)
    labels = balanced_labels(rng, num_samples, len(SOLID_NAMES))
    pts = np.empty((num_samples, num_points, 3))
    for cls in range(len(SOLID_NAMES)):  # in class order, so the stream does not depend on label order
        where = np.flatnonzero(labels == cls)
        pts[where] = _surface_points(rng, cls, len(where), num_points)
    # Anisotropic stretch: a sphere becomes an ellipsoid, so "all radii equal" is not the sphere cue.
    pts *= rng.uniform(0.75, 1.25, size=(num_samples, 1, 3))
    pts = np.einsum("nij,npj->npi", _random_rotations(rng, num_samples), pts)
    pts += noise * rng.standard_normal(size=pts.shape)
    pts -= pts.mean(axis=1, keepdims=True)
    pts /= np.linalg.norm(pts, axis=-1).max(axis=1)[:, None, None]
    samples = torch.from_numpy(pts.astype(np.float32))
    return SampleDataset(Modality.POINTS, samples, labels.tolist(), SOLID_NAMES, f"solids/{split}")
