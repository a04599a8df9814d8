"""bench/crafted_inputs.py cannot rot: its corpus builds, and four of its inputs go through ``omnivec embed`` in
a fresh process each, classified and measured as the benchmark does (the server part is left to the bench)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from omnivec.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import crafted_inputs as bench

LINUX = sys.platform.startswith("linux")


def test_outcomes_are_classified_as_the_issue_counts_them() -> None:
    assert bench.embed_outcome(0, "") == "handled"
    assert bench.embed_outcome(2, "omnivec embed: error: x.png: too large\n") == "clear error"
    assert bench.embed_outcome(2, "error: one\nerror: two\n") == "anything else"
    assert bench.embed_outcome(1, "omnivec embed: error: unexpected error\n") == "anything else"
    assert bench.embed_outcome(-6, "") == "anything else"  # SIGABRT
    assert bench.embed_outcome(2, "Traceback (most recent call last):\nerror: x\n") == "anything else"
    assert [bench.serve_outcome(s) for s in (200, 413, 400, 500, None)] == [
        "handled",
        "clear error",
        "clear error",
        "anything else",
        "anything else",
    ]


def test_the_corpus_covers_every_modality_and_is_small_but_for_its_texts(tmp_path: Path) -> None:
    names = {c.name for c in bench.corpus()}
    assert len(names) == len(bench.corpus()) >= 30
    assert {c.modality for c in bench.corpus()} == {"audio", "image", "video", "points", "text"}
    small = names - {"token_50mb.txt", "line_10mb.txt", "frames_120k.mp4"}
    for c, path in bench.build_corpus(tmp_path, small):
        assert path.stat().st_size < 500_000, c.name


@pytest.mark.slow
@pytest.mark.skipif(not LINUX, reason="reads peak RSS through wait4 and /proc")
def test_four_crafted_inputs_through_embed(tmp_path: Path) -> None:
    run = tmp_path / "run"
    argv = ["train", "--preset", "tiny", "--tasks", "shapes,topics", "--num-train", "8", "--num-test", "4"]
    assert main([*argv, "--batch-size", "4", "--max-steps", "1", "--quiet", "--out", str(run)]) == 0
    expected = {
        "wav_8001.wav": "handled",
        "eight_k_square.png": "clear error",
        "zeros_2e28.npz": "clear error",
        "bom.txt": "handled",
    }
    for c, path in bench.build_corpus(tmp_path / "inputs", set(expected)):
        e = bench.embed_one(run, c, path, tmp_path, cap_mb=2048, timeout=120)
        assert e["outcome"] == expected[c.name], (c.name, e)
        assert 50 < e["peak_mb"] < bench.EMBED_BAR_MB, (c.name, e)
        if e["outcome"] == "clear error":
            assert "too large" in e["says"], e  # TooLarge, from the header
