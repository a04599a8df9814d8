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

    def field(self, name: str, default: str | None = None) -> str | None:
        v = (self.fields or {}).get(name)
        return v if v not in (None, "") else default

    def int_field(self, name: str, default: int, lo: int, hi: int) -> int:
        raw = self.field(name)
        if raw is None:
            return default
        try:
            v = int(raw)
        except ValueError:
            raise BadRequest(f"field {name!r}: expected an integer, got {raw!r}") from None
        if not lo <= v <= hi:
            raise BadRequest(f"field {name!r}: {v} is outside {lo}..{hi}")
        return v


async def read_payload(request: Any) -> Payload:
    """Parse a Starlette request (multipart form or JSON) into a :class:`Payload`."""
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
        return Payload(data, filename, fields.get("text") or None, fields)
    if ctype.startswith("application/json"):
        try:
            body = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise BadRequest(f"the body is not valid JSON: {e}") from None
        if not isinstance(body, dict):
            raise BadRequest('the JSON body must be an object, e.g. {"text": "..."}')
        data = None
        if body.get("data_base64") is not None:
            try:
                data = base64.b64decode(str(body["data_base64"]), validate=True)
            except (binascii.Error, ValueError):
                raise BadRequest("field 'data_base64' is not valid base64") from None
        fields = {k: str(v) for k, v in body.items() if k != "data_base64" and v is not None}
        text = body.get("text")
        return Payload(data, str(body.get("filename", "")), str(text) if text else None, fields)
    raise BadRequest(
        f"unsupported content type {ctype or '(none)'!r}: send multipart/form-data (a 'file' or 'text' field) "
        "or application/json",
        415,
    )


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
        text = p.text if p.text is not None else _utf8(p.data)
        if not text or not text.strip():
            raise BadRequest("missing input: send a non-empty 'text' field (or a .txt 'file')")
        return Decoded(text, modality)
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
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("a text upload must be UTF-8") from None
