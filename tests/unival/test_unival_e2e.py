"""End to end through the CLI on real-derived data: pretrain (curriculum) -> fine-tune two tasks -> merge over
a grid with evaluation -> evaluate -> generate. Tiny sizes, a few steps; skipped without the real data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_helpers import real_root
from omnivec.cli import main

pytestmark = pytest.mark.slow  # an end-to-end pretrain -> finetune -> merge -> evaluate run (make test-slow)

COMMON = [
    "--num-bins",
    "16",
    "--num-train",
    "24",
    "--num-test",
    "6",
    "--batch-size",
    "4",
    "--quiet",
    "--eval-limit",
    "4",
]


def test_pretrain_finetune_merge_evaluate_generate(tmp_path: Path) -> None:
    root = str(real_root())
    common = [*COMMON, "--data-root", root]
    pre, a, b, m = (tmp_path / n for n in ("pre", "a", "b", "merged"))
    assert (
        main(
            [
                "unival",
                "pretrain",
                "--out",
                str(pre),
                "--tasks",
                "caption_image,vqa_image,caption_video",
                "--steps",
                "4",
                "--stage1-steps",
                "2",
                *common,
            ]
        )
        == 0
    )
    log = [json.loads(x) for x in (pre / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4]
    assert log[0]["tasks"] == "caption_image,vqa_image"  # stage 1: image-text only
    assert log[-1]["tasks"] == "caption_image,vqa_image,caption_video"  # stage 2 adds video-text
    assert set(json.loads((pre / "eval.json").read_text())) == {"caption_image", "vqa_image", "caption_video"}

    assert (
        main(
            [
                "unival",
                "finetune",
                str(pre),
                "--tasks",
                "caption_image",
                "--out",
                str(a),
                "--steps",
                "2",
                *common,
            ]
        )
        == 0
    )
    assert main(["unival", "finetune", str(pre), "--tasks", "vqa_image", "--out", str(b), "--steps", "2", *common]) == 0

    assert (
        main(
            [
                "merge",
                str(a),
                str(b),
                "--out",
                str(m),
                "--alpha",
                "0,0.5,1",
                "--eval",
                "caption_image,vqa_image",
                "--eval-limit",
                "4",
            ]
        )
        == 0
    )
    table = json.loads((m / "merge_table.json").read_text())
    assert [r["alpha"] for r in table["rows"]] == [0.0, 0.5, 1.0]
    assert (m / "merge_table.md").is_file() and (m / "lambda_curve.png").stat().st_size > 0
    # α = 0 is run A itself: same weights, same greedy outputs, same score as A's own evaluation
    a_eval = json.loads((a / "eval.json").read_text())
    assert table["rows"][0]["caption_image"] == a_eval["caption_image"]["value"]
    b_eval = json.loads((b / "eval.json").read_text())
    assert table["rows"][-1]["vqa_image"] == b_eval["vqa_image"]["value"]

    res = tmp_path / "res.json"
    assert (
        main(
            [
                "unival",
                "evaluate",
                str(m / "alpha_0.5"),
                "--tasks",
                "vqa_image",
                "--eval-limit",
                "4",
                "--out",
                str(res),
            ]
        )
        == 0
    )
    assert json.loads(res.read_text())["vqa_image"]["n"] == 4

    img = tmp_path / "x.png"
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(img)
    out = tmp_path / "gen.jsonl"
    assert (
        main(
            [
                "generate",
                str(m / "alpha_0.5"),
                "--task",
                "vqa",
                "--text",
                "how many digits are there?",
                "--input",
                str(img),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert len(out.read_text().splitlines()) == 1
