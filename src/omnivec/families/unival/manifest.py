"""The user's own files as seq2seq data: a manifest (JSONL, CSV or TSV, read by :func:`omnivec.data.readers.read_table`)
whose rows name a file and what it should be answered with. :mod:`omnivec.families.unival.manifest_tasks` makes
them tasks; this module reads and checks the rows.

=========  ======================================================  =======================================
kind       a row                                                   files
=========  ======================================================  =======================================
caption    ``{"path": "a.wav", "caption": "a spoken seven"}``      image, video, audio, text, point cloud
vqa        ``{"path": ..., "question": ..., "answer": ...}``       image, video, audio, text, point cloud
grounding  ``{"path": ..., "text": ..., "box": [x0, y0, x1, y1]}``  image (the box in its pixels as stored)
=========  ======================================================  =======================================

``path`` is relative to the manifest's folder and must stay inside it (an absolute path elsewhere, a ``..`` escape
or a symbolic link out of it is refused and never opened, as UnIVAL's TSV image paths). The modality comes from
the file's extension (:func:`omnivec.data.byo.folder.file_modality`). ``caption`` may be a list (several
references, as COCO's five: every one is trained on and counts for CIDEr-D), and rows naming the same file are
one file with all their captions; ``answer`` may be a list (several people's answers: the most frequent is
trained on, and an answer scores min(1, #people who gave it / 3), VQA's accuracy). In a CSV/TSV cell, several
captions or answers are joined by ``&&`` (as UnIVAL's TSVs) and a box is four numbers separated by commas or
spaces.

A row that cannot be used (no path, a path outside the folder, an unknown extension, a missing or empty field, a
box that is not four finite numbers with x0 <= x1 and y0 <= y1) becomes an :class:`Entry` saying why (``row N:
...``), skipped and reported where the data are read (``skipped.jsonl``, ``eval.json``'s ``skipped``); so does a
file that exists but does not decode, when it is read. The table must parse (a broken CSV quote or JSON line
names its line); a manifest with no usable row, or none of whose files reads, is an error naming it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omnivec.data.byo.folder import file_modality
from omnivec.data.readers import TEXT_EXTS, extension, modality_of, read_table
from omnivec.data.readers.validate import inside
from omnivec.data.root import StrPath
from omnivec.errors import DataError

ALL_MODALITIES = ("image", "video", "audio", "text", "points")


@dataclass(frozen=True)
class ManifestKind:
    """What a manifest of one kind holds."""

    name: str
    """The KIND of ``--manifest KIND=TRAIN[,VAL]``: caption, vqa or grounding."""
    kind: str
    """The seq2seq kind its tasks are (:data:`omnivec.tasks.seq2seq.SEQ2SEQ_KINDS`)."""
    fields: tuple[str, ...]
    """The fields a row holds besides ``path``."""
    modalities: tuple[str, ...] = ALL_MODALITIES
    """The files it takes."""


MANIFEST_KINDS = {
    "caption": ManifestKind("caption", "captioning", ("caption",)),
    "vqa": ManifestKind("vqa", "vqa", ("question", "answer")),
    "grounding": ManifestKind("grounding", "grounding", ("text", "box"), ("image",)),
}


@dataclass(frozen=True)
class Entry:
    """One file of a manifest with what it is asked and answered, or a row that cannot be used (``bad``)."""

    path: str = ""
    """The file, resolved inside the manifest's folder ("" for an unusable row)."""
    text: str = ""
    """The question (vqa) or the phrase (grounding)."""
    answers: tuple[str, ...] = ()
    """The caption(s) or the answer(s)."""
    box: tuple[float, float, float, float] | None = None
    """Grounding: x0, y0, x1, y1 in pixels of the image as stored."""
    row: int = 0
    """The (first) data row it comes from, from 1."""
    bad: str = ""
    """Why the row cannot be used (``row N: ...``); "" for a usable one."""


@dataclass
class Manifest:
    """A manifest's usable entries and unusable rows, by modality (in the order they first appear)."""

    path: Path
    kind: ManifestKind
    entries: dict[str, list[Entry]] = field(default_factory=dict)
    bad: dict[str, list[Entry]] = field(default_factory=dict)
    """Unusable rows by the modality their file has ("" when it cannot be told)."""
    rows: int = 0

    @property
    def modalities(self) -> list[str]:
        return list(self.entries)

    def unusable(self, modality: str) -> list[Entry]:
        """The unusable rows that go with ``modality``'s task: its own, and for the first modality those whose
        modality cannot be told (so each is reported once)."""
        first = self.modalities[0] if self.modalities else ""
        return self.bad.get(modality, []) + (self.bad.get("", []) if modality == first else [])


class _Bad(Exception):
    def __init__(self, reason: str, modality: str = "") -> None:
        super().__init__(reason)
        self.reason, self.modality = reason, modality


def _texts(value: Any, name: str, table: bool, numbers: bool = False) -> tuple[str, ...]:
    """A non-empty text, or a non-empty list of them (in a CSV/TSV cell: joined by ``&&``)."""
    items = value if isinstance(value, list) else [value]
    ok = (str, int, float) if numbers else (str,)
    if not items or any(isinstance(v, bool) or not isinstance(v, ok) for v in items):
        kind = "a text or a list of texts" if not table else "a text (several joined by &&)"
        raise _Bad(f"{name!r} must be {kind}, got {value!r}")
    texts = [t.strip() for v in items for t in (str(v).split("&&") if table else [str(v)])]
    if not all(texts):
        raise _Bad(f"{name!r} is empty" if len(texts) == 1 else f"{name!r} holds an empty text: {value!r}")
    return tuple(texts)


_NUMBERS = re.compile(r"[\s,]+")


