"""Images (PNG/JPEG/BMP/GIF/WebP via Pillow) -> float32 (C, H, W) in [0, 1]; gray stays one channel."""

from __future__ import annotations

import struct
import warnings
from pathlib import Path
from typing import IO

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from omnivec.data.readers.validate import existing_file
from omnivec.data.root import StrPath
from omnivec.errors import DataError

MAX_PIXELS = 1 << 26
"""Images above 67 Mpixel are rejected as absurd before decoding (Pillow would only warn up to 179 Mpixel)."""


def read_image(path: StrPath, size: int | None = None, channels: int | None = None) -> Tensor:
    """PNG/JPEG/... -> float32 (C, H, W) in [0, 1]."""
    p = existing_file(path)
    return decode_image(p, p, size, channels)[0]


def decode_image(
    source: Path | IO[bytes], where: object, size: int | None = None, channels: int | None = None
) -> tuple[Tensor, tuple[int, int]]:
    """An image file or in-memory bytes -> (float32 (C, H, W) in [0, 1], the decoded (width, height) before
    any resize); errors are ``DataError(where, reason)``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as im:
                w, h = im.size
                if w <= 0 or h <= 0 or w * h > MAX_PIXELS:
                    raise DataError(where, f"absurd dimensions: image header declares {w}x{h} pixels")
                im.load()
                img = _to_mode(im, channels)
                if size is not None and img.size != (size, size):
                    img = img.resize((size, size), Image.Resampling.BILINEAR)
                arr = np.asarray(img)
    except UnidentifiedImageError:
        raise DataError(where, "not a readable image (unknown or wrong format)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DataError(where, f"absurd dimensions: {e}") from None
    except (OSError, SyntaxError, ValueError, struct.error) as e:
        # Pillow reports a cut-off file as OSError("image file is truncated ...")
        raise DataError(where, f"truncated or corrupt image ({e})") from None
    scale = 65535.0 if arr.dtype == np.uint16 else 255.0
    out = torch.from_numpy(arr.astype(np.float32) / scale)
    return (out[None] if out.ndim == 2 else out.permute(2, 0, 1).contiguous()), (w, h)  # (H, W, C) -> (C, H, W)


def _to_mode(im: Image.Image, channels: int | None) -> Image.Image:
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be 1, 3 or None, got {channels}")
    if im.mode in ("I;16", "I;16B", "I;16L"):
        im = im.convert("I;16") if channels != 3 else im.convert("RGB")
        return im
    gray = im.mode in ("1", "L", "LA", "I", "F")
    if channels == 1 or (channels is None and gray):
        return im.convert("L")
    return im.convert("RGB")
