"""Every reader against files the test writes itself, and against the staged real files when present."""

from __future__ import annotations

import gzip
import math
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from data_helpers import CUBE_OFF, peak_hz, real_root, sine, write_mp4, write_wav
from omnivec.data.readers import ReadOptions, read_audio, read_image, read_sample, read_table, read_text
from omnivec.data.readers.idx import read_idx, write_idx
from omnivec.data.readers.points import read_points
from omnivec.data.readers.video import read_video, uniform_indices
from omnivec.data.resample import resample, resample_many
from omnivec.errors import DataError

# ------------------------------------------------------------------------------------------ resampler


@pytest.mark.parametrize(("orig", "new", "freq"), [(16000, 8000, 1000.0), (8000, 16000, 440.0), (44100, 16000, 3000.0)])
def test_resample_keeps_frequency_and_scales_length(orig: int, new: int, freq: float) -> None:
    x = torch.from_numpy(sine(freq, orig))
    y = resample(x, orig, new)
    assert y.shape == (math.ceil(len(x) * new / orig),)
    assert abs(peak_hz(y.numpy(), new) - freq) <= 2.0
    # amplitude is preserved away from the edges
    assert abs(float(y[200:-200].abs().max()) - 0.5) < 0.02


def test_resample_removes_frequencies_above_the_new_nyquist() -> None:
    x = torch.from_numpy(sine(6000.0, 16000))  # above 4 kHz: must not alias to 2 kHz at 8 kHz
    y = resample(x, 16000, 8000)
    assert float(y[100:-100].abs().max()) < 0.01


def test_resample_batched_equals_one_by_one() -> None:
    x = torch.randn(3, 1000)
    y = resample(x, 22050, 16000)
    for i in range(3):
        torch.testing.assert_close(y[i], resample(x[i], 22050, 16000))


@pytest.mark.parametrize(("orig", "new"), [(8000, 16000), (44100, 16000), (22050, 16000)])
def test_resample_many_equals_one_by_one(orig: int, new: int) -> None:
    waves = [torch.randn(n) for n in (1000, 1337, 17, 2501)]
    for one, w in zip(resample_many(waves, orig, new), waves):
        torch.testing.assert_close(one, resample(w, orig, new), atol=1e-6, rtol=0)


# ------------------------------------------------------------------------------------------ images


def test_png_gray_and_rgb(tmp_path) -> None:
    gray = np.arange(24 * 32, dtype=np.uint8).reshape(24, 32)
    Image.fromarray(gray).save(tmp_path / "g.png")
    rgb = np.zeros((10, 12, 3), np.uint8)
    rgb[..., 1] = 255
    Image.fromarray(rgb).save(tmp_path / "c.png")
    g = read_image(tmp_path / "g.png")
    assert g.shape == (1, 24, 32) and g.dtype == torch.float32
    assert torch.allclose(g[0], torch.from_numpy(gray).float() / 255)
    c = read_image(tmp_path / "c.png", size=16)
    assert c.shape == (3, 16, 16)
    assert torch.allclose(c[1], torch.ones(16, 16)) and float(c[0].max()) == 0.0
    assert read_image(tmp_path / "g.png", channels=3).shape == (3, 24, 32)


def test_jpeg(tmp_path) -> None:
    Image.fromarray(np.full((20, 20, 3), 128, np.uint8)).save(tmp_path / "a.jpg")
    x = read_image(tmp_path / "a.jpg")
    assert x.shape == (3, 20, 20) and abs(float(x.mean()) - 128 / 255) < 0.02


# ------------------------------------------------------------------------------------------ audio


def test_wav_16k_resampled_to_8k_keeps_its_tone(tmp_path) -> None:
    path = write_wav(tmp_path / "a.wav", sine(1000.0, 16000), 16000)
    x = read_audio(path, sample_rate=8000)
    assert x.shape == (8000,) and x.dtype == torch.float32
    assert abs(peak_hz(x.numpy(), 8000) - 1000.0) <= 2.0


def test_stereo_flac_is_mixed_to_mono(tmp_path) -> None:
    left, right = sine(500.0, 8000), sine(500.0, 8000) * 0.0
    path = tmp_path / "s.flac"
    import soundfile as sf

    sf.write(path, np.stack([left, right], axis=1), 8000)
    x = read_audio(path, sample_rate=None)
    assert x.ndim == 1 and abs(float(x.abs().max()) - 0.25) < 0.01  # (left + 0) / 2