def _box(value: Any) -> tuple[float, float, float, float]:
    """Four finite numbers x0, y0, x1, y1 with x0 <= x1 and y0 <= y1 (a list, or in a CSV cell a string)."""
    parts = _NUMBERS.split(value.strip().strip("[]()").strip()) if isinstance(value, str) else value
    try:
        if not isinstance(parts, list) or len(parts) != 4 or any(isinstance(p, bool) for p in parts):
            raise ValueError
        x0, y0, x1, y1 = (float(p) for p in parts)
    except (TypeError, ValueError):
        raise _Bad(f"'box' must be four numbers [x0, y0, x1, y1] in pixels, got {value!r}") from None
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        raise _Bad(f"'box' {value!r} holds a number that is not finite")
    if x1 < x0 or y1 < y0:
        raise _Bad(f"'box' {value!r} has x1 < x0 or y1 < y0 (expected [x0, y0, x1, y1], top-left first)")
    return x0, y0, x1, y1


def _file(row: dict[str, Any], base: Path, kind: ManifestKind) -> tuple[Path, str]:
    """The row's file inside ``base`` and its modality."""
    value = row.get("path")
    if not isinstance(value, str) or not value.strip():
        raise _Bad("no 'path' (the file, relative to the manifest's folder)")
    value = value.strip()
    guess = modality_of(value)
    told = guess.value if guess is not None else ("text" if extension(value) in TEXT_EXTS else "")
    try:
        path = inside(base, value)
    except DataError as e:
        raise _Bad(f"{value}: {e.reason}") from None
    if not path.is_file():
        raise _Bad(f"{value}: file not found", told)
    try:
        found = file_modality(path)
    except DataError as e:  # a .npy/.npz whose header does not read
        raise _Bad(f"{value}: {e.reason}") from None
    if found is None:
        raise _Bad(f"{value}: unknown extension {extension(value)!r}")
    if found.value not in kind.modalities:
        what = " or ".join(kind.modalities)
        raise _Bad(f"{value}: a {kind.name} manifest takes {what} files (boxes in pixels), not {found.value}")
    return path, found.value


def _entry(row: dict[str, Any], n: int, base: Path, kind: ManifestKind, table: bool) -> tuple[str, Entry]:
    """(modality, entry) of data row ``n``."""
    path, modality = _file(row, base, kind)
    missing = [f for f in kind.fields if row.get(f) in (None, "", [])]
    if missing:
        names = " or ".join(repr(f) for f in missing)
        raise _Bad(f"no {names} (a {kind.name} row: path, {', '.join(kind.fields)})", modality)
    try:
        if kind.name == "caption":
            return modality, Entry(str(path), answers=_texts(row["caption"], "caption", table), row=n)
        if kind.name == "vqa":
            question = _texts(row["question"], "question", False)[0]
            return modality, Entry(str(path), question, _texts(row["answer"], "answer", table, numbers=True), row=n)
        phrase = _texts(row["text"], "text", False)[0]
        return modality, Entry(str(path), phrase, box=_box(row["box"]), row=n)
    except _Bad as e:
        raise _Bad(e.reason, modality) from None


_CACHE: dict[tuple[str, int, int, str], Manifest] = {}


def read_manifest(path: StrPath, kind: str) -> Manifest:
    """The entries of a ``kind`` manifest (cached per file version). Caption rows naming one file merge into one
    entry holding all their captions. A manifest with no usable row, or none of whose files exists, is a
    :class:`~omnivec.errors.DataError` naming it and the first reasons."""
    p = Path(path)
    if not p.is_file():
        raise DataError(p, "no such manifest file")
    st = p.stat()
    key = (str(p.resolve()), st.st_mtime_ns, st.st_size, kind)
    if key not in _CACHE:
        _CACHE[key] = _read(p, MANIFEST_KINDS[kind])
    return _CACHE[key]


def _read(p: Path, kind: ManifestKind) -> Manifest:
    table = extension(p) != ".jsonl"
    rows = read_table(p)  # one pass over the text: its cost is the manifest's size
    out = Manifest(p, kind, rows=len(rows))
    by_file: dict[str, Entry] = {}
    for n, row in enumerate(rows, 1):
        try:
            modality, e = _entry(row, n, p.parent, kind, table)
        except _Bad as b:
            out.bad.setdefault(b.modality, []).append(Entry(row=n, bad=f"row {n}: {b.reason}"))
            continue
        if kind.name == "caption" and e.path in by_file:  # the same file again: one more reference caption
            first = by_file[e.path]
            merged = Entry(first.path, answers=first.answers + e.answers, row=first.row)
            group = out.entries[modality]
            group[group.index(first)] = by_file[e.path] = merged
            continue
        by_file.setdefault(e.path, e)
        out.entries.setdefault(modality, []).append(e)
    if not out.entries:
        reasons = "; ".join(e.bad for group in out.bad.values() for e in group[:3])
        raise DataError(p, f"no usable rows: all {len(rows)} row(s) are unusable ({reasons})")
    for modality in list(out.bad):  # unusable rows of a modality no usable row has go with the first task
        if modality and modality not in out.entries:
            out.bad.setdefault("", []).extend(out.bad.pop(modality))
    return out


def trained_answer(answers: tuple[str, ...]) -> str:
    """The answer a VQA entry is trained on: the most frequent (the first of equally frequent ones)."""
    return Counter(answers).most_common(1)[0][0]


def vqa_reference(answers: tuple[str, ...]) -> dict[str, float]:
    """Answer -> its VQA accuracy, min(1, #people who gave it / 3); one answer alone scores 1."""
    if len(answers) == 1:
        return {answers[0]: 1.0}
    return {a: min(1.0, c / 3) for a, c in Counter(answers).items()}
