"""IDX files (the MNIST / Fashion-MNIST format), gzipped or raw.

Layout (LeCun et al., http://yann.lecun.com/exdb/mnist/): a 4-byte magic ``00 00 <type> <ndim>``, then
``ndim`` big-endian uint32 dimensions, then the data row-major and big-endian. The header is validated before
anything is allocated: an absurd or inconsistent header is a :class:`DataError`, never a MemoryError.
"""

from __future__ import annotations

import gzip
import io
import math
import struct
import zlib
from typing import BinaryIO

import numpy as np

from omnivec.data.readers.validate import MAX_ELEMENTS, existing_file
from omnivec.data.root import StrPath
from omnivec.errors import DataError

IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAX_RATIO = 1100
"""deflate cannot compress better than ~1032:1: a gzipped IDX declaring more data has a bad header."""


def _read_exact(f: BinaryIO, n: int, path: StrPath, what: str) -> bytes:
    data = f.read(n)
    if len(data) < n:
        raise DataError(path, f"truncated file: {what} needs {n} bytes, only {len(data)} present")
    return data


def read_idx(path: StrPath, expect_ndim: int | None = None) -> np.ndarray:
    """Read an IDX file into a native-endian numpy array. Gzip is detected from the content, not the name."""
    p = existing_file(path)
    size = p.stat().st_size
    with open(p, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    try:
        with open(p, "rb") as raw:
            f: BinaryIO = gzip.GzipFile(fileobj=raw) if gzipped else raw  # type: ignore[assignment]
            magic = _read_exact(f, 4, p, "the magic number")
            if magic[0] != 0 or magic[1] != 0 or magic[2] not in IDX_TYPES or magic[3] == 0:
                raise DataError(
                    p, f"wrong magic {magic.hex(' ')}: not an IDX file (expected 00 00 <type 08-0e> <ndim>)"
                )
            dtype, ndim = IDX_TYPES[magic[2]], magic[3]
            if expect_ndim is not None and ndim != expect_ndim:
                raise DataError(p, f"IDX has {ndim} dimensions, expected {expect_ndim}")
            dims = struct.unpack(f">{ndim}I", _read_exact(f, 4 * ndim, p, f"the {ndim} dimensions"))
            count = math.prod(dims)
            nbytes = count * dtype.itemsize
            if count == 0:
                raise DataError(p, f"IDX declares an empty array {dims}")
            if count > MAX_ELEMENTS:
                raise DataError(p, f"absurd dimensions {dims}: {count:,} elements (limit {MAX_ELEMENTS:,})")
            if not gzipped and nbytes != size - 4 - 4 * ndim:
                have = size - 4 - 4 * ndim
                kind = "truncated file" if have < nbytes else "trailing bytes"
                raise DataError(p, f"{kind}: dims {dims} declare {nbytes:,} data bytes, file holds {have:,}")
            if gzipped and nbytes > GZIP_MAX_RATIO * size:
                raise DataError(
                    p, f"absurd dimensions {dims}: {nbytes:,} bytes can't come from a {size:,}-byte gzip file"
                )
            data = _read_exact(f, nbytes, p, f"dims {dims}")
            if f.read(1):
                raise DataError(p, f"trailing bytes after the {nbytes:,} data bytes declared by dims {dims}")
    except (EOFError, gzip.BadGzipFile, zlib.error, io.UnsupportedOperation) as e:
        raise DataError(p, f"corrupt or truncated gzip stream ({e})") from None
    arr = np.frombuffer(data, dtype=dtype).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))  # a writable native-endian copy (torch.from_numpy needs one)


def write_idx(path: StrPath, arr: np.ndarray, compress: bool | None = None) -> None:
    """Write ``arr`` as IDX (gzipped if ``compress`` or the name ends in .gz). Used by tests and caches."""
    codes = {v.newbyteorder("="): k for k, v in IDX_TYPES.items()}
    native = arr.dtype.newbyteorder("=")
    if native not in codes:
        raise ValueError(f"IDX cannot store dtype {arr.dtype}")
    code = codes[native]
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    payload = header + np.ascontiguousarray(arr).astype(IDX_TYPES[code]).tobytes()
    if compress is None:
        compress = str(path).endswith(".gz")
    with open(path, "wb") as f:
        f.write(gzip.compress(payload) if compress else payload)
