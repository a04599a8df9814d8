"""Fetch a named dataset from its canonical URLs: resumable, verified, atomic.

Each file is streamed into ``<file>.part``; an interrupted transfer resumes with an HTTP ``Range`` request
(a server that ignores it restarts the file), the finished file is sha256-checked against the catalogue
(mismatch: the part file is deleted and the next mirror tried; none left: a DataError) and only then renamed
into place, so a file under its final name is always complete and verified. FSDD's 3,000 recordings come as
one GitHub archive whose members are checked together by the tree digest. Standard library only (urllib).
"""

from __future__ import annotations

import fnmatch
import http.client
import os
import shutil
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from urllib.error import HTTPError, URLError
from urllib.parse import urlparse
from urllib.request import Request, urlopen

from tqdm import tqdm

from omnivec.data.datasets.cards import DatasetInfo, TreeInfo, info
from omnivec.data.datasets.verify import sha256_file, tree_digest
from omnivec.data.root import StrPath, resolve_root
from omnivec.errors import DataError, OmnivecError

CHUNK = 1 << 16
Urls = str | Mapping[str, Sequence[str]] | None
"""A mirror base URL (``<base>/<file path>``; FSDD's archive at ``<base>/fsdd.zip``), or {file path: [urls]}
(key ``"archive"`` for the FSDD archive), or None for the catalogue's canonical URLs."""


class _Interrupted(OSError):
    """The server closed the connection before sending the whole body."""


def download(
    name: str,
    root: StrPath | None = None,
    urls: Urls = None,
    progress: bool = True,
    timeout: float = 60.0,
    retries: int = 3,
    meta: DatasetInfo | None = None,
) -> Path:
    """Download every file of dataset ``name`` into ``root/<folder>``; files already present with the
    right sha256 are kept. Returns the dataset folder. ``meta`` overrides the catalogue entry (tests)."""
    meta = meta or info(name)
    base = resolve_root(root)
    if base is None:
        raise OmnivecError(f"downloading {name!r} needs a target: pass --data-root DIR or set OMNIVEC_DATA")
    folder = base / meta.folder
    folder.mkdir(parents=True, exist_ok=True)
    for f in meta.files:
        dest = folder / f.path
        if dest.is_file() and dest.stat().st_size == f.size and sha256_file(dest) == f.sha256:
            continue
        fetch_verified(_candidates(f.path, f.urls, urls), dest, f.sha256, f.size, progress, timeout, retries)
    if meta.tree is not None:
        _download_tree(meta, folder, urls, progress, timeout, retries)
    return folder


def _candidates(key: str, default: Sequence[str], urls: Urls) -> list[str]:
    if urls is None:
        out = list(default)
    elif isinstance(urls, str):
        out = [f"{urls.rstrip('/')}/{key}"]
    else:
        out = list(urls.get(key, default))
    for u in out:
        if urlparse(u).scheme not in ("http", "https"):
            raise OmnivecError(f"only http(s) URLs can be downloaded, got {u!r}")
    return out


def fetch_verified(
    urls: Sequence[str],
    dest: Path,
    sha256: str | None,
    size: int | None = None,
    progress: bool = True,
    timeout: float = 60.0,
    retries: int = 3,
) -> Path:
    """Fetch ``dest`` from the first URL that delivers the right bytes (resuming ``dest.part``), verify its
    sha256 (skipped when None), then rename it into place."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    failures = []
    for url in urls:
        fetched = False
        for _attempt in range(max(1, retries)):
            try:
                _fetch(url, part, size, progress, timeout)
                fetched = True
                break
            except HTTPError as e:
                failures.append(f"{url}: HTTP {e.code} {e.reason}")
                if e.code != 416:
                    break  # 404 and friends: try the next mirror
                part.unlink(missing_ok=True)  # our .part is not a prefix the server recognises: start over
            except (URLError, OSError, http.client.HTTPException) as e:
                failures.append(f"{url}: {type(e).__name__}: {e}")  # the next attempt resumes from .part
        if not fetched:
            continue
        got = sha256_file(part) if sha256 is not None else None
        if got != sha256:
            part.unlink(missing_ok=True)
            failures.append(f"{url}: sha256 mismatch (expected {sha256}, got {got}); deleted the download")
            continue
        os.replace(part, dest)
        return dest
    raise DataError(dest, "download failed: " + " | ".join(failures[-4:]))


def _fetch(url: str, part: Path, size: int | None, progress: bool, timeout: float) -> None:
    have = part.stat().st_size if part.is_file() else 0
    if size is not None and have > size:
        part.unlink()
        have = 0
    if size is not None and have == size:
        return  # complete already (a crash between download and rename); the checksum decides
    headers = {"User-Agent": "omnivec-data/1"}
    if have:
        headers["Range"] = f"bytes={have}-"
    with urlopen(Request(url, headers=headers), timeout=timeout) as resp:
        resumed = (
            have > 0 and resp.status == 206 and str(resp.headers.get("Content-Range", "")).startswith(f"bytes {have}-")
        )
        if not resumed:
            have = 0  # server sent the whole file (200): overwrite
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length is not None else size
        with (
            open(part, "ab" if resumed else "wb") as f,
            tqdm(
                total=total,
                initial=have,
                unit="B",
                unit_scale=True,
                desc=part.name[:-5],
                disable=not progress,
                leave=False,
            ) as bar,
        ):
            while chunk := resp.read(CHUNK):
                f.write(chunk)
                bar.update(len(chunk))
    got = part.stat().st_size
    if total is not None and got < total:
        raise _Interrupted(f"connection closed after {got:,} of {total:,} bytes")


def _download_tree(meta: DatasetInfo, folder: Path, urls: Urls, progress: bool, timeout: float, retries: int) -> None:
    tree = meta.tree
    assert tree is not None
    present = sorted(folder.glob(tree.pattern))
    if len(present) == tree.count and tree_digest(present) == tree.digest:
        return
    if isinstance(urls, str):
        candidates = [f"{urls.rstrip('/')}/{meta.name}.zip"]
    else:
        candidates = _candidates("archive", tree.archive_urls, urls)
    with tempfile.TemporaryDirectory(prefix=f".{meta.name}-", dir=folder) as tmp:
        archive = fetch_verified(candidates, Path(tmp) / "archive.zip", None, None, progress, timeout, retries)
        staged = _extract(archive, tree, Path(tmp) / "tree")
        got = tree_digest(sorted(staged.glob(tree.pattern)))
        if got != tree.digest or len(list(staged.glob(tree.pattern))) != tree.count:
            raise DataError(
                folder / tree.pattern,
                f"downloaded archive has the wrong content: tree digest {got}, "
                f"expected {tree.digest}; nothing was installed",
            )
        for p in sorted(staged.rglob("*")):
            if p.is_file():
                target = folder / p.relative_to(staged)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(p, target)


def _extract(archive: Path, tree: TreeInfo, out: Path) -> Path:
    """Members under ``tree.archive_prefix`` that match ``tree.pattern``, written below ``out``; no member can
    escape ``out`` (absolute paths and '..' are refused)."""
    try:
        with zipfile.ZipFile(archive) as z:
            for m in z.infolist():
                if m.is_dir() or not m.filename.startswith(tree.archive_prefix):
                    continue
                rel = PurePosixPath(m.filename[len(tree.archive_prefix) :])
                if rel.is_absolute() or ".." in rel.parts or not fnmatch.fnmatch(str(rel), tree.pattern):
                    continue
                target = out / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                with z.open(m) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    except zipfile.BadZipFile as e:
        raise DataError(archive, f"not a zip archive ({e})") from None
    return out
