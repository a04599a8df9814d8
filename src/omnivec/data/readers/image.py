"""Images (PNG/JPEG/BMP/GIF/WebP via Pillow) -> float32 (C, H, W) in [0, 1]; gray stays one channel.

Only the documented formats are decoded (``Image.open(formats=...)``): a TGA, TIFF, ICO, PPM, ... named
``x.png`` is refused, and an EPS never reaches Pillow's Ghostscript plugin (which would run its PostScript). The
header's width x height is checked against ``max_pixels`` before the pixels are decoded. A 16-bit image is scaled
to [0, 1] from its 16 bits in every channel setting (Pillow's ``I;16 -> RGB`` would clip it at 255: white).
"""

from __future__ import annotations

import struct
import warnings
from pathlib import Path
from typing import IO

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from omnivec.data.readers.validate import MAX_IMAGE_PIXELS, check_limit, existing_file
from omnivec.data.root import StrPath
from omnivec.errors import DataError

IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP")
"""Pillow's names of the formats omnivec decodes (docs/data.md); every path that opens an image uses them."""


def open_image(source: Path | IO[bytes], where: object) -> Image.Image:
    """``Image.open`` restricted to :data:`IMAGE_FORMATS`; other formats are a DataError naming ``where``.
    Only the header is read: nothing is decoded until ``load()``."""
    try:
        return Image.open(source, formats=IMAGE_FORMATS)
    except UnidentifiedImageError:
        expected = ", ".join(f.replace("WEBP", "WebP") for f in IMAGE_FORMATS)
        raise DataError(where, f"not a readable image: not {expected} (other formats are refused)") from None


def read_image(
    path: StrPath, size: int | None = None, channels: int | None = None, max_pixels: int = MAX_IMAGE_PIXELS
) -> Tensor:
    """PNG/JPEG/... -> float32 (C, H, W) in [0, 1]."""
    p = existing_file(path)
    return decode_image(p, p, size, channels, max_pixels)[0]


def decode_image(
    source: Path | IO[bytes],
    where: object,
    size: int | None = None,
    channels: int | None = None,
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> tuple[Tensor, tuple[int, int]]:
    """An image file or in-memory bytes -> (float32 (C, H, W) in [0, 1], the decoded (width, height) before
    any resize); errors are ``DataError(where, reason)``."""
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be 1, 3 or None, got {channels}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with open_image(source, where) as im:
                w, h = im.size
                if w <= 0 or h <= 0:
                    raise DataError(where, f"absurd dimensions: image header declares {w}x{h} pixels")
                check_limit(
                    w * h, where, f"pixels ({w}x{h}) declared by the image header", max_pixels, "max_image_pixels"
                )
                im.load()
                img = _to_mode(im, channels)
                if size is not None and img.size != (size, size):
                    img = img.resize((size, size), Image.Resampling.BILINEAR)
                arr = np.asarray(img)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DataError(where, f"absurd dimensions: {e}") from None
    except (OSError, SyntaxError, ValueError, struct.error) as e:
        # Pillow reports a cut-off file as OSError("image file is truncated ...")
        raise DataError(where, f"truncated or corrupt image ({e})") from None
    scale = 65535.0 if arr.dtype == np.uint16 else 255.0
    out = torch.from_numpy(arr.astype(np.float32) / scale)
    if out.ndim == 2 and channels == 3:  # 16-bit gray in an RGB run: the same gray in three channels
        out = out[..., None].expand(*out.shape, 3)
    return (out[None] if out.ndim == 2 else out.permute(2, 0, 1).contiguous()), (w, h)  # (H, W, C) -> (C, H, W)


def _to_mode(im: Image.Image, channels: int | None) -> Image.Image:
    if im.mode in ("I;16", "I;16B", "I;16L"):
        return im.convert("I;16")  # kept 16-bit: scaled by 65535 above, repeated to RGB when asked
    gray = im.mode in ("1", "L", "LA", "I", "F")
    if channels == 1 or (channels is None and gray):
        return im.convert("L")
    return im.convert("RGB")