# ------------------------------------------------------------------------------------------ video


def test_uniform_indices() -> None:
    assert uniform_indices(10, 5).tolist() == [1, 3, 5, 7, 9]
    assert uniform_indices(3, 6).tolist() == [0, 0, 1, 1, 2, 2]


def test_mp4_written_with_pyav(tmp_path) -> None:
    # 20 frames getting brighter: uniform sampling must keep them in order
    frames = np.stack([np.full((32, 48, 3), 10 * t + 20, np.uint8) for t in range(20)])
    path = write_mp4(tmp_path / "v.mp4", frames)
    v = read_video(path, num_frames=8, size=16)
    assert v.shape == (3, 8, 16, 16) and v.dtype == torch.float32
    brightness = v.mean(dim=(0, 2, 3))
    assert torch.all(brightness[1:] > brightness[:-1])
    expected = (10 * uniform_indices(20, 8) + 20) / 255
    assert np.allclose(brightness.numpy(), expected, atol=0.03)


def test_npy_and_npz_frames(tmp_path) -> None:
    arr = np.random.default_rng(0).integers(0, 255, (6, 8, 8), dtype=np.uint8)
    np.save(tmp_path / "f.npy", arr)
    v = read_video(tmp_path / "f.npy", num_frames=3, size=None)
    assert v.shape == (1, 3, 8, 8)
    assert torch.allclose(v[0, 0], torch.from_numpy(arr[1]).float() / 255)
    np.savez(tmp_path / "f.npz", frames=arr[..., None].repeat(3, -1))
    assert read_sample(tmp_path / "f.npz", opts=ReadOptions(num_frames=4, video_size=4)).shape == (3, 4, 4, 4)


# ------------------------------------------------------------------------------------------ point clouds


def _check_cloud(x: torch.Tensor, n: int) -> None:
    assert x.shape == (n, 3) and x.dtype == torch.float32
    assert torch.allclose(x.mean(0), torch.zeros(3), atol=0.1)
    assert float(x.norm(dim=1).max()) == pytest.approx(1.0, abs=1e-5)


def test_off_mesh_is_sampled_on_its_surface(tmp_path) -> None:
    (tmp_path / "cube.off").write_text(CUBE_OFF)
    x = read_points(tmp_path / "cube.off", 512)
    _check_cloud(x, 512)
    # surface points of a cube: every point lies on a face, i.e. one coordinate is that axis' min or max
    lo, hi = x.min(0).values, x.max(0).values
    on_face = ((x - lo).abs() < 1e-4).any(dim=1) | ((x - hi).abs() < 1e-4).any(dim=1)
    assert bool(on_face.all())
    assert torch.equal(x, read_points(tmp_path / "cube.off", 512))  # seeded: same file, same points


def test_off_with_counts_on_the_first_line(tmp_path) -> None:
    (tmp_path / "c.off").write_text(CUBE_OFF.replace("OFF\n8 12 0", "OFF8 12 0"))
    _check_cloud(read_points(tmp_path / "c.off", 64), 64)


def _ply_header(fmt: str, nv: int, nf: int) -> bytes:
    return (
        f"ply\nformat {fmt} 1.0\ncomment test\nelement vertex {nv}\nproperty float x\nproperty float y\n"
        f"property float z\nproperty uchar red\nelement face {nf}\nproperty list uchar int vertex_indices\n"
        "end_header\n"
    ).encode()


def test_ply_ascii_and_binary_agree(tmp_path) -> None:
    verts = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32)
    faces = [(0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3)]
    body = "".join(f"{a} {b} {c} 7\n" for a, b, c in verts) + "".join(f"3 {a} {b} {c}\n" for a, b, c in faces)
    (tmp_path / "a.ply").write_bytes(_ply_header("ascii", 4, 4) + body.encode())
    binary = b"".join(struct.pack("<fffB", *v, 7) for v in verts) + b"".join(struct.pack("<Biii", 3, *f) for f in faces)
    (tmp_path / "b.ply").write_bytes(_ply_header("binary_little_endian", 4, 4) + binary)
    a, b = read_points(tmp_path / "a.ply", 256), read_points(tmp_path / "b.ply", 256)
    _check_cloud(a, 256)
    torch.testing.assert_close(a, b)


