"""Writers of crafted input files, small on disk and costly (or wrong) once decoded: the hostile inputs of issue
25. Shared by tests/data/test_bounded_inputs.py, tests/test_run_guards.py and the crafted-input benchmark
(bench/crafted_inputs.py), so the cases the tests check are the cases the benchmark measures."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image


def wav_with_rate(path: Path, rate: int, frames: int, channels: int = 1) -> Path:
    """A 16-bit WAV of noise; rates libsndfile will not write (2^31-1) are patched into the header."""
    noise = (np.random.default_rng(0).standard_normal((frames, channels)) * 3000).astype(np.int16)
    sf.write(path, noise, 8000, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    assert data[12:16] == b"fmt "
    data[24:28] = struct.pack("<I", rate)
    data[28:32] = struct.pack("<I", (rate * 2 * channels) % (1 << 32))  # byte rate
    path.write_bytes(bytes(data))
    return path


def silent_flac(path: Path, seconds: int = 600, rate: int = 96000, channels: int = 2) -> Path:
    """``seconds`` of silence: ~220 KB on disk for 10 minutes of 96 kHz stereo (57.6 M frames)."""
    with sf.SoundFile(path, "w", rate, channels, format="FLAC") as f:
        block = np.zeros((rate * 10, channels), np.float32)
        for _ in range(seconds // 10):
            f.write(block)
    return path


def npz_of_zeros(path: Path, shape: tuple[int, ...], key: str = "frames") -> Path:
    """A real .npz whose member decompresses to ``shape`` uint8 zeros, written in 1 MB pieces."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": shape})
    chunk = bytes(1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z, z.open(f"{key}.npy", "w", force_zip64=True) as f:
        f.write(header.getvalue())
        left = int(np.prod(shape))
        while left:
            f.write(chunk[: min(left, len(chunk))])
            left -= min(left, len(chunk))
    return path


def npy_declaring(path: Path, shape: tuple[int, ...], descr: str = "<f4") -> Path:
    """An .npy whose header declares ``shape`` over 64 bytes of data."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": descr, "fortran_order": False, "shape": shape})
    path.write_bytes(header.getvalue() + bytes(64))
    return path


def png_declaring(path: Path, width: int, height: int) -> Path:
    """A real 1 x 1 PNG whose IHDR (and its CRC) is patched to declare ``width`` x ``height``."""
    buf = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    ihdr = 8 + 8  # signature, then the IHDR chunk's length and type
    data[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    data[ihdr + 13 : ihdr + 17] = struct.pack(">I", zlib.crc32(bytes(data[ihdr - 4 : ihdr + 13])))
    path.write_bytes(bytes(data))
    return path


def png_of_zeros(path: Path, width: int, height: int) -> Path:
    """A real gray PNG of ``width`` x ``height`` zeros: a decompression bomb of ~1000:1 (32 KB per 32 Mpixel)."""
    Image.new("L", (width, height)).save(path, optimize=True)
    return path


OTHER_FORMATS = ["EPS", "TGA", "PCX", "ICO", "PPM", "TIFF", "SGI", "DDS"]
"""Formats Pillow decodes that the project does not document (EPS reaches Ghostscript)."""


def other_format(fmt: str) -> bytes:
    """A 16 x 16 image in Pillow format ``fmt``."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(buf, format=fmt)
    return buf.getvalue()


def gray16_png(path: Path) -> Path:
    """An 8 x 8 16-bit gray PNG of values up to 63,000 (``I;16``; RGB runs used to clip it white)."""
    values = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000).astype(np.uint16)
    Image.fromarray(values).save(path)
    return path


PLY = "ply\nformat {fmt} 1.0\nelement vertex 3\n{props}end_header\n"
POINT_FILES: dict[str, tuple[str | bytes, str]] = {
    "duplicate.ply": (
        PLY.format(fmt="binary_little_endian", props="property float x\nproperty float x\nproperty float z\n").encode()
        + bytes(36),
        "declares the property 'x' twice",
    ),
    "duplicate_ascii.ply": (
        PLY.format(fmt="ascii", props="property float x\nproperty float y\nproperty float y\nproperty float z\n")
        + "0 0 0 0\n1 0 0 0\n0 1 1 0\n",
        "declares the property 'y' twice",
    ),
    "empty_property.ply": (
        PLY.format(fmt="ascii", props="property\nproperty float x\nproperty float y\nproperty float z\n")
        + "0 0 0\n1 0 0\n0 1 0\n",
        "bad PLY property line 'property'",
    ),
    "unknown_type.ply": (
        PLY.format(fmt="ascii", props="property quad x\nproperty float y\nproperty float z\n")
        + "0 0 0\n1 0 0\n0 1 0\n",
        "unknown type 'quad'",
    ),
    "huge_index.off": ("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 100000000000000000000000\n", "outside 0..2"),
}
"""Point files whose headers or face indices crashed the reader: name -> (content, what the DataError says)."""


def write_point_file(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path
