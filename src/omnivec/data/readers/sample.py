"""One file -> one sample: the extensions each modality reads, :class:`ReadOptions`, and :func:`read_sample`,
which dispatches on the extension to the format readers of this package (image, audio, text, video, points).

Every reader returns a sample in the contract of :mod:`omnivec.data.base` and raises
``DataError(path, reason)`` with a specific reason (empty, truncated, wrong format, non-finite values,
absurd dimensions, unknown extension) — never a bare library exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omnivec.data.readers.audio import read_audio
from omnivec.data.readers.image import read_image
from omnivec.data.readers.text import read_text
from omnivec.data.readers.validate import (
    MAX_ARRAY_ELEMENTS,
    MAX_AUDIO_SAMPLES,
    MAX_IMAGE_PIXELS,
    MAX_TEXT_BYTES,
    MAX_VIDEO_ELEMENTS,
)
from omnivec.data.root import StrPath
from omnivec.errors import DataError
from omnivec.types import Modality

IMAGE_EXTS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"})
AUDIO_EXTS = frozenset({".wav", ".flac", ".ogg"})
VIDEO_EXTS = frozenset({".mp4", ".avi", ".webm", ".mkv", ".mov"})
POINT_EXTS = frozenset({".off", ".ply", ".xyz"})
TABLE_EXTS = frozenset({".csv", ".tsv", ".jsonl"})
ARRAY_EXTS = frozenset({".npy", ".npz"})  # video frames or point clouds: decided by shape or the caller
TEXT_EXTS = frozenset({".txt"})  # a text sample, or an xyz point cloud when the caller says points


@dataclass(frozen=True)
class ReadOptions:
    """How raw files become samples; one set per task so every sample of a task has the same shape."""

    image_size: int | None = None
    """Resize images to image_size x image_size (bilinear); None keeps the file's size."""
    channels: int | None = None
    """1 (gray) or 3 (RGB); None keeps gray images gray and turns everything else into RGB."""
    sample_rate: int = 16000
    """Audio is mixed to mono and resampled to this rate (Hz)."""
    num_frames: int = 8
    """Video frames kept, sampled uniformly over the clip."""
    video_size: int | None = 64
    """Video frames resized to video_size x video_size; None keeps the size."""
    num_points: int = 1024
    """Point clouds are resampled to this many points."""
    seed: int = 0
    """Seeds point resampling, so the same file always gives the same points."""
    max_audio_samples: int = MAX_AUDIO_SAMPLES
    """Most audio samples one file may decode to (frames x channels, and the resampled length), from the header."""
    max_image_pixels: int = MAX_IMAGE_PIXELS
    """Most pixels (width x height, from the header) of one image or one video frame."""
    max_video_elements: int = MAX_VIDEO_ELEMENTS
    """Most decoded video values kept before temporal sampling (frames x height x width x 3)."""
    max_array_elements: int = MAX_ARRAY_ELEMENTS
    """Most elements of the array read from a ``.npy``/``.npz`` (from its header, before it is read)."""
    max_text_bytes: int = MAX_TEXT_BYTES
    """Bytes read from a text file; the rest is not read (the model keeps its first max_length tokens)."""


def extension(path: StrPath) -> str:
    return Path(path).suffix.lower()


def modality_of(path: StrPath) -> Modality | None:
    """The modality an extension implies, or None for the ambiguous ones (.npy/.npz/.txt) and unknown ones."""
    ext = extension(path)
    for exts, mod in (
        (IMAGE_EXTS, Modality.IMAGE),
        (AUDIO_EXTS, Modality.AUDIO),
        (VIDEO_EXTS, Modality.VIDEO),
        (POINT_EXTS, Modality.POINTS),
    ):
        if ext in exts:
            return mod
    return None


KNOWN_EXTS = IMAGE_EXTS | AUDIO_EXTS | VIDEO_EXTS | POINT_EXTS | ARRAY_EXTS | TEXT_EXTS


def unknown_extension(path: StrPath) -> DataError:
    known = " ".join(sorted(KNOWN_EXTS))
    return DataError(path, f"unknown extension {extension(path)!r}; expected one of: {known}")


BUILT_IN = frozenset(m.value for m in Modality)
"""The modalities these readers decode; any other is read by its registered encoder's ``read_file``."""


def read_registered(path: StrPath, modality: str, opts: ReadOptions) -> Any:
    """A file of a modality added by registering an encoder: its class's ``read_file`` reads it."""
    import dataclasses

    from omnivec.nn.encoders import ENCODERS

    for name in ENCODERS.names():
        cls = ENCODERS.get(name)
        if cls.modality == modality:
            if cls.file_extensions and extension(path) not in cls.file_extensions:
                raise DataError(path, f"a {modality} file must end in {', '.join(cls.file_extensions)}")
            return cls.read_file(path, dataclasses.asdict(opts))
    raise DataError(path, f"no registered encoder reads {modality!r} files")


def read_sample(path: StrPath, modality: Modality | str | None = None, opts: ReadOptions | None = None) -> Any:
    """Read one file as a sample of ``modality`` (default: from the extension; .npy/.npz need it or are
    guessed from the array's shape)."""
    from omnivec.data.readers.points import guess_array_modality, read_points  # PyAV and friends load on use
    from omnivec.data.readers.video import read_video

    opts = opts or ReadOptions()
    if modality is not None and modality not in BUILT_IN:
        return read_registered(path, str(modality), opts)
    ext = extension(path)
    if ext not in KNOWN_EXTS:
        raise unknown_extension(path)
    mod = Modality(modality) if modality is not None else modality_of(path)
    if mod is None and ext in ARRAY_EXTS:
        mod = guess_array_modality(path)
    if mod is None:  # .txt without a modality
        mod = Modality.TEXT
    if mod is Modality.IMAGE and ext in IMAGE_EXTS:
        return read_image(path, opts.image_size, opts.channels, opts.max_image_pixels)
    if mod is Modality.AUDIO and ext in AUDIO_EXTS:
        return read_audio(path, opts.sample_rate, opts.max_audio_samples)
    if mod is Modality.VIDEO and ext in VIDEO_EXTS | ARRAY_EXTS:
        return read_video(
            path,
            opts.num_frames,
            opts.video_size,
            opts.max_image_pixels,
            opts.max_video_elements,
            opts.max_array_elements,
        )
    if mod is Modality.POINTS and ext in POINT_EXTS | ARRAY_EXTS | TEXT_EXTS:
        return read_points(path, opts.num_points, opts.seed, opts.max_array_elements)
    if mod is Modality.TEXT and ext in TEXT_EXTS:
        return read_text(path, opts.max_text_bytes)
    raise DataError(path, f"a {ext} file cannot be read as {mod.value}")
