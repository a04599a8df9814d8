"""``.npy`` and ``.npz`` arrays, read only after their header says what they cost.

A ``.npz`` is a zip of ``.npy`` members; numpy decompresses a member into an array of the size its header
declares, so a few hundred KB of compressed zeros can declare gigabytes. :func:`array_header` reads the header of
the member that would be loaded (and nothing else: no data is decompressed), and :func:`load_array` refuses an
array above its element limit before allocating it. Object (pickled) arrays are refused: loading them would run
arbitrary code.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import numpy as np

from omnivec.data.readers.validate import MAX_ARRAY_ELEMENTS, check_limit
from omnivec.errors import DataError


def _read_header(f: IO[bytes], p: Path) -> tuple[tuple[int, ...], np.dtype]:
    fmt = np.lib.format
    version = fmt.read_magic(f)
    if version == (1, 0):
        shape, _, dtype = fmt.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, _, dtype = fmt.read_array_header_2_0(f)
    else:
        raise DataError(p, f"unsupported .npy format version {version}")
    if dtype.hasobject:
        raise DataError(p, "object arrays are refused (loading them would unpickle, i.e. run code)")
    return tuple(int(n) for n in shape), dtype


def _member(z: zipfile.ZipFile, p: Path, keys: tuple[str, ...]) -> str:
    """The member of a .npz to read (numpy's key: the name without ``.npy``): the first of ``keys`` present,
    else its only array."""
    names = [n.removesuffix(".npy") for n in z.namelist()]
    if not names:
        raise DataError(p, "empty .npz archive")
    key = next((k for k in keys if k in names), names[0] if len(names) == 1 else None)
    if key is None:
        raise DataError(p, f".npz holds {names}; expected one of {list(keys)} or a single array")
    return key


def _header(p: Path, keys: tuple[str, ...]) -> tuple[tuple[int, ...], np.dtype, str]:
    if p.suffix.lower() == ".npz":
        with zipfile.ZipFile(p) as z:
            key = _member(z, p, keys)
            with z.open(key + ".npy" if key + ".npy" in z.namelist() else key) as f:
                return (*_read_header(f, p), key)
    with open(p, "rb") as f:
        return (*_read_header(f, p), "")


def array_header(p: Path, keys: tuple[str, ...]) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) of the array :func:`load_array` would read, from its header alone."""
    with _reading(p):
        shape, dtype, _ = _header(p, keys)
    return shape, dtype


def load_array(p: Path, keys: tuple[str, ...], max_elements: int = MAX_ARRAY_ELEMENTS) -> np.ndarray:
    """One array from a .npy, or from a .npz by the first of ``keys`` present (else its only array), refused
    before it is allocated when its header declares more than ``max_elements`` elements."""
    with _reading(p):
        shape, _, key = _header(p, keys)
        n = int(np.prod(shape, dtype=object))  # Python ints: a forged header cannot overflow the product
        check_limit(n, p, f"elements in the array of shape {shape}", max_elements, "max_array_elements")
        if key:
            with np.load(p, allow_pickle=False) as z:
                return np.asarray(z[key])
        return np.asarray(np.load(p, mmap_mode="r", allow_pickle=False))


@contextmanager
def _reading(p: Path) -> Iterator[None]:
    """numpy's and zipfile's errors as one DataError naming the file."""
    try:
        yield
    except DataError:
        raise
    except (ValueError, OSError, EOFError) as e:
        raise DataError(p, f"not a readable numpy array (truncated or corrupt: {e})") from None
    except Exception as e:  # zipfile.BadZipFile and friends from a damaged .npz
        raise DataError(p, f"not a readable numpy archive ({type(e).__name__}: {e})") from None
