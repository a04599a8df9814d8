"""Readers for UnIVAL's tab-separated data files (the OFA formats; UnIVAL's README and data/ scripts).

One line per sample, columns in a fixed order; the image column holds either the image itself as base64 or a
path (resolved against ``image_root``, and refused when it resolves outside it). Readers yield plain records
and leave the image undecoded, so a pass over a large file stays cheap; :func:`load_image` turns the column
into a (C, H, W) float tensor in [0, 1]. :func:`lines` + :func:`parse_line` read one row at a time by byte
offset, for the lazy datasets of :mod:`omnivec.families.unival.tsv_tasks` (which make these files training tasks).

=================  ==========================================================================================
caption            uniq_id, image_id, caption (several joined by ``&&``), objects, image
vqa                question_id, image_id, question, answers ``conf|!+answer&&…``, objects, image
refcoco            uniq_id, image_id, text, region ``x0,y0,x1,y1`` (pixels), image
snli_ve            uniq_id, image_id, image, hypothesis, premise, label
pretrain           uniq_id, image, caption, question, refs, objects, dataset_name, type
=================  ==========================================================================================

A malformed row raises :class:`~omnivec.errors.DataError` naming the file, the line and the column.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from omnivec.errors import DataError, OutsideRoot

PRETRAIN_TYPES = ("caption", "qa", "visual_grounding", "video_caption", "audio_caption")
SNLI_LABELS = ("entailment", "neutral", "contradiction")


@dataclass
class CaptionRecord:
    uniq_id: str
    image_id: str
    captions: list[str]
    objects: str
    image: str


@dataclass
class VQARecord:
    question_id: str
    image_id: str
    question: str
    answers: dict[str, float]
    """Answer -> confidence (the VQA soft score of that answer)."""
    objects: str
    image: str


@dataclass
class RefcocoRecord:
    uniq_id: str
    image_id: str
    text: str
    box: tuple[float, float, float, float]
    """x0, y0, x1, y1 in pixels of the original image."""
    image: str


@dataclass
class SnliVeRecord:
    uniq_id: str
    image_id: str
    image: str
    hypothesis: str
    premise: str
    label: str


@dataclass
class PretrainRecord:
    uniq_id: str
    image: str
    caption: str
    question: str
    refs: str
    """Answers (``conf|!+answer&&…``) for ``qa``, a region ``x0,y0,x1,y1`` for ``visual_grounding``."""
    objects: str
    dataset_name: str
    type: str


class _Row:
    """One split line; parsing helpers raise errors that say where."""

    def __init__(self, path: Path, lineno: int, fields: list[str], names: tuple[str, ...]) -> None:
        self.path, self.lineno, self.fields, self.names = path, lineno, fields, names

    def error(self, column: int, reason: str) -> DataError:
        return DataError(self.path, f"line {self.lineno}, column {column + 1} ({self.names[column]}): {reason}")

    def __getitem__(self, column: int) -> str:
        return self.fields[column]

    def answers(self, column: int) -> dict[str, float]:
        try:
            return parse_answers(self.fields[column])
        except ValueError as e:
            raise self.error(column, str(e)) from None

    def box(self, column: int) -> tuple[float, float, float, float]:
        try:
            return parse_region(self.fields[column])
        except ValueError as e:
            raise self.error(column, str(e)) from None

    def choice(self, column: int, allowed: tuple[str, ...]) -> str:
        value = self.fields[column].strip()
        if value not in allowed:
            raise self.error(column, f"expected one of {', '.join(allowed)}, got {value!r}")
        return value


def parse_answers(text: str) -> dict[str, float]:
    """``"1.0|!+yes&&0.3|!+no"`` -> {"yes": 1.0, "no": 0.3}."""
    out: dict[str, float] = {}
    for item in text.split("&&"):
        conf, sep, answer = item.partition("|!+")
        if not sep:
            raise ValueError(f"answer {item!r} is not of the form confidence|!+answer")
        try:
            out[answer] = float(conf)
        except ValueError:
            raise ValueError(f"answer confidence {conf!r} is not a number") from None
    return out


def parse_region(text: str) -> tuple[float, float, float, float]:
    """``"10,20,110,220"`` -> (10.0, 20.0, 110.0, 220.0); x0 <= x1 and y0 <= y1."""
    parts = text.split(",")
    if len(parts) != 4:
        raise ValueError(f"region {text!r} must be four comma-separated numbers x0,y0,x1,y1")
    try:
        x0, y0, x1, y1 = (float(p) for p in parts)
    except ValueError:
        raise ValueError(f"region {text!r} has a value that is not a number") from None
    if x1 < x0 or y1 < y0:
        raise ValueError(f"region {text!r} has x1 < x0 or y1 < y0")
    return x0, y0, x1, y1


COLUMNS: dict[str, tuple[str, ...]] = {
    "caption": ("uniq_id", "image_id", "caption", "objects", "image"),
    "vqa": ("question_id", "image_id", "question", "answers", "objects", "image"),
    "refcoco": ("uniq_id", "image_id", "text", "region", "image"),
    "snli_ve": ("uniq_id", "image_id", "image", "hypothesis", "premise", "label"),
    "pretrain": ("uniq_id", "image", "caption", "question", "refs", "objects", "dataset_name", "type"),
}
"""Each schema's columns, in file order."""


