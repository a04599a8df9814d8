"""Bring-your-own data: a folder of class subfolders, or a CSV/JSONL manifest, as a lazy dataset.

``load_byo(path)`` accepts either:

* a folder ``root/<class>/<file>``; the modality comes from the files' extensions (one modality per folder),
* a manifest (.csv/.tsv/.jsonl) with a path column (files, relative to the manifest's folder, and refused
  when they resolve outside it) or a text column, and a label column; defaults ``path`` / ``text`` / ``label``.

For unlabelled use (masked pretraining), ``load_byo(path, require_labels=False)`` also accepts a flat folder
(files directly in ``root``: every file below it is read, sub-folders included) and a manifest without a label
column. Such a dataset is marked unlabelled by ``class_names == []``, every target being the one pseudo-class
0 (:attr:`FolderDataset.labelled` is False); a folder of class subfolders keeps its classes either way.

Class names are sorted; ``__getitem__`` reads the file and returns ``(sample, class_index)``. A bad file gives
``(Skipped(path, reason), class_index)`` (or raises :class:`DataError` when ``strict``), so one corrupt file
costs one sample, not the run: the collate step drops it (:func:`omnivec.data.base.drop_skipped`) and reports it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from omnivec.data.base import Skipped
from omnivec.data.readers import (
    ARRAY_EXTS,
    KNOWN_EXTS,
    TABLE_EXTS,
    TEXT_EXTS,
    ReadOptions,
    extension,
    modality_of,
    read_sample,
    read_table,
)
from omnivec.data.readers.points import guess_array_modality
from omnivec.data.readers.validate import inside
from omnivec.data.root import StrPath
from omnivec.errors import DataError, OmnivecError
from omnivec.types import Modality

IGNORED_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}


class FolderDataset(Dataset):
    """Lazy ``(sample, class_index)`` pairs; ``items`` are (file path or text, class index)."""

    def __init__(
        self,
        items: Sequence[tuple[str, int]],
        modality: Modality,
        class_names: Sequence[str],
        opts: ReadOptions | None = None,
        strict: bool = False,
        name: str = "",
        inline_text: bool = False,
        root: str | None = None,
    ) -> None:
        self.items = list(items)
        self.modality = modality
        self.class_names = list(class_names)
        self.opts = opts or ReadOptions()
        self.strict = strict
        self.name = name
        self.inline_text = inline_text
        """True when items hold the text itself (a manifest's text column) rather than file paths."""
        self.root = root
        """A manifest's folder: every file must resolve inside it (else the row is skipped, never opened);
        None for a folder's own files."""

    def read(self, item: str) -> Any:
        """One file as a sample (DataError when unreadable, or when it resolves outside :attr:`root`)."""
        path = inside(self.root, item) if self.root is not None else item
        return read_sample(path, self.modality, self.opts)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def labelled(self) -> bool:
        """False for an unlabelled set (a flat folder, a manifest without labels): no class names, target 0."""
        return bool(self.class_names)

    @property
    def targets(self) -> list[int]:
        return [t for _, t in self.items]

    def __getitem__(self, i: int) -> tuple[Any, int]:
        item, target = self.items[i]
        if self.inline_text:
            return item, target
        try:
            return self.read(item), target
        except DataError as e:
            if self.strict:
                raise
            return Skipped(e.path, e.reason), target


def _is_data_file(p: Path) -> bool:
    return p.is_file() and not p.name.startswith(".") and p.name not in IGNORED_NAMES


def _data_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if _is_data_file(p))


def file_modality(path: StrPath) -> Modality | None:
    """The modality of a file from its extension: .txt is text, a .npy/.npz array video or points by its shape
    (its header is read; a corrupt one is a DataError), an unknown extension None."""
    ext = extension(path)
    mod = modality_of(path)
    if mod is None and ext in ARRAY_EXTS:
        return guess_array_modality(path)
    if mod is None and ext in TEXT_EXTS:
        return Modality.TEXT
    return mod


