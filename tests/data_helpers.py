"""Shared helpers for the data tests: where the real data is, and small file writers."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]


def real_root() -> Path:
    """OMNIVEC_DATA if set, else <repo>/../shared/data if it exists; otherwise skip the test."""
    env = os.environ.get("OMNIVEC_DATA", "")
    candidates = [Path(env)] if env else [REPO.parent / "shared" / "data"]
    for c in candidates:
        if c.is_dir():
            return c
    pytest.skip("real data not found: set OMNIVEC_DATA to the folder holding mnist/, fsdd/, ... (or ../shared/data)")


def sine(freq: float, sr: int, seconds: float = 1.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(wave: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    return float(np.argmax(spectrum) * sr / len(wave))


def write_wav(path: Path, wave: np.ndarray, sr: int) -> Path:
    sf.write(path, wave, sr, subtype="PCM_16")
    return path


def write_mp4(path: Path, frames: np.ndarray, fps: int = 10) -> Path:
    """frames: (T, H, W, 3) uint8, H and W even."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


CUBE_OFF = """OFF
8 12 0
0 0 0
1 0 0
1 1 0
0 1 0
0 0 1
1 0 1
1 1 1
0 1 1
3 0 1 2
3 0 2 3
3 4 5 6
3 4 6 7
3 0 1 5
3 0 5 4
3 1 2 6
3 1 6 5
3 2 3 7
3 2 7 6
3 3 0 4
3 3 4 7
"""


def torchrun_path() -> str:
    """The torchrun beside this python (or on PATH); the test is skipped without one."""
    import shutil
    import sys

    cand = Path(sys.executable).with_name("torchrun")
    found = str(cand) if cand.is_file() else shutil.which("torchrun")
    if not found:
        pytest.skip("torchrun is not installed next to this python")
    return found


def unival_pretraining_tsv(path: Path, images: int) -> Path:
    """A UnIVAL pretraining TSV: ``images`` random 12x12 images, each as a caption, a vqa and a grounding row."""
    import torch

    from omnivec.families.unival.tsv import encode_tsv_image

    g = torch.Generator().manual_seed(0)
    rows = []
    for i in range(images):
        img = encode_tsv_image(torch.rand(3, 12, 12, generator=g))
        rows.append([f"c{i}", img, f"a shape number {i}", "", "", "", "coco", "caption"])
        rows.append([f"q{i}", img, "", "what is it?", f"1.0|!+shape {i}", "", "vqa", "qa"])
        rows.append([f"g{i}", img, "the shape", "", f"{i},1,9,11", "", "refcoco", "visual_grounding"])
    path.write_text("".join("\t".join(r) + "\n" for r in rows))
    return path
