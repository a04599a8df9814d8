"""Text: tables (CSV/TSV with RFC-4180 quoting, JSONL) as row dicts, and a .txt file as one text sample."""

from __future__ import annotations

import codecs
import csv
import io
import json
from pathlib import Path
from typing import Any

from omnivec.data.readers.validate import MAX_TEXT_BYTES, existing_file
from omnivec.data.root import StrPath
from omnivec.errors import DataError


def read_table(path: StrPath, required: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """CSV/TSV (header row, RFC-4180 quoting, newlines allowed inside quotes) or JSONL -> list of row dicts.

    Malformed quoting, ragged rows, bad JSON lines and missing ``required`` columns are DataErrors naming the
    line."""
    p = existing_file(path)
    ext = p.suffix.lower()
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(p, f"not UTF-8 text (byte {e.start}: {e.reason})") from None
    if ext == ".jsonl":
        rows = _parse_jsonl(text, p)
    elif ext in (".csv", ".tsv"):
        rows = _parse_csv(text, p, "\t" if ext == ".tsv" else ",")
    else:
        raise DataError(p, f"unknown table extension {ext!r}; expected .csv, .tsv or .jsonl")
    if not rows:
        raise DataError(p, "no rows")
    missing = [c for c in required if c not in rows[0]]
    if missing:
        raise DataError(p, f"missing column(s) {missing}; columns are {list(rows[0])}")
    return rows


def _parse_csv(text: str, p: Path, delimiter: str) -> list[dict[str, Any]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise DataError(p, "no header row")
        if len(set(header)) != len(header) or any(not h for h in header):
            raise DataError(p, f"bad header {header}: column names must be unique and non-empty")
        rows = []
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                raise DataError(
                    p, f"line {reader.line_num}: {len(row)} fields but the header has {len(header)}: {header}"
                )
            rows.append(dict(zip(header, row)))
    except csv.Error as e:
        raise DataError(p, f"malformed CSV near line {reader.line_num}: {e} (check the quoting)") from None
    return rows


def _parse_jsonl(text: str, p: Path) -> list[dict[str, Any]]:
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(p, f"line {n}: not valid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(obj, dict):
            raise DataError(p, f"line {n}: expected a JSON object, got {type(obj).__name__}")
        rows.append(obj)
    return rows


def read_text_prefix(path: StrPath, max_bytes: int = MAX_TEXT_BYTES) -> str:
    """The first ``max_bytes`` of a UTF-8 text file (a UTF-8 BOM dropped); the rest is never read, and a
    character cut in two at the limit is dropped."""
    p = existing_file(path)
    with open(p, "rb") as f:
        data = f.read(max_bytes + 1)
    try:  # not final when cut: an incomplete last character is held back, not an error
        return codecs.getincrementaldecoder("utf-8-sig")().decode(data[:max_bytes], final=len(data) <= max_bytes)
    except UnicodeDecodeError as e:
        raise DataError(p, f"not UTF-8 text (byte {e.start}: {e.reason})") from None


def read_text(path: StrPath, max_bytes: int = MAX_TEXT_BYTES) -> str:
    """A .txt file as one text sample (stripped); only its first ``max_bytes`` are read."""
    text = read_text_prefix(path, max_bytes).strip()
    p = Path(path)
    if not text:
        raise DataError(p, "only whitespace")
    return text