def _folder_modality(files: list[Path], root: Path, modality: Modality | str | None) -> Modality:
    if modality is not None:
        return Modality(modality)
    found: Counter[Modality] = Counter()
    examples: dict[Modality, Path] = {}
    for p in files:
        try:
            mod = file_modality(p)
        except DataError:
            continue  # a corrupt array says nothing about the folder; it is skipped when read
        if mod is not None:
            found[mod] += 1
            examples.setdefault(mod, p)
    if not found:
        raise DataError(root, f"no readable files found; known extensions: {' '.join(sorted(KNOWN_EXTS))}")
    if len(found) > 1:
        detail = ", ".join(f"{n} {m.value} (e.g. {examples[m].relative_to(root)})" for m, n in found.most_common())
        raise DataError(root, f"one modality per folder, found {detail}; split it, or choose one (--modality)")
    return next(iter(found))


def from_folder(
    path: StrPath,
    modality: Modality | str | None = None,
    opts: ReadOptions | None = None,
    strict: bool = False,
    require_labels: bool = True,
) -> FolderDataset:
    """``path/<class>/**/<file>`` -> FolderDataset, class names sorted. Files with an unknown extension are
    kept (and become Skipped with the reason when read), so nothing vanishes silently.

    ``require_labels=False`` (unlabelled use): a folder holding files of a known extension directly is read
    whole as one unlabelled set (``class_names == []``, every target 0), its sub-folders included, so no file
    is dropped for lying beside a sub-folder; a folder of class subfolders only keeps its classes."""
    root = Path(path)
    if not root.is_dir():
        raise DataError(root, "not a folder")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    flat = any(_is_data_file(p) and extension(p) in KNOWN_EXTS for p in root.iterdir())
    if not require_labels and (flat or not classes):
        files = _data_files(root)
        if not files:
            raise DataError(root, "empty folder (expected files of one modality, flat or in class subfolders)")
        mod = _folder_modality(files, root, modality)
        return FolderDataset([(str(p), 0) for p in files], mod, [], opts, strict, root.name)
    if not classes:
        raise DataError(root, "no class subfolders (expected root/<class>/<files>)")
    per_class = {c: _data_files(root / c) for c in classes}
    empty = [c for c, fs in per_class.items() if not fs]
    if empty:
        raise DataError(root, f"class folder(s) without files: {empty}")
    mod = _folder_modality([p for fs in per_class.values() for p in fs], root, modality)
    items = [(str(p), k) for k, c in enumerate(classes) for p in per_class[c]]
    return FolderDataset(items, mod, classes, opts, strict, root.name)


def from_manifest(
    path: StrPath,
    *,
    path_column: str = "path",
    text_column: str = "text",
    label_column: str = "label",
    modality: Modality | str | None = None,
    opts: ReadOptions | None = None,
    strict: bool = False,
    require_labels: bool = True,
) -> FolderDataset:
    """A CSV/TSV/JSONL manifest with a ``path_column`` (files, relative to the manifest) or a ``text_column``,
    and a ``label_column``. Files must resolve inside the manifest's folder: a row whose path is absolute
    elsewhere, escapes with ``..`` or is a symbolic link out of it is skipped with its reason, never opened.
    The manifest itself must parse: broken quoting is a DataError naming the line.
    ``require_labels=False``: a manifest without the label column is one unlabelled set (as a flat folder)."""
    manifest = Path(path)
    rows = read_table(manifest)
    columns = list(rows[0])
    labelled = label_column in columns
    if not labelled and require_labels:
        raise DataError(manifest, f"no label column {label_column!r}; columns are {columns}")
    if path_column in columns:
        key, inline = path_column, False
    elif text_column in columns:
        key, inline = text_column, True
    else:
        raise DataError(manifest, f"needs a {path_column!r} or {text_column!r} column; columns are {columns}")
    for n, r in enumerate(rows, 2):
        if not isinstance(r.get(key), str) or (labelled and not str(r.get(label_column, "")).strip()):
            raise DataError(manifest, f"row {n}: {key!r} must be a string and {label_column!r} non-empty")
    classes = sorted({str(r[label_column]) for r in rows}) if labelled else []
    index = {c: i for i, c in enumerate(classes)}
    targets = [index[str(r[label_column])] if labelled else 0 for r in rows]  # unlabelled: pseudo-class 0
    base = manifest.parent
    if inline:
        items = [(str(r[key]), t) for r, t in zip(rows, targets)]
        return FolderDataset(items, Modality.TEXT, classes, opts, strict, manifest.stem, inline_text=True)
    paths = [base / r[key] for r in rows]  # an absolute path stays itself, and must still lie inside base
    items = [(str(p), t) for p, t in zip(paths, targets)]
    mod = _folder_modality([p for p in paths if _inside(base, p) and p.is_file()], manifest, modality)
    return FolderDataset(items, mod, classes, opts, strict, manifest.stem, root=str(base))


