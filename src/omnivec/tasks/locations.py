"""Location tokens: a box becomes four ``<bin_i>`` tokens (UnIVAL/OFA, arXiv 2307.16184 section 3.1).

A box is ``x0 y0 x1 y1`` normalised to [0, 1] (after the image transform); each coordinate becomes
``<bin_{round(x * (N - 1))}>`` and a bin maps back to ``i / (N - 1)``, so a round trip moves a coordinate
by at most half a bin. Coordinates slightly outside [0, 1] (boxes clipped by augmentation) are clamped.

A generated answer may put its corners in any order (``<bin_80><bin_50><bin_20><bin_40>``: x1 < x0): a box read
back from tokens is the rectangle its two corners span, ordered (x0 <= x1, y0 <= y1), and a box in pixels lies
inside the image (:func:`ordered_box`), so every box ``generate`` returns and every predicted box scored is one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from omnivec.errors import OmnivecError

DEFAULT_NUM_BINS = 1000
_BIN = re.compile(r"<bin_(\d+)>")


def bin_token(index: int) -> str:
    return f"<bin_{index}>"


def special_tokens(num_bins: int = DEFAULT_NUM_BINS) -> list[str]:
    """``<bin_0>`` … ``<bin_{N-1}>`` in order, to append to the vocabulary."""
    return [bin_token(i) for i in range(num_bins)]


def coord_to_bin(x: float, num_bins: int = DEFAULT_NUM_BINS) -> int:
    if not math.isfinite(x):
        raise OmnivecError(f"box coordinate {x} is not a finite number")
    return round(min(max(x, 0.0), 1.0) * (num_bins - 1))


def bin_to_coord(index: int, num_bins: int = DEFAULT_NUM_BINS) -> float:
    if not 0 <= index < num_bins:
        raise OmnivecError(f"<bin_{index}> is outside the {num_bins} location bins")
    return index / (num_bins - 1)


def _check_box(box: Sequence[float]) -> None:
    if len(box) != 4:
        raise OmnivecError(f"a box has four coordinates x0 y0 x1 y1, got {len(box)}: {list(box)}")


def box_to_tokens(box: Sequence[float], num_bins: int = DEFAULT_NUM_BINS) -> list[str]:
    """Normalised ``(x0, y0, x1, y1)`` -> four bin tokens."""
    _check_box(box)
    return [bin_token(coord_to_bin(float(x), num_bins)) for x in box]


def parse_bins(tokens: str | Sequence[str]) -> list[int]:
    """Bin indices in ``"<bin_3> <bin_9>…"`` or ``["<bin_3>", …]``; any other token is an error."""
    text = tokens if isinstance(tokens, str) else " ".join(tokens)
    rest = _BIN.sub(" ", text).strip()
    if rest:
        raise OmnivecError(f"expected only <bin_i> tokens, found {rest!r} in {text!r}")
    return [int(m) for m in _BIN.findall(text)]


def ordered_box(box: Sequence[float], width: float = 1.0, height: float = 1.0) -> tuple[float, float, float, float]:
    """The rectangle ``box``'s two corners span, ordered (x0 <= x1, y0 <= y1) and clipped to a ``width`` x
    ``height`` image (default: normalised coordinates, [0, 1])."""
    _check_box(box)
    x0, x1 = sorted((min(max(float(box[0]), 0.0), width), min(max(float(box[2]), 0.0), width)))
    y0, y1 = sorted((min(max(float(box[1]), 0.0), height), min(max(float(box[3]), 0.0), height)))
    return x0, y0, x1, y1


def tokens_to_box(tokens: str | Sequence[str], num_bins: int = DEFAULT_NUM_BINS) -> tuple[float, float, float, float]:
    """Four bin tokens -> normalised ``(x0, y0, x1, y1)``, ordered (:func:`ordered_box`)."""
    bins = parse_bins(tokens)
    if len(bins) != 4:
        raise OmnivecError(f"a box needs exactly four <bin_i> tokens, got {len(bins)} in {tokens!r}")
    return ordered_box([bin_to_coord(i, num_bins) for i in bins])


def pixel_box_to_tokens(
    box: Sequence[float], width: float, height: float, num_bins: int = DEFAULT_NUM_BINS
) -> list[str]:
    """A box in pixels of a ``width`` x ``height`` image -> four bin tokens."""
    _check_box(box)
    x0, y0, x1, y1 = box
    return box_to_tokens((x0 / width, y0 / height, x1 / width, y1 / height), num_bins)


def tokens_to_pixel_box(
    tokens: str | Sequence[str], width: float, height: float, num_bins: int = DEFAULT_NUM_BINS
) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = tokens_to_box(tokens, num_bins)
    return ordered_box((x0 * width, y0 * height, x1 * width, y1 * height), width, height)


def text_to_pixel_box(
    text: str, width: float, height: float, num_bins: int = DEFAULT_NUM_BINS
) -> tuple[float, float, float, float] | None:
    """:func:`tokens_to_pixel_box` of a generated answer, or None when it is not exactly four in-range
    ``<bin_i>`` tokens (a malformed output is no box, not an error)."""
    try:
        return tokens_to_pixel_box(text, width, height, num_bins)
    except OmnivecError:
        return None


@dataclass(frozen=True)
class Grounding:
    """A grounding answer (what :meth:`omnivec.families.unival.model.UnivalModel.generate` returns for a grounding
    task)."""

    text: str
    """The raw generated text: four ``<bin_i>`` tokens when well formed."""
    box: tuple[float, float, float, float] | None
    """``(x0, y0, x1, y1)`` in pixels of the input image (x right, y down; bin i is i / (N - 1) of the side);
    None when ``text`` is not four location tokens."""


@dataclass(frozen=True)
class Detection:
    """One object of a detection answer (:class:`~omnivec.tasks.seq2seq.DetectionKind`)."""

    label: str
    box: tuple[float, float, float, float]
    """``(x0, y0, x1, y1)`` in pixels of the input image."""


_DETECTION = re.compile(r"((?:<bin_\d+>\s*){4})([^<]*)")


def detections_to_text(objects: Sequence[tuple[Sequence[float], str]], num_bins: int = DEFAULT_NUM_BINS) -> str:
    """``[(normalised box, name), ...]`` -> ``"<bin_a><bin_b><bin_c><bin_d> 7 <bin_..> 3"``: the detection answer."""
    return " ".join("".join(box_to_tokens(box, num_bins)) + " " + name.strip() for box, name in objects)


Box = tuple[float, float, float, float]


def parse_detections(text: str, num_bins: int = DEFAULT_NUM_BINS) -> list[tuple[str, Box]]:
    """The ``(name, normalised box)`` pairs of a detection answer; a malformed piece (fewer than four location
    tokens, an out-of-range bin, no name) is dropped, not an error: a generated answer may be anything."""
    out = []
    for boxes, name in _DETECTION.findall(text):
        try:
            box = tokens_to_box(boxes, num_bins)
        except OmnivecError:
            continue
        if name.strip():
            out.append((name.strip(), box))
    return out


def box_iou(a: Tensor, b: Tensor) -> Tensor:
    """IoU of paired boxes: a, b (..., 4) as x0 y0 x1 y1 -> (...). Degenerate boxes have area 0; 0/0 is 0."""
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    lt = torch.maximum(a[..., :2], b[..., :2])  # (..., 2) top-left of the intersection
    rb = torch.minimum(a[..., 2:], b[..., 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[..., 2:] - a[..., :2]).clamp(min=0).prod(-1)
    area_b = (b[..., 2:] - b[..., :2]).clamp(min=0).prod(-1)
    union = area_a + area_b - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(union))
