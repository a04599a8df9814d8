"""What a client sends -> a decoded sample, or a :class:`BadRequest` naming what was wrong.

A request carries one input, as a multipart upload (field ``file``, or ``text``) or as JSON
(``{"text": ...}`` or ``{"data_base64": ..., "filename": "a.png"}``), plus form/JSON fields such as ``modality``,
``task``, ``k``. The server never opens a path a client names: an upload's bytes are written to a temporary file
that the server creates (its suffix taken from the upload's extension, only if that extension is one the
modality reads) and decoded there with the same readers as the CLI, so a file decodes identically both ways.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omnivec.errors import DataError
from omnivec.types import Modality


class BadRequest(Exception):
    """A client error: ``status`` (4xx) and a message that names the field or value at fault."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Payload:
    """One request's input and options, however they were sent."""

    data: bytes | None = None
    filename: str = ""
    text: str | None = None
    fields: dict[str, str] | None = None
    max_text: int = 0
    """The most UTF-8 bytes a text input may have (0: no limit); more is a 413."""

    def field(self, name: str, default: str | None = None) -> str | None:
        v = (self.fields or {}).get(name)
        return v if v not in (None, "") else default

    def int_field(self, name: str, default: int, lo: int, hi: int) -> int:
        return int(self._number(name, default, lo, hi, int, "an integer"))

    def float_field(self, name: str, default: float, lo: float, hi: float) -> float:
        return float(self._number(name, default, lo, hi, float, "a number"))

    def _number(self, name: str, default: float, lo: float, hi: float, parse: Any, what: str) -> float:
        raw = self.field(name)
        if raw is None:
            return default
        try:
            v = parse(raw)
        except ValueError:
            raise BadRequest(f"field {name!r}: expected {what}, got {raw!r}") from None
        if not lo <= v <= hi:  # NaN fails too
            raise BadRequest(f"field {name!r}: {v} is outside {lo}..{hi}")
        return v


async def read_payload(request: Any, max_text: int = 0) -> Payload:
    """Parse a Starlette request (multipart form or JSON) into a :class:`Payload`; a ``text`` field over
    ``max_text`` UTF-8 bytes (0: no limit) is refused with 413."""
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data") or ctype.startswith("application/x-www-form-urlencoded"):
        form = await request.form()
        fields: dict[str, str] = {}
        data, filename = None, ""
        for key, value in form.multi_items():
            if hasattr(value, "read"):  # an UploadFile
                if key != "file":
                    raise BadRequest(f"unexpected file field {key!r}; send the input as 'file'")
                data, filename = await value.read(), value.filename or ""
            else:
                fields[key] = str(value)
        return _checked(Payload(data, filename, fields.get("text") or None, fields, max_text))
    if ctype.startswith("application/json"):
        body = _json_object(await request.body())
        data = None
        if body.get("data_base64") is not None:
            try:
                data = base64.b64decode(body["data_base64"], validate=True)
            except (binascii.Error, ValueError):
                raise BadRequest("field 'data_base64' is not valid base64") from None
        fields = {k: str(v) for k, v in body.items() if k != "data_base64" and v is not None}
        text = body.get("text")
        return _checked(Payload(data, str(body.get("filename") or ""), text or None, fields, max_text))
    raise BadRequest(
        f"unsupported content type {ctype or '(none)'!r}: send multipart/form-data (a 'file' or 'text' field) "
        "or application/json",
        415,
    )


STRING_FIELDS = ("text", "filename", "data_base64", "task", "modality")
"""JSON fields that must be strings: ``"text": ["a", "b"]`` was stringified to "['a', 'b']" and embedded."""


def _json_object(raw: bytes) -> dict[str, Any]:
    """The body as one JSON object whose values are scalars (nesting depth 1), else a 400 naming the field."""
    try:
        body = json.loads(raw)
    except ValueError as e:  # JSONDecodeError, bad UTF-8, integers over 4300 digits
        raise BadRequest(f"the body is not valid JSON: {e}") from None
    except RecursionError:  # [[[[... 100,000 deep was a 500
        raise BadRequest("the JSON body is nested too deeply; send one object of plain fields") from None
    if not isinstance(body, dict):
        raise BadRequest('the JSON body must be an object, e.g. {"text": "..."}')
    for key, value in body.items():
        if key in STRING_FIELDS and value is not None and not isinstance(value, str):
            raise BadRequest(f"field {key!r}: expected a string, got {_json_type(value)}", 422)
        if isinstance(value, (list, dict)):
            raise BadRequest(f"field {key!r}: expected a plain value, got {_json_type(value)}", 422)
    return body


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", bool: "a boolean", int: "a number", float: "a number"}
    return names.get(type(value), type(value).__name__)


