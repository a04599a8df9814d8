"""The downloader against a local http.server on 127.0.0.1: resume from a partial file, a cut connection,
checksum refusal, mirror fallback, the FSDD-style archive path, and the real Banking77 files when staged."""

from __future__ import annotations

import hashlib
import io
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from data_helpers import real_root
from omnivec.data.datasets.cards import DatasetInfo, FileInfo, TreeInfo, info
from omnivec.data.datasets.download import download, fetch_verified
from omnivec.data.datasets.verify import tree_digest
from omnivec.errors import DataError
from omnivec.types import Modality


@dataclass
class Server:
    base: str
    files: dict[str, bytes]
    cut_after: dict[str, int] = field(default_factory=dict)
    """path -> bytes to send before closing the connection, on the first request for that path only."""
    requests: list[tuple[str, str | None]] = field(default_factory=list)


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server("", {})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            rng = self.headers.get("Range")
            state.requests.append((self.path, rng))
            body = state.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            start = int(rng.split("=")[1].split("-")[0]) if rng else 0
            self.send_response(206 if rng else 200)
            if rng:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            cut = state.cut_after.pop(self.path, None)
            self.wfile.write(body[start:] if cut is None else body[start : start + cut])
            if cut is not None:
                self.close_connection = True

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # loopback only
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


PAYLOAD = bytes(range(256)) * 800  # 200 KiB


def _meta(files: dict[str, bytes], urls: dict[str, tuple[str, ...]], tree: TreeInfo | None = None) -> DatasetInfo:
    infos = tuple(FileInfo(n, hashlib.sha256(b).hexdigest(), len(b), urls[n]) for n, b in files.items())
    return DatasetInfo("toy", "toy", Modality.TEXT, "classification", "d", "l", "c", "h", {}, infos, tree)


def test_cut_connection_is_resumed_with_range(server: Server, tmp_path: Path) -> None:
    server.files["/a.bin"] = PAYLOAD
    server.cut_after["/a.bin"] = 70_000
    meta = _meta({"a.bin": PAYLOAD}, {"a.bin": (f"{server.base}/a.bin",)})
    folder = download("toy", tmp_path, progress=False, meta=meta)
    got = (folder / "a.bin").read_bytes()
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(PAYLOAD).hexdigest()
    assert server.requests == [("/a.bin", None), ("/a.bin", "bytes=70000-")]
    assert not list(folder.glob("*.part"))


def test_existing_partial_file_is_resumed(server: Server, tmp_path: Path) -> None:
    server.files["/a.bin"] = PAYLOAD
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "a.bin.part").write_bytes(PAYLOAD[:12345])
    meta = _meta({"a.bin": PAYLOAD}, {"a.bin": (f"{server.base}/a.bin",)})
    download("toy", tmp_path, progress=False, meta=meta)
    assert (tmp_path / "toy" / "a.bin").read_bytes() == PAYLOAD
    assert server.requests == [("/a.bin", "bytes=12345-")]
    server.requests.clear()
    download("toy", tmp_path, progress=False, meta=meta)  # present and verified: nothing fetched
    assert server.requests == []


def test_bad_checksum_is_refused_and_nothing_is_left(server: Server, tmp_path: Path) -> None:
    server.files["/a.bin"] = PAYLOAD[:-1] + b"X"  # one byte differs
    meta = _meta({"a.bin": PAYLOAD}, {"a.bin": (f"{server.base}/a.bin",)})
    with pytest.raises(DataError, match="sha256 mismatch") as e:
        download("toy", tmp_path, progress=False, meta=meta)
    assert e.value.path.endswith("a.bin")
    assert list((tmp_path / "toy").iterdir()) == []


def test_falls_back_to_the_next_mirror(server: Server, tmp_path: Path) -> None:
    server.files["/m2/a.bin"] = PAYLOAD
    dest = tmp_path / "a.bin"
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    fetch_verified([f"{server.base}/m1/a.bin", f"{server.base}/m2/a.bin"], dest, sha, len(PAYLOAD), progress=False)
    assert dest.read_bytes() == PAYLOAD
    with pytest.raises(DataError, match="HTTP 404"):
        fetch_verified([f"{server.base}/none"], tmp_path / "b.bin", sha, progress=False)


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_archive_tree_is_verified_before_install(server: Server, tmp_path: Path) -> None:
    wavs = {f"recordings/{i}_x_0.wav": bytes([i]) * 100 for i in range(3)}
    staged = tmp_path / "digest"
    staged.mkdir()
    for name, data in wavs.items():
        (staged / Path(name).name).write_bytes(data)
    digest = tree_digest(sorted(staged.iterdir()))
    members = {f"repo-abc/{k}": v for k, v in wavs.items()} | {"repo-abc/code.py": b"x", "../evil.wav": b"!"}
    server.files["/good.zip"] = _zip(members)
    tree = TreeInfo("recordings/*.wav", 3, digest, (f"{server.base}/good.zip",), "repo-abc/")
    meta = _meta({}, {}, tree)
    folder = download("toy", tmp_path / "root", progress=False, meta=meta)
    assert sorted(p.name for p in folder.rglob("*") if p.is_file()) == ["0_x_0.wav", "1_x_0.wav", "2_x_0.wav"]
    server.files["/bad.zip"] = _zip({"repo-abc/recordings/0_x_0.wav": b"wrong"})
    bad = TreeInfo("recordings/*.wav", 3, digest, (f"{server.base}/bad.zip",), "repo-abc/")
    with pytest.raises(DataError, match="wrong content"):
        download("toy", tmp_path / "root2", progress=False, meta=_meta({}, {}, bad))
    assert not list((tmp_path / "root2" / "toy").rglob("*.wav"))


@pytest.mark.realdata
def test_real_banking77_from_a_local_mirror(server: Server, tmp_path: Path) -> None:
    src = real_root() / "banking77"
    for f in info("banking77").files:
        server.files[f"/banking77/{f.path}"] = (src / f.path).read_bytes()
    server.cut_after["/banking77/train.csv"] = 300_000
    folder = download("banking77", tmp_path, urls=f"{server.base}/banking77", progress=False)
    for f in info("banking77").files:
        assert hashlib.sha256((folder / f.path).read_bytes()).hexdigest() == f.sha256
    assert ("/banking77/train.csv", "bytes=300000-") in server.requests
