"""Issue 25, "bounded by design": no input costs more than its limit allows, nothing outside the data folder is
read, and a refused command changes nothing.

Every input here is crafted in ``tmp_path`` and small on disk (at most a few hundred KB): odd sample rates and a
2^31-1 Hz header, 10 minutes of 96 kHz stereo FLAC silence, an .npz of compressed zeros, a PNG whose header
declares 8000 x 8000, other image formats named ``.png``, a 16-bit PNG, megabytes of text, TSV and manifest rows
that point out of their folder, and merges refused over an existing folder. Peak memory is measured in a child
process (peak RSS minus RSS before the read), so the bound holds for torch's allocations too.
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from crafted_files import (
    OTHER_FORMATS,
    npy_declaring,
    npz_of_zeros,
    other_format,
    png_declaring,
    silent_flac,
    wav_with_rate,
)
from omnivec.data import resample as rs
from omnivec.data.base import Skipped
from omnivec.data.byo import from_manifest, scan
from omnivec.data.readers import ReadOptions, read_audio, read_image, read_sample, read_text
from omnivec.data.readers.validate import MAX_AUDIO_SAMPLES
from omnivec.errors import DataError, OmnivecError, OutsideRoot, TooLarge

LINUX = sys.platform.startswith("linux")


def _peak_mb(code: str) -> float:
    """Peak RSS growth (MB) of ``code`` run in a fresh interpreter after omnivec's readers are imported: the
    peak (VmHWM, reset first through clear_refs where the kernel allows) minus the RSS before. Not ru_maxrss,
    which a child started by vfork + exec inherits from its parent (pytest's own few hundred MB)."""
    prog = textwrap.dedent(
        """
        import omnivec.data.readers, omnivec.data.readers.video, omnivec.data.readers.points
        def status_kb(key):
            for line in open("/proc/self/status"):
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # resets VmHWM to the current RSS
        except OSError:
            pass
        before = status_kb("VmRSS")
        """
    )
    prog += textwrap.dedent(code) + '\nprint((status_kb("VmHWM") - before) / 1024)\n'
    out = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=300, check=True)
    return float(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------ audio


@pytest.mark.skipif(not LINUX, reason="reads peak RSS from /proc")
@pytest.mark.parametrize("rate", [8001, 11127, (1 << 31) - 1])
def test_odd_sample_rates_cost_little_memory_and_time(tmp_path: Path, rate: int) -> None:
    """The old filter bank had ~(rate/gcd)^2 entries: 2.8 GB for a one-second 8001 Hz WAV, 3.7 GB at 11127 Hz,
    an attempted 17 GB for a 32 KB WAV declaring 2^31-1 Hz."""
    frames = min(rate, 16000)
    path = wav_with_rate(tmp_path / "odd.wav", rate, frames)
    t0 = time.perf_counter()
    peak = _peak_mb(f"from omnivec.data.readers import read_audio\ny = read_audio({str(path)!r}, 16000)\n")
    assert peak < 200, f"{rate} Hz: peak RSS grew {peak:.0f} MB"
    assert time.perf_counter() - t0 < 60
    y = read_audio(path, 16000)
    assert y.shape == (rs.resampled_length(frames, rate, 16000),) and torch.isfinite(y).all()


@pytest.mark.parametrize("orig,new", [(16000, 8000), (44100, 8000), (8000, 16000), (22050, 16000), (11025, 16000)])
def test_direct_resampler_equals_the_filter_bank(orig: int, new: int) -> None:
    """The bank-free way (taken for odd rates) computes the same sums as the polyphase bank (ordinary rates,
    numerically the resampler as it was): equal to float64 rounding."""
    x = torch.randn(2, orig // 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    m, n = rs._reduced(orig, new)
    length = rs.resampled_length(x.shape[-1], orig, new)
    bank = rs._polyphase(x, m, n, 6, 0.99, length)
    direct = rs._direct(x, m, n, 6, 0.99, length)
    torch.testing.assert_close(direct, bank, atol=1e-11, rtol=0)


def test_resampler_cache_is_bounded_and_odd_rates_leave_nothing_in_it() -> None:
    """`serve` kept +500 MB per odd rate (lru_cache of 16 banks of any size): banks are now at most MAX_BANK
    entries, BANK_CACHE of them."""
    assert rs.BANK_CACHE * rs.MAX_BANK * 8 <= 64 << 20
    rs._sinc_kernels.cache_clear()
    rs.resample(torch.randn(4000), 8001, 16000)
    rs.resample(torch.randn(4000), 11127, 16000)
    assert rs._sinc_kernels.cache_info().currsize == 0
    rs.resample(torch.randn(4000), 44100, 16000)
    assert rs._sinc_kernels.cache_info().currsize == 1


def test_ten_minutes_of_96k_stereo_flac_is_refused_from_its_header(tmp_path: Path) -> None:
    """A 223 KB silent FLAC took 6.7 GB: the limit counted seconds (3600), not samples."""
    path = silent_flac(tmp_path / "silence.flac")
    assert path.stat().st_size < 400_000
    t0 = time.perf_counter()
    with pytest.raises(TooLarge, match=r"57,600,000 frames x 2 channels.*ReadOptions\.max_audio_samples") as e:
        read_audio(path, 16000)
    assert time.perf_counter() - t0 < 1 and e.value.limit == MAX_AUDIO_SAMPLES
    with pytest.raises(TooLarge):  # the same through the dispatcher, with the run's options
        read_sample(path, opts=ReadOptions(sample_rate=16000))


def test_audio_limit_counts_the_resampled_length_and_is_configurable(tmp_path: Path) -> None:
    path = wav_with_rate(tmp_path / "a.wav", 8000, 600)
    assert read_sample(path, opts=ReadOptions(sample_rate=16000, max_audio_samples=1200)).shape == (1200,)
    with pytest.raises(TooLarge, match=r"after resampling 8,000 -> 16,000 Hz"):
        read_sample(path, opts=ReadOptions(sample_rate=16000, max_audio_samples=1000))


def test_stereo_is_mixed_to_mono_block_by_block_as_before(tmp_path: Path) -> None:
    path = tmp_path / "s.wav"
    wave = np.random.default_rng(1).uniform(-0.5, 0.5, (150_000, 2)).astype(np.float32)
    sf.write(path, wave, 16000, subtype="FLOAT")
    np.testing.assert_array_equal(read_audio(path).numpy(), wave.mean(axis=1))


# ------------------------------------------------------------------------------------------ arrays


@pytest.mark.skipif(not LINUX, reason="reads peak RSS from /proc")
def test_npz_of_zeros_is_refused_from_its_header(tmp_path: Path) -> None:
    """A 583 KB .npz of zeros took 2.1 GB before it was refused: .npy had an element cap, .npz none."""
    path = npz_of_zeros(tmp_path / "bomb.npz", (1024, 512, 512))  # 2^28 values, 256 KB on disk
    assert path.stat().st_size < 600_000
    code = f"""
        from omnivec.data.readers import read_sample
        from omnivec.errors import TooLarge
        for mod in ("video", "points", None):
            try:
                read_sample({str(path)!r}, mod)
                raise SystemExit("read")
            except TooLarge:
                pass
        """
    assert _peak_mb(code) < 100
    with pytest.raises(TooLarge, match=r"shape \(1024, 512, 512\).*ReadOptions\.max_array_elements"):
        read_sample(path, "video")


def test_array_limit_applies_to_npy_headers_and_is_configurable(tmp_path: Path) -> None:
    np.save(tmp_path / "p.npy", np.random.default_rng(0).normal(size=(400, 3)))
    assert read_sample(tmp_path / "p.npy", "points", ReadOptions(num_points=16)).shape == (16, 3)
    with pytest.raises(TooLarge, match="max_array_elements"):
        read_sample(tmp_path / "p.npy", "points", ReadOptions(max_array_elements=1000))
    with pytest.raises(TooLarge):
        read_sample(npy_declaring(tmp_path / "h.npy", (1 << 40, 3)))  # the modality guess reads only the header too


# ------------------------------------------------------------------------------------------ video


def test_video_limits_count_frame_pixels_and_the_frames_kept(tmp_path: Path) -> None:
    from data_helpers import write_mp4

    frames = np.random.default_rng(0).integers(0, 255, (12, 32, 48, 3), dtype=np.uint8)
    path = write_mp4(tmp_path / "clip.mp4", frames)
    assert read_sample(path, opts=ReadOptions(num_frames=4, video_size=16)).shape == (3, 4, 16, 16)
    with pytest.raises(TooLarge, match=r"32x48|48x32"):  # the stream header's frame size
        read_sample(path, opts=ReadOptions(max_image_pixels=1000))
    with pytest.raises(TooLarge, match="max_video_elements"):  # 12 frames of 16 x 16 x 3 kept: 9216 values
        read_sample(path, opts=ReadOptions(num_frames=4, video_size=16, max_video_elements=5000))


# ------------------------------------------------------------------------------------------ images


def test_png_declaring_8000_by_8000_is_refused_before_decoding(tmp_path: Path) -> None:
    """64 Mpixel sits under Pillow's bomb warning (89 M): a 186 KB PNG of it took ~500 MB per request."""
    path = png_declaring(tmp_path / "big.png", 8000, 8000)
    with pytest.raises(TooLarge, match=r"8000x8000.*ReadOptions\.max_image_pixels"):
        read_image(path)
    with pytest.raises(TooLarge):
        read_sample(path, opts=ReadOptions(image_size=32, channels=3))
    small = png_declaring(tmp_path / "s.png", 40, 40)
    with pytest.raises(TooLarge):
        read_sample(small, opts=ReadOptions(max_image_pixels=1000))


@pytest.fixture
def no_eps(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records any attempt of Pillow's EPS plugin (its Ghostscript runs the file's PostScript) to look at a file."""
    from PIL import EpsImagePlugin

    tried: list[str] = []

    def refuse(self: Any) -> None:
        tried.append("eps")
        raise SyntaxError("the EPS plugin must never be reached")

    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", refuse)
    return tried


@pytest.mark.parametrize("fmt", OTHER_FORMATS)
def test_other_image_formats_named_png_are_refused_on_every_path(tmp_path: Path, fmt: str, no_eps: list[str]) -> None:
    data = other_format(fmt)
    path = tmp_path / "x.png"
    path.write_bytes(data)
    expected = r"x\.png: not a readable image: not PNG, JPEG, BMP, GIF, WebP"
    with pytest.raises(DataError, match=expected):  # CLI inputs and training folders
        read_sample(path)
    with pytest.raises(OmnivecError, match=expected):  # the Python API / predict / embed
        from omnivec.data.readers.inputs import read_file

        read_file(path, "image", {})

    from omnivec.families.unival.tsv import load_image

    with pytest.raises(DataError, match=r"<base64 image>: not a readable image"):  # TSV base64 images
        load_image(base64.b64encode(data).decode())

    from omnivec.serve.uploads import BadRequest, Payload, decode

    with pytest.raises(BadRequest, match=r"'x\.png' cannot be read as image: not a readable image"):  # uploads
        decode(Payload(data=data, filename="x.png"), "image", {"image_size": 16, "channels": 3})
    assert no_eps == []


def test_the_documented_formats_still_read(tmp_path: Path) -> None:
    for fmt, ext in [("PNG", "png"), ("JPEG", "jpg"), ("BMP", "bmp"), ("GIF", "gif"), ("WEBP", "webp")]:
        Image.new("RGB", (12, 10), (10, 200, 10)).save(tmp_path / f"a.{ext}", format=fmt)
        assert read_image(tmp_path / f"a.{ext}", 8, 3).shape == (3, 8, 8)
    (tmp_path / "jpeg-named.png").write_bytes((tmp_path / "a.jpg").read_bytes())
    assert read_image(tmp_path / "jpeg-named.png").shape == (3, 10, 12)  # a documented format by any name


def test_16_bit_gray_png_reads_the_same_in_rgb_runs(tmp_path: Path) -> None:
    """I;16 -> RGB clipped at 255 (white) where the gray path scaled by 65535: training and prediction disagreed."""
    values = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    gray = read_image(tmp_path / "g16.png")
    rgb = read_image(tmp_path / "g16.png", channels=3)
    assert gray.shape == (1, 8, 8) and rgb.shape == (3, 8, 8)
    torch.testing.assert_close(gray[0], torch.from_numpy(values / 65535.0).float())
    assert all(torch.equal(rgb[c], gray[0]) for c in range(3))
    small_rgb, small_gray = read_image(tmp_path / "g16.png", 4, 3), read_image(tmp_path / "g16.png", 4, 1)
    assert all(torch.equal(small_rgb[c], small_gray[0]) for c in range(3)) and small_rgb.max() < 1


# ------------------------------------------------------------------------------------------ text


def test_text_files_are_read_up_to_their_limit(tmp_path: Path) -> None:
    path = tmp_path / "long.txt"
    path.write_bytes(b"\xef\xbb\xbf" + ("word \u00e9t\u00e9 " * 400_000).encode())  # 4.8 MB, a BOM first
    text = read_text(path)
    assert len(text.encode()) <= 1 << 20 and text.startswith("word")
    short = read_sample(path, opts=ReadOptions(max_text_bytes=1001))  # 1001 falls inside a 2-byte character
    assert len(short.encode()) <= 1001 and "\ufffd" not in short


class _Spy:
    """Forwards to a ``tokenizers.Tokenizer``, recording the length of every text it is given."""

    def __init__(self, tk: Any) -> None:
        self.tk = tk
        self.lengths: list[int] = []

    def encode(self, text: str) -> Any:
        self.lengths.append(len(text))
        return self.tk.encode(text)

    def encode_batch(self, texts: list[str]) -> Any:
        self.lengths += [len(t) for t in texts]
        return self.tk.encode_batch(texts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tk, name)


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    from omnivec.nn.tokenizer import TextTokenizer

    return TextTokenizer.train([f"the card {i} did not arrive in time" for i in range(300)], 400)


def test_long_texts_are_cut_before_the_tokenizer_sees_them(tokenizer: Any) -> None:
    """A 10 MB line took 2.1 GB and 16 s; a 50 MB single token aborted the process in the Rust tokenizer."""
    words = "my card did not arrive " * 500_000  # 11.5 MB
    reference = tokenizer.tk.encode(words[:20_000]).ids[:64]  # the first 64 tokens do not need more
    spy = _Spy(tokenizer.tk)
    tokenizer.tk = spy
    try:
        batch = tokenizer.batch([words, "x" * 50_000_000, "short"], 64)
        one = tokenizer.encode(words, 62)
    finally:
        tokenizer.tk = spy.tk
    assert max(spy.lengths) <= tokenizer.char_budget(64) < 100_000
    assert batch.data[0].tolist() == reference and one == reference[:62]
    assert batch.lengths.tolist()[:2] == [64, 64]


def test_tokenizer_training_sees_a_bounded_prefix_of_each_text() -> None:
    """BPE training is quadratic in the longest word: 100 k characters without a space took 5 s, 1 M minutes."""
    from omnivec.nn.tokenizer import TextTokenizer

    t0 = time.perf_counter()
    TextTokenizer.train([f"a short text {i}" for i in range(50)] + ["y" * 400_000], 300)
    assert time.perf_counter() - t0 < 20


# ------------------------------------------------------------------------------------------ paths


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every path opened through ``open`` or ``Image.open`` during the test."""
    seen: list[str] = []
    real_open, real_image_open = builtins.open, Image.open

    def spy_open(file: Any, *a: Any, **k: Any) -> Any:
        seen.append(str(file))
        return real_open(file, *a, **k)

    def spy_image_open(fp: Any, *a: Any, **k: Any) -> Any:
        seen.append(str(getattr(fp, "name", fp)))
        return real_image_open(fp, *a, **k)

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(Image, "open", spy_image_open)
    return seen


def _escapes(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    """A data folder beside a secret image, and path values that lead to it: ``..``, absolute, a link out."""
    secret = tmp_path / "secret.png"
    Image.new("RGB", (8, 8), (255, 0, 0)).save(secret)
    data = tmp_path / "data"
    (data / "imgs").mkdir(parents=True)
    for i in range(2):
        Image.new("RGB", (8, 8), (0, 40 * i, 0)).save(data / "imgs" / f"ok{i}.png")
    os.symlink(secret, data / "imgs" / "link.png")
    return data, secret, ["../secret.png", "imgs/../../secret.png", str(secret), "imgs/link.png"]


def test_tsv_image_paths_outside_the_folder_are_skipped_never_opened(tmp_path: Path, opened: list[str]) -> None:
    from omnivec.families.unival.config import unival_preset
    from omnivec.families.unival.tsv import load_image
    from omnivec.families.unival.tsv_tasks import build

    data, secret, escapes = _escapes(tmp_path)
    opened.clear()  # writing the files opened them
    values = ["imgs/ok0.png", *escapes, "imgs/ok1.png"]
    for v in escapes:
        with pytest.raises(OutsideRoot, match="outside the data folder"):
            load_image(v, data)
    rows = [[str(i), f"im{i}", "a small square", "", v] for i, v in enumerate(values)]
    tsv = data / "cap.tsv"
    tsv.write_text("".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
    cfg = unival_preset("tiny", num_bins=16)
    cfg.tsv, cfg.image_size = {"caption": [str(tsv), str(tsv)]}, 16
    train, _ = build("tsv_caption", cfg)
    items = [train[i][0] for i in range(len(train))]
    skipped = [x for x in items if isinstance(x, Skipped)]
    assert len(skipped) == len(escapes) and not isinstance(items[0], Skipped) and not isinstance(items[-1], Skipped)
    assert all("(image): " in s.reason and "outside the data folder" in s.reason for s in skipped)
    assert any(p.endswith("ok0.png") for p in opened) and not any(p.endswith("secret.png") for p in opened)


def test_manifest_rows_outside_the_folder_are_skipped_never_opened(tmp_path: Path, opened: list[str]) -> None:
    data, secret, escapes = _escapes(tmp_path)
    opened.clear()  # writing the files opened them
    lines = ["path,label", "imgs/ok0.png,a", "imgs/ok1.png,b"] + [f"{v},a" for v in escapes]
    (data / "train.csv").write_text("\n".join(lines) + "\n")
    ds = from_manifest(data / "train.csv", opts=ReadOptions(image_size=8))
    items = [ds[i][0] for i in range(len(ds))]
    assert [isinstance(x, Skipped) for x in items] == [False, False] + [True] * len(escapes)
    reasons = [s.reason for s in scan(ds)]
    assert len(reasons) == len(escapes) and all("outside the data folder" in r for r in reasons)
    assert any(p.endswith("ok0.png") for p in opened) and not any(p.endswith("secret.png") for p in opened)
    inside_abs = data / "abs.csv"  # an absolute path that lies inside the folder is the same file: allowed
    inside_abs.write_text(f"path,label\n{data / 'imgs' / 'ok0.png'},a\n")
    assert not isinstance(from_manifest(inside_abs)[0][0], Skipped)


# ------------------------------------------------------------------------------------------ outputs


def _tree(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def unival_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from omnivec.families.unival.config import unival_preset
    from omnivec.families.unival.model import UnivalModel, save_unival

    root = tmp_path_factory.mktemp("runs")
    tok = UnivalModel.train_tokenizer(["a red square", "a blue circle", "what is it?"] * 5, 300, 8)
    out = {}
    for i, (name, depth) in enumerate([("a", 2), ("b", 2), ("deep", 3)]):
        torch.manual_seed(i)
        cfg = unival_preset("tiny", num_bins=8)
        cfg.model.decoder_depth = depth
        save_unival(UnivalModel(cfg.model, tok), cfg, root / name)
        out[name] = root / name
    return out


def test_refused_merge_leaves_the_existing_out_unchanged(unival_runs: dict[str, Path], tmp_path: Path) -> None:
    """`merge A MISSING --out EXISTING --overwrite` deleted EXISTING and then refused (rmtree came first)."""
    from omnivec.cli import main

    existing = tmp_path / "existing"
    assert main(["merge", str(unival_runs["a"]), str(unival_runs["b"]), "--out", str(existing), "--alpha", "0"]) == 0
    (existing / "eval.json").write_text("{}")
    before = _tree(existing)
    for second in (str(tmp_path / "missing"), str(unival_runs["deep"])):  # missing; another architecture
        args = ["merge", str(unival_runs["a"]), second, "--out", str(existing), "--alpha", "0.5", "--overwrite"]
        assert main(args) == 2
        assert _tree(existing) == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["existing"]  # no temporary sibling left
    args = ["merge", str(unival_runs["a"]), str(unival_runs["b"]), "--out", str(existing), "--alpha", "1"]
    assert main([*args, "--overwrite"]) == 0
    assert "eval.json" not in _tree(existing)  # replaced whole, as --overwrite says
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing"]


def test_a_killed_merge_is_cleaned_on_the_next_start(unival_runs: dict[str, Path], tmp_path: Path) -> None:
    from omnivec.cli import main
    from omnivec.training.outputs import recover_staged

    out = tmp_path / "m"
    assert main(["merge", str(unival_runs["a"]), str(unival_runs["b"]), "--out", str(out), "--alpha", "0"]) == 0
    before = _tree(out)
    stale = tmp_path / ".m.tmp"  # what a SIGKILL mid-merge leaves: config and tokenizer, no weights
    stale.mkdir()
    (stale / "config.yaml").write_text("model: {}\n")
    assert main(["merge", str(unival_runs["a"]), str(tmp_path / "missing"), "--out", str(out), "--overwrite"]) == 2
    assert not stale.exists() and _tree(out) == before
    # killed between the two renames: the old folder is aside, the new one complete but not in place
    os.replace(out, tmp_path / ".m.old.tmp")
    (tmp_path / ".m.tmp").mkdir()
    recover_staged(out)
    assert _tree(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_commands_that_rewrite_their_out_refuse_a_folder_they_did_not_write(tmp_path: Path) -> None:
    """`reproduce`/`recipe baselines` deleted whatever --out named, a run folder included."""
    from omnivec.training.outputs import claim_folder

    mine = tmp_path / "run"
    mine.mkdir()
    (mine / "config.yaml").write_text("model: {}\n")
    with pytest.raises(OmnivecError, match="did not write"):
        claim_folder(mine, "ablations", legacy=("partial.json",))
    assert (mine / "config.yaml").is_file()
    out = tmp_path / "abl"
    claim_folder(out, "ablations")
    (out / "partial.json").write_text(json.dumps({}))
    claim_folder(out, "ablations")  # its own earlier output: started afresh
    assert sorted(p.name for p in out.iterdir()) == [".omnivec-output"]
