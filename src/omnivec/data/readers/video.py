"""Video files (MP4/AVI/WebM/MKV/MOV via PyAV) and ``.npy``/``.npz`` frame arrays -> float32 (C, T, H, W).

Clips are reduced to a fixed number of frames by uniform temporal sampling (the frame nearest each of ``T``
evenly spaced times; short clips repeat frames), as in TSN-style "uniform" sampling, and resized to a square.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from omnivec.data.readers.arrays import load_array
from omnivec.data.readers.validate import (
    MAX_ARRAY_ELEMENTS,
    MAX_IMAGE_PIXELS,
    MAX_VIDEO_ELEMENTS,
    check_finite,
    check_limit,
    existing_file,
)
from omnivec.data.root import StrPath
from omnivec.errors import DataError

MAX_DECODED_FRAMES = 100_000


def uniform_indices(num_available: int, num_frames: int) -> np.ndarray:
    """``num_frames`` indices spread evenly over ``range(num_available)`` (centres of equal segments)."""
    if num_available <= 0:
        raise ValueError("no frames to sample from")
    centres = (np.arange(num_frames) + 0.5) * num_available / num_frames
    return np.clip(np.floor(centres).astype(np.int64), 0, num_available - 1)


def read_video(
    path: StrPath,
    num_frames: int = 8,
    size: int | None = 64,
    max_pixels: int = MAX_IMAGE_PIXELS,
    max_elements: int = MAX_VIDEO_ELEMENTS,
    max_array_elements: int = MAX_ARRAY_ELEMENTS,
) -> Tensor:
    """A video file or frame array -> float32 (C, T, H, W) in [0, 1] with T = ``num_frames``.

    A file's frames are refused above ``max_pixels`` (from the stream header) and decoding stops with an error
    once the frames kept (resized to ``size`` as they are decoded) exceed ``max_elements`` values; an array is
    refused above ``max_array_elements`` from its header."""
    p = existing_file(path)
    is_array = p.suffix.lower() in (".npy", ".npz")
    if is_array:
        frames = _array_frames(p, max_array_elements)  # (T, H, W, C)
    else:
        frames = _decode_frames(p, size, max_pixels, max_elements)  # (T, H, W, 3) uint8
    idx = uniform_indices(frames.shape[0], num_frames)
    picked = frames[idx]  # (num_frames, H, W, C): only these become floats
    picked = picked.astype(np.float32) / 255.0 if picked.dtype == np.uint8 else picked.astype(np.float32)
    video = torch.from_numpy(np.ascontiguousarray(picked)).permute(3, 0, 1, 2)  # (T,H,W,C) -> (C,T,H,W)
    if size is not None and video.shape[-2:] != (size, size):
        # (C, T, H, W) -> resize each frame as a batch of T images
        video = F.interpolate(video.transpose(0, 1), size=(size, size), mode="bilinear", antialias=True)
        video = video.transpose(0, 1).clamp(0, 1)
    return video.contiguous().float()


def _decode_frames(p: Path, size: int | None, max_pixels: int, max_elements: int) -> np.ndarray:
    kept: list[np.ndarray] = []
    held = 0
    try:
        with av.open(str(p)) as container:
            if not container.streams.video:
                raise DataError(p, "no video stream in the file")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            w, h = stream.codec_context.width, stream.codec_context.height
            check_limit(w * h, p, f"pixels per frame ({w}x{h})", max_pixels, "max_image_pixels")
            for frame in container.decode(stream):
                if frame.width * frame.height > max_pixels:  # a stream may change size after its header
                    check_limit(frame.width * frame.height, p, "pixels per frame", max_pixels, "max_image_pixels")
                # resize while decoding so a long clip does not hold full-size frames
                if size is not None:
                    kept.append(frame.to_ndarray(format="rgb24", width=size, height=size))
                else:
                    kept.append(frame.to_ndarray(format="rgb24"))
                held += kept[-1].size
                check_limit(
                    held, p, "decoded video values (frames x height x width x 3)", max_elements, "max_video_elements"
                )
                if len(kept) > MAX_DECODED_FRAMES:
                    raise DataError(p, f"more than {MAX_DECODED_FRAMES} frames; trim the clip first")
    except DataError:
        raise
    except (av.FFmpegError, ValueError, IndexError, UnicodeDecodeError) as e:
        if not kept:
            raise DataError(p, f"not a decodable video ({type(e).__name__}: {e})") from None
        # a clip cut short still decodes its first frames; keep them (the tail is lost, not the sample)
    if not kept:
        raise DataError(p, "no frames could be decoded (empty or truncated video)")
    return np.stack(kept)  # (T, H, W, 3) uint8


def _array_frames(p: Path, max_elements: int) -> np.ndarray:
    """(T, H, W, C) uint8, or float32 in [0, 1]."""
    arr = load_array(p, ("frames", "video"), max_elements)
    if arr.ndim == 3:
        arr = arr[..., None]  # (T, H, W) gray
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3) or min(arr.shape) == 0:
        raise DataError(p, f"frame array has shape {arr.shape}; expected (T, H, W) or (T, H, W, 1|3)")
    if arr.dtype == np.uint8:
        return arr  # scaled to [0, 1] once the frames are picked
    if not np.issubdtype(arr.dtype, np.floating):
        raise DataError(p, f"frame array dtype {arr.dtype}; expected uint8 or float in [0, 1]")
    check_finite(arr, p, "frame values")
    if arr.min() < 0 or arr.max() > 1:
        raise DataError(p, f"float frames must lie in [0, 1], got [{arr.min():.3g}, {arr.max():.3g}]")
    return arr.astype(np.float32)