def test_xyz_txt_and_npy(tmp_path) -> None:
    pts = np.random.default_rng(1).normal(size=(100, 3))
    np.savetxt(tmp_path / "p.xyz", pts)
    np.savetxt(tmp_path / "p.txt", np.hstack([pts, np.ones((100, 3))]), delimiter=",")
    np.save(tmp_path / "p.npy", pts.astype(np.float32))
    for name in ("p.xyz", "p.txt", "p.npy"):
        x = read_points(tmp_path / name, 64)
        _check_cloud(x, 64)
    assert read_sample(tmp_path / "p.npy", opts=ReadOptions(num_points=32)).shape == (32, 3)
    assert read_points(tmp_path / "p.xyz", 300).shape == (300, 3)  # fewer points than asked: repeats


# ------------------------------------------------------------------------------------------ text


def test_csv_with_quoted_newlines_and_commas(tmp_path) -> None:
    (tmp_path / "t.csv").write_text('text,label\n"line one\nline two, still one field",a\nplain,b\n', "utf-8")
    rows = read_table(tmp_path / "t.csv", required=("text", "label"))
    assert rows == [
        {"text": "line one\nline two, still one field", "label": "a"},
        {"text": "plain", "label": "b"},
    ]


def test_tsv_jsonl_and_txt(tmp_path) -> None:
    (tmp_path / "t.tsv").write_text("text\tlabel\nhello, world\tx\n")
    assert read_table(tmp_path / "t.tsv")[0]["text"] == "hello, world"
    (tmp_path / "t.jsonl").write_text('{"text": "a", "label": 1}\n\n{"text": "b", "label": 2}\n')
    assert [r["label"] for r in read_table(tmp_path / "t.jsonl")] == [1, 2]
    (tmp_path / "t.txt").write_text("  some text\n")
    assert read_text(tmp_path / "t.txt") == "some text"
    with pytest.raises(DataError, match="missing column"):
        read_table(tmp_path / "t.tsv", required=("category",))


# ------------------------------------------------------------------------------------------ IDX


@pytest.mark.parametrize("name", ["x.idx", "x.idx.gz"])
def test_idx_round_trip(tmp_path, name: str) -> None:
    arr = np.random.default_rng(0).integers(0, 255, (5, 4, 3), dtype=np.uint8)
    write_idx(tmp_path / name, arr)
    assert (tmp_path / name).read_bytes()[:2] == (b"\x1f\x8b" if name.endswith(".gz") else b"\x00\x00")
    np.testing.assert_array_equal(read_idx(tmp_path / name), arr)
    f = np.arange(6, dtype=np.float32).reshape(2, 3)
    write_idx(tmp_path / "f.idx", f)
    np.testing.assert_array_equal(read_idx(tmp_path / "f.idx"), f)


def test_idx_gzip_detected_by_content_not_name(tmp_path) -> None:
    arr = np.arange(10, dtype=np.uint8)
    (tmp_path / "plain-name").write_bytes(gzip.compress(bytes([0, 0, 8, 1]) + struct.pack(">I", 10) + arr.tobytes()))
    np.testing.assert_array_equal(read_idx(tmp_path / "plain-name"), arr)


# ------------------------------------------------------------------------------------------ real staged files


@pytest.mark.realdata
def test_real_idx_and_wav_and_csv() -> None:
    root = real_root()
    x = read_idx(root / "mnist" / "t10k-images-idx3-ubyte.gz", expect_ndim=3)
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8
    assert abs(float(x.mean()) - 33.791) < 0.01  # DATASETS.md
    y = read_idx(root / "mnist" / "t10k-labels-idx1-ubyte.gz")
    assert np.bincount(y).tolist()[:3] == [980, 1135, 1032]
    wav = read_audio(root / "fsdd" / "recordings" / "7_jackson_0.wav", sample_rate=None)
    assert wav.ndim == 1 and 0.14 * 8000 <= len(wav) <= 2.3 * 8000 and float(wav.abs().max()) <= 1.0
    wav16 = read_audio(root / "fsdd" / "recordings" / "7_jackson_0.wav", sample_rate=16000)
    assert len(wav16) == 2 * len(wav)
    rows = read_table(root / "banking77" / "test.csv", required=("text", "category"))
    assert len(rows) == 3080 and sum("\n" in r["text"] for r in rows) >= 1
