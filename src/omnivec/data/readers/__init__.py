"""Readers: one file of a standard format -> one sample (the contract of :mod:`omnivec.data.base`), shared by the
named datasets and bring-your-own folders. Every failure is ``DataError(path, reason)``, never a bare library
exception.

=============  ============================================================================================
sample.py      :func:`read_sample` (dispatch on the extension), :class:`ReadOptions`, the extension sets
image.py       PNG/JPEG/BMP/GIF/WebP -> (C, H, W)
audio.py       WAV/FLAC/OGG -> mono (L,), resampled (:mod:`omnivec.data.resample`)
text.py        CSV/TSV/JSONL tables -> row dicts; .txt -> one text sample
video.py       MP4/AVI/WebM/MKV/MOV (PyAV) and frame arrays -> (C, T, H, W)
points.py      OFF/PLY/XYZ meshes and clouds, .npy/.npz -> (P, 3)
idx.py         IDX (the MNIST format), gzipped or raw
validate.py    the checks every reader runs first (non-empty file, sane counts, finite values)
inputs.py      the Python API's raw inputs: file paths among them read as samples (``model.embed(m, paths)``)
=============  ============================================================================================

The names below are this package's public interface; the video and point-cloud readers are imported from their
modules (they load PyAV and friends, which most callers never need).
"""

from omnivec.data.readers.audio import read_audio, read_audio_native
from omnivec.data.readers.image import decode_image, read_image
from omnivec.data.readers.sample import (
    ARRAY_EXTS,
    AUDIO_EXTS,
    IMAGE_EXTS,
    KNOWN_EXTS,
    POINT_EXTS,
    TABLE_EXTS,
    TEXT_EXTS,
    VIDEO_EXTS,
    ReadOptions,
    extension,
    modality_of,
    read_sample,
    unknown_extension,
)
from omnivec.data.readers.text import read_table, read_text

__all__ = [
    "ARRAY_EXTS",
    "AUDIO_EXTS",
    "IMAGE_EXTS",
    "KNOWN_EXTS",
    "POINT_EXTS",
    "TABLE_EXTS",
    "TEXT_EXTS",
    "VIDEO_EXTS",
    "ReadOptions",
    "decode_image",
    "extension",
    "modality_of",
    "read_audio",
    "read_audio_native",
    "read_image",
    "read_sample",
    "read_table",
    "read_text",
    "unknown_extension",
]