def _pretrain(r: _Row) -> PretrainRecord:
    kind = r.choice(7, PRETRAIN_TYPES)
    if kind == "qa":
        r.answers(4)  # validate now, so a bad row is reported where it is
    elif kind == "visual_grounding":
        r.box(4)
    return PretrainRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], kind)


PARSERS: dict[str, Callable[[_Row], Any]] = {
    "caption": lambda r: CaptionRecord(r[0], r[1], r[2].split("&&"), r[3], r[4]),
    "vqa": lambda r: VQARecord(r[0], r[1], r[2], r.answers(3), r[4], r[5]),
    "refcoco": lambda r: RefcocoRecord(r[0], r[1], r[2], r.box(3), r[4]),
    "snli_ve": lambda r: SnliVeRecord(r[0], r[1], r[2], r[3], r[4], r.choice(5, SNLI_LABELS)),
    "pretrain": _pretrain,
}
"""Each schema's row -> record."""


def lines(path: str | Path) -> Iterator[tuple[int, int, bytes]]:
    """``(byte offset, line number, line)`` of every non-empty line, the line end removed. Offsets let a lazy
    dataset index a large file once and read one line back with :func:`read_line`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file does not exist")
    offset = 0
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, start=1):
            text = line.rstrip(b"\r\n")
            if text:
                yield offset, lineno, text
            offset += len(line)


def read_line(path: str | Path, offset: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.readline().rstrip(b"\r\n")


def parse_line(path: str | Path, lineno: int, line: bytes, schema: str) -> Any:
    """One line of a ``schema`` file -> its record; a malformed line raises DataError naming file and line."""
    path = Path(path)
    names = COLUMNS[schema]
    try:
        fields = line.decode("utf-8").split("\t")
    except UnicodeDecodeError as e:
        raise DataError(path, f"line {lineno}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    if len(fields) != len(names):
        raise DataError(
            path,
            f"line {lineno}: expected {len(names)} tab-separated columns ({', '.join(names)}), got {len(fields)}",
        )
    return PARSERS[schema](_Row(path, lineno, fields, names))


def read_tsv(path: str | Path, schema: str) -> Iterator[Any]:
    """Every record of a ``schema`` file, in order; the first malformed line raises."""
    for _, lineno, line in lines(path):
        yield parse_line(path, lineno, line, schema)


def read_caption_tsv(path: str | Path) -> Iterator[CaptionRecord]:
    return read_tsv(path, "caption")


def read_vqa_tsv(path: str | Path) -> Iterator[VQARecord]:
    return read_tsv(path, "vqa")


def read_refcoco_tsv(path: str | Path) -> Iterator[RefcocoRecord]:
    return read_tsv(path, "refcoco")


def read_snli_ve_tsv(path: str | Path) -> Iterator[SnliVeRecord]:
    return read_tsv(path, "snli_ve")


def read_pretrain_tsv(path: str | Path) -> Iterator[PretrainRecord]:
    return read_tsv(path, "pretrain")


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # e.g. base64 longer than a file name may be
        return False


def load_image(
    value: str, image_root: str | Path | None = None, size: int | None = None, channels: int | None = 3
) -> tuple[Tensor, tuple[int, int]]:
    """An image column (a path, relative to ``image_root``, or base64, standard or URL-safe as OFA writes it)
    -> ((C, H, W) floats in [0, 1], the decoded (width, height) before resizing to ``size`` x ``size``).
    A path must resolve inside ``image_root`` (default: the current folder): an absolute path elsewhere, a
    ``..`` escape or a symbolic link out of it is :class:`~omnivec.errors.OutsideRoot`, and is never opened.
    Decoding, mode conversion and resizing are :func:`omnivec.data.readers.decode_image`'s, the same as for
    image files."""
    from omnivec.data.readers import decode_image as decode
    from omnivec.data.readers.validate import inside

    value = value.strip()
    root = Path(image_root) if image_root is not None else Path.cwd()
    candidate = root / value
    refused: OutsideRoot | None = None
    if len(value) < 4096:
        try:
            path = inside(root, value)  # resolves links (no file is opened); refuses what lands outside
            if _is_file(path):
                return decode(path, candidate, size, channels)
        except OutsideRoot as e:
            refused = e  # unless it is base64 (a JPEG's starts "/9j/"): then it was never a path
        except OSError:
            pass  # not a usable file name (too long, ...): base64 or nothing
    try:
        data = base64.b64decode(value.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        if refused is not None:
            raise refused from None
        raise DataError(candidate if len(value) < 256 else "<image column>", "neither a file nor base64") from None
    return decode(io.BytesIO(data), "<base64 image>", size, channels)


def decode_tsv_image(value: str, image_root: str | Path | None = None) -> Tensor:
    """An image column (a path, relative to ``image_root``, or base64) -> (3, H, W) floats in [0, 1]."""
    return load_image(value, image_root)[0]


def encode_tsv_image(image: Tensor) -> str:
    """(3, H, W) float in [0, 1] -> base64 PNG, the inverse of :func:`decode_tsv_image` (for writing TSVs)."""
    from PIL import Image

    array = (image.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()  # (H, W, 3)
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")
