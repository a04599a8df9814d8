"""Embeddings with identity: files (or folders) of one modality -> vectors that keep each input's id, path and
label, in one ``.npz`` file (a run of either family: a UnIVAL model embeds with its shared encoders + trunk).

A vectors file holds the arrays

    vectors   (N, D) float32   one row per input, in the order of ``ids``
    ids       (N,) str         the input's path relative to the folder given (``name.txt:3`` for line 3 of a text file)
    paths     (N,) str         the absolute path it was read from
    labels    (N,) str         the class subfolder it sits in (``FOLDER/<label>/file``), else ""
    meta      () str           JSON: modality, space (``trunk`` or ``task:<name>``), run, dim

and, written by ``omnivec index``, ``thumbnails`` (N, 64, 64, 3) uint8 for image inputs. Only numpy's own
string and number arrays are stored, so ``np.load`` reads it without pickle (no code runs on load).

``space`` says which vectors these are: the vectorizer's (``trunk``), or a retrieval task's projection
(``task:fsdd-mnist``), where the task's two modalities were trained to meet -- the only space in which an audio
vector and an image vector are comparable.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from omnivec.errors import DataError, OmnivecError
from omnivec.types import Modality

TRUNK = "trunk"
"""The space of the vectorizer's output (no task projection)."""


@dataclass
class Embeddings:
    """Vectors of one modality with the identity of every input (see the module docstring for the file)."""

    vectors: np.ndarray
    ids: list[str]
    paths: list[str]
    labels: list[str]
    modality: str
    space: str = TRUNK
    run: str = ""
    thumbnails: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        n = len(self.vectors)
        if not (len(self.ids) == len(self.paths) == len(self.labels) == n):
            raise OmnivecError(f"embeddings: {n} vectors but {len(self.ids)} ids, {len(self.paths)} paths")

    @property
    def task(self) -> str | None:
        """The retrieval task whose projection made these vectors, or None for the trunk's space."""
        return self.space.removeprefix("task:") if self.space.startswith("task:") else None

    def save(self, path: str | Path) -> None:
        from omnivec.training.checkpoint import atomic_write

        path = Path(path)
        if path.suffix != ".npz":
            raise OmnivecError(f"{path}: vectors are written as one .npz (vectors, ids, paths); name it *.npz")
        meta = {"modality": self.modality, "space": self.space, "run": self.run, "dim": int(self.vectors.shape[1])}
        arrays: dict[str, np.ndarray] = {
            "vectors": np.ascontiguousarray(self.vectors, dtype=np.float32),
            "ids": np.array(self.ids, dtype=str),
            "paths": np.array(self.paths, dtype=str),
            "labels": np.array(self.labels, dtype=str),
            "meta": np.array(json.dumps(meta)),
        }
        if self.thumbnails is not None:
            arrays["thumbnails"] = self.thumbnails

        def write(p: Path) -> None:
            with open(p, "wb") as f:  # a file handle: savez would append ".npz" to the temporary name
                np.savez(f, **arrays)  # type: ignore[arg-type]

        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, write)

    @classmethod
    def load(cls, path: str | Path) -> Embeddings:
        path = Path(path)
        if not path.is_file():
            raise OmnivecError(f"vectors file {path} does not exist")
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                thumbs = z["thumbnails"] if "thumbnails" in z.files else None
                return cls(
                    z["vectors"].astype(np.float32),
                    [str(x) for x in z["ids"]],
                    [str(x) for x in z["paths"]],
                    [str(x) for x in z["labels"]],
                    meta["modality"],
                    meta.get("space", TRUNK),
                    meta.get("run", ""),
                    thumbs,
                )
        except (KeyError, ValueError, OSError) as e:
            raise OmnivecError(f"{path} is not a vectors file written by `omnivec embed` or `index`: {e}") from None


@dataclass(frozen=True)
class Source:
    """Where one sample came from."""

    path: Path
    id: str
    label: str = ""
    line: int = -1
    """For a text file holding one text per line: which line (0-based); -1 for a whole file."""


