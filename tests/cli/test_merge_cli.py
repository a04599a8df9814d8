"""`omnivec merge` over α grids and of N runs, and `omnivec generate` on files, on tiny untrained UnIVAL runs (no
data)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from omnivec.cli import main
from omnivec.families.unival.config import unival_preset
from omnivec.families.unival.model import UnivalModel, load_unival, save_unival
from omnivec.training import checkpoint as ckpt

TEXTS = ["a 7 at the top", "the digit seven spoken by jackson", "what does the image describe?"] * 5


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    tok = UnivalModel.train_tokenizer(TEXTS, 300, 8)
    out = {}
    for i, name in enumerate(("pre", "a", "b", "c")):
        torch.manual_seed(i)
        cfg = unival_preset("tiny", num_bins=8)
        save_unival(UnivalModel(cfg.model, tok), cfg, root / name)
        out[name] = root / name
    return out


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return ckpt.load_weights(run / ckpt.WEIGHTS)


def test_alpha_zero_is_run_a_bit_for_bit(runs: dict[str, Path], tmp_path: Path) -> None:
    assert main(["merge", str(runs["a"]), str(runs["b"]), "--out", str(tmp_path / "m"), "--alpha", "0"]) == 0
    a, m = _weights(runs["a"]), _weights(tmp_path / "m")
    assert a.keys() == m.keys()
    assert all(torch.equal(a[k], m[k]) for k in a)
    load_unival(tmp_path / "m")  # a normal run folder


def test_grid_endpoints_and_midpoint(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "grid"
    assert main(["merge", str(runs["a"]), str(runs["b"]), "--out", str(out), "--alpha", "0,0.5,1"]) == 0
    a, b = _weights(runs["a"]), _weights(runs["b"])
    one, half = _weights(out / "alpha_1"), _weights(out / "alpha_0.5")
    assert all(torch.equal(b[k], one[k]) for k in b)
    k = "decoder.blocks.0.mlp.fc1.weight"
    assert torch.allclose(half[k], (a[k] + b[k]) / 2, atol=1e-6)
    assert not torch.equal(half[k], a[k])


def test_task_arithmetic_lambda_zero_is_pretrained(runs: dict[str, Path], tmp_path: Path) -> None:
    args = [
        "merge",
        str(runs["a"]),
        str(runs["b"]),
        "--out",
        str(tmp_path / "ta"),
        "--method",
        "task-arithmetic",
        "--alpha",
        "0",
    ]
    assert main(args) == 2  # needs --pretrained: a one-line error
    assert main([*args, "--pretrained", str(runs["pre"])]) == 0
    pre, m = _weights(runs["pre"]), _weights(tmp_path / "ta")
    assert all(torch.equal(pre[k], m[k]) for k in pre)


def test_skip_keeps_run_a(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "skip"
    assert (
        main(
            [
                "merge",
                str(runs["a"]),
                str(runs["b"]),
                "--out",
                str(out),
                "--alpha",
                "1",
                "--skip",
                "decoder.*",
            ]
        )
        == 0
    )
    a, b, m = _weights(runs["a"]), _weights(runs["b"]), _weights(out)
    assert all(torch.equal(a[k], m[k]) for k in a if k.startswith("decoder."))
    assert all(torch.equal(b[k], m[k]) for k in b if k.startswith("backbone.trunk."))


def test_generate_writes_one_jsonl_line_per_input(runs: dict[str, Path], tmp_path: Path) -> None:
    import soundfile as sf

    files = []
    for i in range(2):
        p = tmp_path / f"img{i}.png"
        Image.fromarray((np.random.default_rng(i).random((40, 40)) * 255).astype(np.uint8)).save(p)
        files.append(p)
    wav = tmp_path / "clip.wav"
    sf.write(wav, (0.3 * np.sin(np.arange(6000) / 5)).astype(np.float32), 8000)
    files.append(wav)
    out = tmp_path / "out.jsonl"
    assert (
        main(
            [
                "generate",
                str(runs["a"]),
                "--task",
                "caption",
                "--input",
                *map(str, files),
                "--out",
                str(out),
                "--max-len",
                "5",
            ]
        )
        == 0
    )
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["input"] for r in lines] == [str(f) for f in files]
    assert [r["task"] for r in lines] == ["caption_image", "caption_image", "caption_audio"]
    assert all(isinstance(r["output"], str) for r in lines)

    # folder mode and the same from Python
    from omnivec.api.predict import generate_files

    out2 = tmp_path / "folder.jsonl"
    assert (
        main(
            [
                "generate",
                str(runs["a"]),
                "--task",
                "grounding",
                "--text",
                "the 7",
                "--folder",
                str(tmp_path),
                "--out",
                str(out2),
            ]
        )
        == 2
    )  # the wav cannot be grounded: a clear error
    recs = generate_files(runs["a"], "grounding", files[:2], text="the 7")
    assert len(recs) == 2 and all(r["output"].count("<bin_") == 4 for r in recs)

    txt = tmp_path / "doc.txt"
    txt.write_text("We propose a tiny model. It works.")
    assert (
        main(
            [
                "generate",
                str(runs["a"]),
                "--task",
                "summarize",
                "--input",
                str(txt),
                "--out",
                str(tmp_path / "s.jsonl"),
            ]
        )
        == 0
    )
    assert len((tmp_path / "s.jsonl").read_text().splitlines()) == 1


# ------------------------------------------------------------------------------------------------ N runs


def test_average_of_three_runs(runs: dict[str, Path], tmp_path: Path) -> None:
    three = [str(runs[n]) for n in "abc"]
    assert main(["merge", *three, "--method", "average", "--out", str(tmp_path / "m")]) == 0
    a, b, c = (_weights(runs[n]) for n in "abc")
    m = _weights(tmp_path / "m")
    k = "decoder.blocks.0.mlp.fc1.weight"
    assert torch.allclose(m[k], (a[k] + b[k] + c[k]) / 3, atol=1e-6)
    assert not torch.allclose(m[k], (a[k] + b[k]) / 2, atol=1e-6)


def test_task_arithmetic_of_three_runs_over_a_lambda_grid(runs: dict[str, Path], tmp_path: Path) -> None:
    three = [str(runs[n]) for n in "abc"]
    out = tmp_path / "ta"
    argv = ["merge", *three, "--method", "task-arithmetic", "--pretrained", str(runs["pre"]), "--alpha", "0,1"]
    assert main([*argv, "--out", str(out)]) == 0
    pre, zero, one = _weights(runs["pre"]), _weights(out / "alpha_0"), _weights(out / "alpha_1")
    assert all(torch.equal(pre[k], zero[k]) for k in pre)
    a, b, c = (_weights(runs[n]) for n in "abc")
    k = "decoder.blocks.0.mlp.fc1.weight"
    assert torch.allclose(one[k], a[k] + b[k] + c[k] - 2 * pre[k], atol=1e-5)


@pytest.mark.parametrize(
    ("names", "flags", "message"),
    [
        ("abc", [], "--method linear interpolates two runs, got 3"),
        ("abc", ["--method", "average", "--alpha", "0.5"], "--alpha weighs two runs"),
        ("a", [], "merge takes two or more run folders, got 1"),
        ("ab", ["--alpha", "2"], "expected values in [0, 1]"),
        ("ab", ["--density", "0.5"], "--density is for ties, dare and dare-ties, not --method linear"),
        ("ab", ["--method", "dare"], "dare needs the pretrained run folder"),
    ],
)
def test_a_refused_merge_writes_nothing(
    runs: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    names: str,
    flags: list[str],
    message: str,
) -> None:
    out = tmp_path / "m"
    assert main(["merge", *(str(runs[n]) for n in names), "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert sorted(tmp_path.iterdir()) == [], "a refused merge leaves no folder"


# ------------------------------------------------------------------------------------- methods as they are named


def test_average_of_two_runs_is_one_soup_not_a_grid(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "soup"
    assert main(["merge", str(runs["a"]), str(runs["b"]), "--method", "average", "--out", str(out)]) == 0
    assert (out / ckpt.WEIGHTS).is_file() and not list(out.glob("alpha_*"))
    a, b, m = _weights(runs["a"]), _weights(runs["b"]), _weights(out)
    k = "decoder.blocks.0.mlp.fc1.weight"
    assert torch.allclose(m[k], (a[k] + b[k]) / 2, atol=1e-6)


@pytest.mark.parametrize("method", ["ties", "dare", "dare-ties"])
def test_density_and_seed_reach_the_merge(runs: dict[str, Path], tmp_path: Path, method: str) -> None:
    from omnivec.api.merge import dare_merge, ties_merge

    three = [str(runs[n]) for n in "ab"]
    out = tmp_path / "m"
    argv = ["merge", *three, "--method", method, "--pretrained", str(runs["pre"]), "--alpha", "1"]
    assert main([*argv, "--density", "0.3", "--seed", "5", "--out", str(out)]) == 0
    pre, a, b = (_weights(runs[n]) for n in ("pre", "a", "b"))
    expected = (
        ties_merge(pre, [a, b], 0.3)
        if method == "ties"
        else dare_merge(pre, [a, b], 0.3, seed=5, elect_sign=method == "dare-ties")
    )
    m = _weights(out)
    assert all(torch.equal(m[k], expected[k]) for k in expected)


def test_the_cli_offers_every_merge_method() -> None:
    from omnivec.cli.merge import MERGE_METHODS
    from omnivec.families.unival.merging import METHOD_NAMES

    assert list(METHOD_NAMES) == MERGE_METHODS