def _inside(root: Path, path: Path) -> bool:
    try:
        inside(root, path)
        return True
    except DataError:
        return False


def load_byo(path: StrPath, **kwargs: Any) -> FolderDataset:
    """A folder (class subfolders; or flat, with ``require_labels=False``) or a manifest file, chosen by what
    ``path`` is."""
    p = Path(path)
    if p.is_dir():
        return from_folder(p, **kwargs)
    if p.is_file() and extension(p) in TABLE_EXTS:
        return from_manifest(p, **kwargs)
    if not p.exists():
        raise DataError(p, "no such file or folder")
    raise OmnivecError(f"{p}: expected a folder of class subfolders or a .csv/.tsv/.jsonl manifest")


class SkipLog:
    """Collects skipped files over a run (each path once) and renders a report: count + path: reason."""

    def __init__(self) -> None:
        self.skipped: dict[str, str] = {}

    def add(self, items: Sequence[Skipped]) -> None:
        for s in items:
            self.skipped.setdefault(s.path, s.reason)

    def __len__(self) -> int:
        return len(self.skipped)

    def report(self, limit: int = 20) -> str:
        if not self.skipped:
            return "no files skipped"
        lines = [f"skipped {len(self.skipped)} unreadable file(s):"]
        lines += [f"  {p}: {r}" for p, r in list(self.skipped.items())[:limit]]
        if len(self.skipped) > limit:
            lines.append(f"  ... and {len(self.skipped) - limit} more")
        return "\n".join(lines)


def export_image_folder(dataset: Any, class_names: list[str], root: Path) -> int:
    """Write an image classification split as PNGs in class subfolders (the bring-your-own layout)."""
    from PIL import Image

    for i in range(len(dataset)):
        x, y = dataset[i]
        px = (torch.as_tensor(x, dtype=torch.float32).clamp(0, 1) * 255).round().to(torch.uint8)
        arr = px[0].numpy() if px.shape[0] == 1 else px.permute(1, 2, 0).numpy()
        folder = root / class_names[int(y)]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr).save(folder / f"{i:05d}.png")
    return len(dataset)


def scan(ds: FolderDataset) -> list[Skipped]:
    """Read every file once and return the unreadable ones, whatever ``ds.strict`` says."""
    bad = []
    for item, _ in [] if ds.inline_text else ds.items:
        try:
            ds.read(item)
        except DataError as e:
            bad.append(Skipped(e.path, e.reason))
    return bad


def require_readable(ds: FolderDataset, where: StrPath) -> None:
    """Refuse, naming ``where``, a dataset none of whose files reads (the first failures say why). Files are
    tried in order until one reads, so a healthy folder costs one read."""
    if ds.inline_text:
        return
    bad: list[Skipped] = []
    for item, _ in ds.items:
        try:
            ds.read(item)
            return
        except DataError as e:
            bad.append(Skipped(e.path, e.reason))
    shown = "; ".join(f"{Path(b.path).name}: {b.reason}" for b in bad[:3])
    raise DataError(where, f"none of its {len(bad)} file(s) reads as {ds.modality.value} ({shown})")
