"""Raw inputs for the Python API: file paths become samples with the real-data readers, so
``model.predict("mnist", ["a.png"])`` and ``model.embed("audio", [Path("a.wav")])`` work like the CLI.

A path is a :class:`pathlib.Path`, or a ``str`` for every modality except text (where a ``str`` is the text
itself). A ``(sample, text)`` pair (VQA, grounding, matching) has its first element read the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omnivec.errors import DataError, OmnivecError
from omnivec.types import Modality


def is_path(item: Any, modality: str) -> bool:
    return isinstance(item, Path) or (isinstance(item, str) and modality != Modality.TEXT)


def has_paths(items: Sequence[Any], modality: str) -> bool:
    return any(is_path(x, modality) or (isinstance(x, tuple) and x and is_path(x[0], modality)) for x in items)


def read_file(path: str | Path, modality: str, options: dict[str, Any]) -> Any:
    """One file -> one sample of ``modality``, decoded as ``options`` (ReadOptions fields) say."""
    from omnivec.data.readers import ReadOptions, read_sample
    from omnivec.data.readers.text import read_text

    p = Path(path)
    if not p.is_file():
        raise OmnivecError(f"input file {p} does not exist")
    opts = ReadOptions(**options)
    try:
        if modality == Modality.TEXT:  # any extension: the caller says it is text. Read as training reads a .txt:
            return read_text(p, opts.max_text_bytes)  # its first max_text_bytes, no BOM, stripped, blank refused
        return read_sample(p, modality, opts)
    except DataError as e:
        raise OmnivecError(str(e)) from None


def read_inputs(items: Sequence[Any], modality: str, options: dict[str, Any]) -> list[Any]:
    """``items`` with every path replaced by its decoded sample (other items unchanged)."""
    out: list[Any] = []
    for x in items:
        if is_path(x, modality):
            x = read_file(x, modality, options)
        elif isinstance(x, tuple) and x and is_path(x[0], modality):
            x = (read_file(x[0], modality, options), *x[1:])
        out.append(x)
    return out


def spatial_sizes(items: Sequence[Any], modality: str) -> list[tuple[int, int] | None]:
    """Each input's own (height, width) before the run's reader resizes it: an image file's from its header (no
    decoding), an image tensor's from its last two axes; None where there is none (other modalities, or a file
    that cannot be opened, which reading it reports)."""
    if modality != Modality.IMAGE:
        return [None] * len(items)
    from omnivec.data.readers.image import open_image

    sizes: list[tuple[int, int] | None] = []
    for x in items:
        x = x[0] if isinstance(x, tuple) and x else x
        if is_path(x, modality):
            try:
                with open_image(Path(x), x) as im:  # the header only
                    sizes.append((im.height, im.width))
            except (OSError, ValueError, DataError):
                sizes.append(None)
        elif hasattr(x, "shape") and len(x.shape) >= 2:
            sizes.append((int(x.shape[-2]), int(x.shape[-1])))
        else:
            sizes.append(None)
    return sizes
