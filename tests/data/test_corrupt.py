"""A corrupt-input corpus the tests build: each bad file gets its documented reason, as Skipped by default and
as DataError(path, reason) when strict, and the rest of the folder still loads."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from data_helpers import sine, write_mp4, write_wav
from omnivec.data.base import Skipped, drop_skipped
from omnivec.data.byo import SkipLog, from_folder, from_manifest, load_byo, scan
from omnivec.data.readers import read_audio, read_image, read_sample, read_table
from omnivec.data.readers.idx import read_idx
from omnivec.data.readers.points import read_points
from omnivec.data.readers.video import read_video
from omnivec.errors import DataError
from omnivec.types import Modality


def _png_with_size(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares ``width`` x ``height`` (valid CRC), followed by no real image data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(bytes(64))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _good_png(path: Path, value: int) -> None:
    Image.fromarray(np.full((8, 8), value, np.uint8)).save(path)


# ------------------------------------------------------------------------------------------ each reader


def test_zero_byte_png(tmp_path) -> None:
    (tmp_path / "z.png").write_bytes(b"")
    with pytest.raises(DataError, match="empty file") as e:
        read_image(tmp_path / "z.png")
    assert e.value.path == str(tmp_path / "z.png")


def test_truncated_and_garbage_png(tmp_path) -> None:
    noise = np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)  # incompressible: long IDAT
    Image.fromarray(noise).save(tmp_path / "ok.png")
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated or corrupt"):
        read_image(tmp_path / "cut.png")
    (tmp_path / "junk.png").write_bytes(b"this is not an image at all")
    with pytest.raises(DataError, match="not a readable image"):
        read_image(tmp_path / "junk.png")


def test_png_declaring_absurd_dimensions(tmp_path) -> None:
    (tmp_path / "huge.png").write_bytes(_png_with_size(200_000, 200_000))
    with pytest.raises(DataError, match="absurd dimensions"):
        read_image(tmp_path / "huge.png")


def test_truncated_wav(tmp_path) -> None:
    path = write_wav(tmp_path / "a.wav", sine(440, 8000), 8000)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated WAV"):
        read_audio(path)
    path.write_bytes(data[:20])  # cut inside the header
    with pytest.raises(DataError, match=r"truncated|not a readable audio"):
        read_audio(path)


def test_wrong_idx_magic_truncated_and_absurd(tmp_path) -> None:
    good = bytes([0, 0, 8, 3]) + struct.pack(">III", 2, 3, 3) + bytes(18)
    (tmp_path / "magic.idx").write_bytes(b"\x12\x34" + good[2:])
    with pytest.raises(DataError, match="wrong magic"):
        read_idx(tmp_path / "magic.idx")
    (tmp_path / "short.idx").write_bytes(good[:-5])
    with pytest.raises(DataError, match="truncated"):
        read_idx(tmp_path / "short.idx")
    absurd = bytes([0, 0, 8, 3]) + struct.pack(">III", 4_000_000_000, 60000, 60000) + bytes(10)
    (tmp_path / "absurd.idx").write_bytes(absurd)
    with pytest.raises(DataError, match="absurd dimensions"):
        read_idx(tmp_path / "absurd.idx")
    # in gzip the size can't be checked against the file up front: still a DataError, no allocation
    header_only = bytes([0, 0, 8, 3]) + struct.pack(">III", 1000, 1000, 1000) + bytes(10)
    (tmp_path / "absurd.idx.gz").write_bytes(gzip.compress(header_only))
    with pytest.raises(DataError, match="absurd dimensions"):
        read_idx(tmp_path / "absurd.idx.gz")
    (tmp_path / "cut.idx.gz").write_bytes(gzip.compress(good)[:-12])
    with pytest.raises(DataError, match="truncated"):
        read_idx(tmp_path / "cut.idx.gz")


def test_garbage_mp4(tmp_path) -> None:
    (tmp_path / "g.mp4").write_bytes(np.random.default_rng(0).integers(0, 255, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(DataError, match=r"not a decodable video|no frames"):
        read_video(tmp_path / "g.mp4")


def test_csv_with_broken_quoting(tmp_path) -> None:
    (tmp_path / "b.csv").write_text('text,label\n"an unclosed quote,a\nnext,b\n')
    with pytest.raises(DataError, match="malformed CSV"):
        read_table(tmp_path / "b.csv")
    (tmp_path / "r.csv").write_text("text,label\na,b,c\n")
    with pytest.raises(DataError, match="3 fields but the header has 2"):
        read_table(tmp_path / "r.csv")
    (tmp_path / "j.jsonl").write_text('{"text": "a"}\n{"text": \n')
    with pytest.raises(DataError, match="line 2: not valid JSON"):
        read_table(tmp_path / "j.jsonl")


def test_nan_in_npy(tmp_path) -> None:
    pts = np.random.default_rng(0).normal(size=(50, 3))
    pts[7, 1] = np.nan
    np.save(tmp_path / "p.npy", pts)
    with pytest.raises(DataError, match="non-finite"):
        read_points(tmp_path / "p.npy")
    np.save(tmp_path / "v.npy", np.full((4, 8, 8), np.inf, np.float32))
    with pytest.raises(DataError, match="non-finite"):
        read_video(tmp_path / "v.npy")


def test_point_headers_declaring_absurd_counts(tmp_path) -> None:
    (tmp_path / "a.off").write_text("OFF\n999999999999 1 0\n0 0 0\n")
    with pytest.raises(DataError, match="absurd dimensions"):
        read_points(tmp_path / "a.off")
    (tmp_path / "t.off").write_text("OFF\n10 0 0\n0 0 0\n1 1 1\n")
    with pytest.raises(DataError, match="truncated OFF"):
        read_points(tmp_path / "t.off")
    ply = b"ply\nformat binary_little_endian 1.0\nelement vertex 5000000\nproperty float x\nproperty float y\n"
    (tmp_path / "t.ply").write_bytes(ply + b"property float z\nend_header\n" + bytes(24))
    with pytest.raises(DataError, match="truncated PLY"):
        read_points(tmp_path / "t.ply")
    (tmp_path / "w.ply").write_bytes(b"not a ply\n")
    with pytest.raises(DataError, match="wrong format"):
        read_points(tmp_path / "w.ply")


def test_unknown_extension(tmp_path) -> None:
    (tmp_path / "x.foo").write_bytes(b"data")
    with pytest.raises(DataError, match=r"unknown extension '\.foo'"):
        read_sample(tmp_path / "x.foo")


# ------------------------------------------------------------------------------------------ folders


def _image_corpus(root: Path) -> None:
    for cls, value in (("cat", 50), ("dog", 200)):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            _good_png(root / cls / f"{i}.png", value)
    (root / "cat" / "empty.png").write_bytes(b"")
    (root / "dog" / "huge.png").write_bytes(_png_with_size(100_000, 100_000))
    (root / "dog" / "notes.foo").write_bytes(b"?")


def test_image_folder_skips_bad_files_and_loads_the_rest(tmp_path) -> None:
    _image_corpus(tmp_path)
    ds = from_folder(tmp_path)
    assert ds.class_names == ["cat", "dog"] and ds.modality is Modality.IMAGE and len(ds) == 9
    results = [ds[i] for i in range(len(ds))]
    good, skipped = drop_skipped(results)
    assert len(good) == 6 and all(x.shape == (1, 8, 8) for x, _ in good)
    assert sorted(t for _, t in good) == [0, 0, 0, 1, 1, 1]
    reasons = {Path(s.path).name: s.reason for s in skipped}
    assert set(reasons) == {"empty.png", "huge.png", "notes.foo"}
    assert "empty file" in reasons["empty.png"] and "absurd" in reasons["huge.png"]
    assert "unknown extension" in reasons["notes.foo"]
    assert {Path(s.path).name for s in scan(ds)} == set(reasons)
    log = SkipLog()
    log.add(skipped)
    log.add(skipped)  # reported once per file
    assert len(log) == 3 and "empty.png: empty file" in log.report()


def test_strict_raises_with_path_and_reason(tmp_path) -> None:
    _image_corpus(tmp_path)
    ds = from_folder(tmp_path, strict=True)
    bad = next(i for i, (p, _) in enumerate(ds.items) if p.endswith("empty.png"))
    with pytest.raises(DataError) as e:
        ds[bad]
    assert e.value.path.endswith("empty.png") and "empty file" in e.value.reason


def test_audio_video_points_folders(tmp_path) -> None:
    for cls in ("a", "b"):
        (tmp_path / "aud" / cls).mkdir(parents=True)
        write_wav(tmp_path / "aud" / cls / "ok.wav", sine(300, 16000, 0.2), 16000)
    cut = write_wav(tmp_path / "aud" / "b" / "cut.wav", sine(300, 16000, 0.2), 16000)
    cut.write_bytes(cut.read_bytes()[:2000])
    ds = from_folder(tmp_path / "aud")
    assert ds.modality is Modality.AUDIO
    out = {Path(p).name + str(t): ds[i][0] for i, (p, t) in enumerate(ds.items)}
    assert isinstance(out["cut.wav1"], Skipped) and "truncated" in out["cut.wav1"].reason
    assert isinstance(out["ok.wav0"], torch.Tensor)

    (tmp_path / "vid" / "x").mkdir(parents=True)
    write_mp4(tmp_path / "vid" / "x" / "ok.mp4", np.zeros((4, 16, 16, 3), np.uint8))
    (tmp_path / "vid" / "x" / "bad.mp4").write_bytes(b"\x00" * 1000)
    vds = from_folder(tmp_path / "vid")
    got = {Path(p).name: vds[i][0] for i, (p, _) in enumerate(vds.items)}
    assert got["ok.mp4"].shape == (3, 8, 64, 64) and isinstance(got["bad.mp4"], Skipped)

    (tmp_path / "pts" / "x").mkdir(parents=True)
    np.save(tmp_path / "pts" / "x" / "ok.npy", np.random.default_rng(0).normal(size=(40, 3)))
    np.save(tmp_path / "pts" / "x" / "nan.npy", np.full((40, 3), np.nan))
    pds = from_folder(tmp_path / "pts")
    assert pds.modality is Modality.POINTS
    got = {Path(p).name: pds[i][0] for i, (p, _) in enumerate(pds.items)}
    assert got["ok.npy"].shape == (1024, 3) and "non-finite" in got["nan.npy"].reason


def test_mixed_modalities_is_a_clear_error(tmp_path) -> None:
    (tmp_path / "a").mkdir()
    _good_png(tmp_path / "a" / "x.png", 1)
    write_wav(tmp_path / "a" / "y.wav", sine(300, 8000, 0.1), 8000)
    with pytest.raises(DataError, match="one modality per folder"):
        from_folder(tmp_path)


def test_manifests(tmp_path) -> None:
    (tmp_path / "img").mkdir()
    _good_png(tmp_path / "img" / "a.png", 10)
    (tmp_path / "img" / "b.png").write_bytes(b"")
    (tmp_path / "m.csv").write_text("path,label\nimg/a.png,yes\nimg/b.png,no\n")
    ds = load_byo(tmp_path / "m.csv")
    assert ds.class_names == ["no", "yes"] and ds[0][0].shape == (1, 8, 8) and ds[0][1] == 1
    assert isinstance(ds[1][0], Skipped)
    (tmp_path / "t.jsonl").write_text(
        '{"sentence": "hi there", "intent": "greet"}\n{"sentence": "bye", "intent": "end"}\n'
    )
    tds = from_manifest(tmp_path / "t.jsonl", text_column="sentence", label_column="intent")
    assert tds.modality is Modality.TEXT and tds[0] == ("hi there", 1)
    (tmp_path / "broken.csv").write_text('text,label\n"oops,a\n')
    with pytest.raises(DataError, match="malformed CSV"):
        load_byo(tmp_path / "broken.csv")
    with pytest.raises(DataError, match="no label column 'label'"):
        from_manifest(tmp_path / "t.jsonl", text_column="sentence")