def _wanted(path: Path, modality: str) -> bool:
    """Whether a file found in a folder is an input of ``modality`` (by extension; ``.npy``/``.npz``/``.txt``
    are ambiguous and taken for the modalities that can store them)."""
    from omnivec.data.readers.sample import ARRAY_EXTS, BUILT_IN, TEXT_EXTS, extension, modality_of

    if modality not in BUILT_IN:
        return not path.name.startswith(".")
    mod = modality_of(path)
    if mod is not None:
        return mod.value == modality
    ext = extension(path)
    return (ext in TEXT_EXTS and modality in ("text", "points")) or (ext in ARRAY_EXTS and modality != "text")


def collect_sources(inputs: Sequence[str | Path], modality: str) -> list[Source]:
    """Files and folders -> one :class:`Source` per file (sorted within a folder); a folder's files take the
    label of the class subfolder they sit in. A missing input is an error naming it."""
    out: list[Source] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            for f in sorted(x for x in p.rglob("*") if x.is_file() and _wanted(x, modality)):
                rel = f.relative_to(p)
                out.append(Source(f.resolve(), rel.as_posix(), rel.parts[0] if len(rel.parts) > 1 else ""))
        elif p.is_file():
            out.append(Source(p.resolve(), p.name))
        else:
            raise OmnivecError(f"input file {p} does not exist")
    return out


def read_sources(sources: Sequence[Source], modality: str, model: Any) -> tuple[list[Any], list[Source]]:
    """Decode every source; a ``.txt`` text file holds one text per line, so it becomes one source per line."""
    from omnivec.data import readers

    samples: list[Any] = []
    kept: list[Source] = []
    opts = readers.ReadOptions(**model.read_options(modality))
    for s in sources:
        if modality == Modality.TEXT and s.path.suffix.lower() in (".txt", ""):
            try:  # -sig: a byte-order mark is no part of the first line (training's reader drops it too)
                text = s.path.read_text(encoding="utf-8-sig")
            except UnicodeDecodeError as e:
                raise OmnivecError(f"{s.path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
            lines = [(i, x.strip()) for i, x in enumerate(text.splitlines()) if x.strip()]
            if not lines:
                raise OmnivecError(f"{s.path}: no text to embed (the file is empty or blank)")
            samples += [x for _, x in lines]
            kept += [Source(s.path, f"{s.id}:{i + 1}", s.label, i) for i, _ in lines]
            continue
        try:
            samples.append(readers.read_sample(s.path, modality, opts))
        except DataError as e:
            raise OmnivecError(str(e)) from None
        kept.append(s)
    return samples, kept


def embed_samples(model: Any, modality: str, samples: Sequence[Any], task: str | None = None) -> torch.Tensor:
    """(N, D) vectors of decoded samples; through ``task``'s retrieval projection when given (OmniVec runs)."""
    if task is None:
        return model.embed(modality, samples)
    if getattr(model, "family", "") != "omnivec":
        raise OmnivecError("a UnIVAL run has no retrieval task to project through; embed without --task")
    return model.embed(modality, samples, task=task)


def embed_inputs(
    model: Any, modality: str, inputs: Sequence[str | Path], task: str | None = None, batch_size: int = 64
) -> Embeddings:
    """Files and folders of ``modality`` -> their :class:`Embeddings` (in the trunk's space, or ``task``'s)."""
    samples, sources = read_sources(collect_sources(inputs, modality), modality, model)
    if not samples:
        raise OmnivecError(f"no {modality} inputs to embed in {', '.join(map(str, inputs))}")
    chunks = [
        embed_samples(model, modality, samples[i : i + batch_size], task) for i in range(0, len(samples), batch_size)
    ]
    vectors = torch.cat(chunks).float().cpu()
    if not bool(torch.isfinite(vectors).all()):
        rows = (~torch.isfinite(vectors)).any(1).nonzero().flatten().tolist()
        bad = sources[rows[0]].id
        raise OmnivecError(f"embeddings of {len(rows)} input(s) are not finite (NaN or inf), first of {bad}")
    return Embeddings(
        vectors.numpy(),
        [s.id for s in sources],
        [str(s.path) for s in sources],
        [s.label for s in sources],
        modality,
        f"task:{task}" if task else TRUNK,
        str(Path(getattr(model, "run_dir", "")).resolve()) if getattr(model, "run_dir", None) else "",
    )


def embed_files(model: Any, modality: str, paths: list[Path], batch_size: int = 64) -> np.ndarray:
    """The bare (N, D) vectors of files (the Python API's shortcut; ``embed_inputs`` keeps the identities)."""
    return embed_inputs(model, modality, paths, batch_size=batch_size).vectors