def _checked(p: Payload) -> Payload:
    if p.text is not None:
        _check_text_size(p.text.encode("utf-8", "surrogatepass"), p.max_text, "field 'text'")
    return p


def _check_text_size(data: bytes, limit: int, what: str) -> None:
    if limit and len(data) > limit:
        raise BadRequest(f"{what} is {len(data)} bytes of text; the limit is {limit} (--max-text-kb)", 413)


def modality_of_payload(p: Payload, known: list[str]) -> str:
    """The input's modality: the ``modality`` field, else the upload's extension, else text."""
    from omnivec.data.readers.sample import modality_of

    mod = p.field("modality")
    if mod is None and p.data is not None:
        m = modality_of(p.filename or "x")
        if m is None and Path(p.filename).suffix.lower() == ".txt":  # as the readers: .txt alone is text
            return _known("text", known)
        if m is None:
            raise BadRequest(
                f"cannot tell the modality of upload {p.filename or '(no name)'!r} from its extension; "
                "name it (a.png, a.wav, ...) or send a 'modality' field",
                415,
            )
        mod = m.value
    return _known(mod or "text", known)


def _known(mod: str, known: list[str]) -> str:
    if mod not in known:
        raise BadRequest(f"this run has no {mod} encoder; it reads: {', '.join(known)}")
    return mod


def _extensions(modality: str) -> frozenset[str]:
    from omnivec.data.readers import sample as s

    return {
        "image": s.IMAGE_EXTS,
        "audio": s.AUDIO_EXTS,
        "video": s.VIDEO_EXTS | s.ARRAY_EXTS,
        "points": s.POINT_EXTS | s.ARRAY_EXTS | s.TEXT_EXTS,
        "text": s.TEXT_EXTS,
    }.get(modality, frozenset())


@dataclass
class Decoded:
    sample: Any
    modality: str
    width: int = 0
    """An image's size as uploaded (before the resize to the run's size): grounding boxes are given in it."""
    height: int = 0


def decode(p: Payload, modality: str, options: dict[str, Any]) -> Decoded:
    """The request's input as one sample of ``modality``, read as the run reads files (``options``)."""
    from omnivec.data.readers import ReadOptions, read_sample

    if modality == Modality.TEXT:
        if p.text is None and p.data is not None:
            _check_text_size(p.data, p.max_text, f"upload {p.filename or '(no name)'!r}")
        text = p.text if p.text is not None else _utf8(p.data)
        if not text or not text.strip():
            raise BadRequest("missing input: send a non-empty 'text' field (or a .txt 'file')")
        return Decoded(text.strip(), modality)  # stripped, as the file readers (and so training) read text
    if p.data is None:
        raise BadRequest(f"missing input: a {modality} request needs a 'file' upload (multipart) or 'data_base64'")
    if not p.data:
        raise BadRequest(f"upload {p.filename or '(no name)'!r} is empty")
    ext = Path(p.filename).suffix.lower()
    allowed = _extensions(modality)
    if allowed and ext not in allowed:
        raise BadRequest(
            f"upload {p.filename or '(no name)'!r}: a {modality} input must be one of {' '.join(sorted(allowed))}", 415
        )
    fd, tmp = tempfile.mkstemp(prefix="omnivec-upload-", suffix=ext)  # our name, never the client's
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(p.data)
        try:
            sample = read_sample(tmp, modality, ReadOptions(**options))
        except DataError as e:
            reason = e.reason.replace(tmp, p.filename or "the upload")  # our temporary name is no business of theirs
            raise BadRequest(f"upload {p.filename or '(no name)'!r} cannot be read as {modality}: {reason}") from None
        width = height = 0
        if modality == Modality.IMAGE:
            from omnivec.data.readers.image import open_image

            with open_image(Path(tmp), p.filename) as im:  # the header only, of a file read_sample accepted
                width, height = im.size
        return Decoded(sample, modality, width, height)
    finally:
        os.unlink(tmp)


def _utf8(data: bytes | None) -> str | None:
    if data is None:
        return None
    try:
        return data.decode("utf-8-sig")  # a byte-order mark is no part of the text (as the file readers say)
    except UnicodeDecodeError:
        raise BadRequest("a text upload must be UTF-8") from None
