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

from omnivec.data.readers.validate import MAX_ELEMENTS, check_finite, existing_file
from omnivec.data.root import StrPath
from omnivec.errors import DataError

MAX_DECODED_FRAMES = 100_000


def uniform_indices(num_available: int, num_frames: int) -> np.ndarray:
    """``num_frames`` indices spread evenly over ``range(num_available)`` (centres of equal segments)."""
    if num_available <= 0:
        raise ValueError("no frames to sample from")
    centres = (np.arange(num_frames) + 0.5) * num_available / num_frames
    return np.clip(np.floor(centres).astype(np.int64), 0, num_available - 1)


def read_video(path: StrPath, num_frames: int = 8, size: int | None = 64) -> Tensor:
    """A video file or frame array -> float32 (C, T, H, W) in [0, 1] with T = ``num_frames``."""
    p = existing_file(path)
    is_array = p.suffix.lower() in (".npy", ".npz")
    frames = _array_frames(p) if is_array else _decode_frames(p, size)  # (T, H, W, C) float32
    idx = uniform_indices(frames.shape[0], num_frames)
    video = torch.from_numpy(np.ascontiguousarray(frames[idx])).permute(3, 0, 1, 2)  # (T,H,W,C) -> (C,T,H,W)
    if size is not None and video.shape[-2:] != (size, size):
        # (C, T, H, W) -> resize each frame as a batch of T images
        video = F.interpolate(video.transpose(0, 1), size=(size, size), mode="bilinear", antialias=True)
        video = video.transpose(0, 1).clamp(0, 1)
    return video.contiguous().float()


def _decode_frames(p: Path, size: int | None) -> np.ndarray:
    kept: list[np.ndarray] = []
    try:
        with av.open(str(p)) as container:
            if not container.streams.video:
                raise DataError(p, "no video stream in the file")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            w, h = stream.codec_context.width, stream.codec_context.height
            if w * h > MAX_ELEMENTS // 3:
                raise DataError(p, f"absurd dimensions: video header declares {w}x{h}")
            for frame in container.decode(stream):
                # resize while decoding so a long clip does not hold full-size frames
                if size is not None:
                    kept.append(frame.to_ndarray(format="rgb24", width=size, height=size))
                else:
                    kept.append(frame.to_ndarray(format="rgb24"))
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
    return np.stack(kept).astype(np.float32) / 255.0  # (T, H, W, 3)


def _array_frames(p: Path) -> np.ndarray:
    arr = load_array(p, ("frames", "video"))
    if arr.ndim == 3:
        arr = arr[..., None]  # (T, H, W) gray
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3) or min(arr.shape) == 0:
        raise DataError(p, f"frame array has shape {arr.shape}; expected (T, H, W) or (T, H, W, 1|3)")
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    if not np.issubdtype(arr.dtype, np.floating):
        raise DataError(p, f"frame array dtype {arr.dtype}; expected uint8 or float in [0, 1]")
    check_finite(arr, p, "frame values")
    if arr.min() < 0 or arr.max() > 1:
        raise DataError(p, f"float frames must lie in [0, 1], got [{arr.min():.3g}, {arr.max():.3g}]")
    return arr.astype(np.float32)


def load_array(p: Path, keys: tuple[str, ...]) -> np.ndarray:
    """One array from a .npy, or from a .npz by the first of ``keys`` present (else its only array).

    Object (pickled) arrays are refused: loading them would run arbitrary code."""
    try:
        if p.suffix.lower() == ".npz":
            with np.load(p, allow_pickle=False) as z:
                names = list(z.files)
                if not names:
                    raise DataError(p, "empty .npz archive")
                key = next((k for k in keys if k in names), names[0] if len(names) == 1 else None)
                if key is None:
                    raise DataError(p, f".npz holds {names}; expected one of {list(keys)} or a single array")
                return np.asarray(z[key])
        arr = np.load(p, mmap_mode="r", allow_pickle=False)
        n = int(np.prod(arr.shape))
        if n > MAX_ELEMENTS:
            raise DataError(p, f"absurd dimensions {arr.shape}")
        return np.asarray(arr)
    except DataError:
        raise
    except (ValueError, OSError, EOFError) as e:
        raise DataError(p, f"not a readable numpy array (truncated or corrupt: {e})") from None
    except Exception as e:  # zipfile.BadZipFile and friends from a damaged .npz
        raise DataError(p, f"not a readable numpy archive ({type(e).__name__}: {e})") from None
