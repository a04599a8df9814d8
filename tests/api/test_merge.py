"""Merging: endpoints bit for bit, hand-computed averages, TIES by hand, skip rules, run folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from omnivec.api.merge import (
    average,
    dare_merge,
    interpolate,
    interpolation_grid,
    merge_runs,
    task_arithmetic,
    ties_merge,
)
from omnivec.errors import OmnivecError
from omnivec.training.checkpoint import load_weights, save_weights


def state(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "w": torch.randn(4, 3, generator=g),
        "half": torch.randn(5, generator=g).half(),
        "head.bias": torch.randn(3, generator=g),
        "steps": torch.tensor(10 + seed),
        "mask": torch.tensor([True, seed % 2 == 0]),
    }


def bits_equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    return (
        a.dtype == b.dtype
        and a.shape == b.shape
        and bool((a.view(-1).view(torch.uint8) == b.view(-1).view(torch.uint8)).all())
    )


def test_interpolate_endpoints_are_bit_exact() -> None:
    a, b = state(0), state(1)
    a["w"][0, 0] = -0.0  # arithmetic would turn -0.0 into +0.0
    for alpha, ref in ((0.0, a), (1.0, b)):
        out = interpolate(a, b, alpha)
        for k in ("w", "half", "head.bias"):
            assert bits_equal(out[k], ref[k]), (alpha, k)
        assert out["w"] is not ref["w"]  # a copy, not an alias


def test_interpolate_half_is_the_average() -> None:
    a, b = state(0), state(1)
    out = interpolate(a, b, 0.5)
    torch.testing.assert_close(out["w"], (a["w"] + b["w"]) / 2)
    torch.testing.assert_close(out["half"], ((a["half"].float() + b["half"].float()) / 2).half())
    assert out["half"].dtype == torch.float16
    torch.testing.assert_close(interpolate(a, b, 0.25)["w"], 0.75 * a["w"] + 0.25 * b["w"])
    assert interpolation_grid(6) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]


def test_integer_and_bool_buffers_keep_the_first() -> None:
    a, b = state(0), state(1)
    for out in (
        interpolate(a, b, 0.5),
        interpolate(a, b, 1.0),
        average([a, b]),
        task_arithmetic(a, [b], 1.0),
    ):
        assert out["steps"].item() == 10 and out["mask"].tolist() == [True, True]


def test_skip_keeps_first_value_unchanged() -> None:
    a, b = state(0), state(1)
    for out in (interpolate(a, b, 0.3, skip=["head.*"]), average([a, b, state(2)], skip=["head.*"])):
        assert bits_equal(out["head.bias"], a["head.bias"])
        assert not torch.equal(out["w"], a["w"])


def test_mismatch_raises_naming_the_key() -> None:
    a, b = state(0), state(1)
    c = dict(b)
    c["w"] = torch.zeros(3, 4)
    with pytest.raises(OmnivecError, match=r"w: \(4, 3\) vs \(3, 4\)"):
        interpolate(a, c, 0.5)
    d = dict(b)
    del d["head.bias"]
    d["extra.weight"] = torch.zeros(1)
    with pytest.raises(OmnivecError, match=r"missing \[head.bias\], extra \[extra.weight\]"):
        average([a, d])


def test_average_uniform_and_weighted() -> None:
    s = [{"x": torch.tensor([1.0, 2.0])}, {"x": torch.tensor([3.0, 4.0])}, {"x": torch.tensor([5.0, 9.0])}]
    assert average(s)["x"].tolist() == [3.0, 5.0]
    assert average(s, weights=[1, 0, 1])["x"].tolist() == [3.0, 5.5]
    with pytest.raises(OmnivecError):
        average(s, weights=[1, 1])


def test_task_arithmetic() -> None:
    pre, f1, f2 = state(0), state(1), state(2)
    pre["w"][1, 1] = -0.0
    out0 = task_arithmetic(pre, [f1, f2], scale=0.0)
    assert all(bits_equal(out0[k], pre[k]) for k in pre)
    out = task_arithmetic(pre, [f1, f2], scale=0.5)
    torch.testing.assert_close(out["w"], pre["w"] + 0.5 * ((f1["w"] - pre["w"]) + (f2["w"] - pre["w"])))


def test_ties_by_hand() -> None:
    pre = {"x": torch.zeros(5)}
    t1 = {"x": torch.tensor([0.5, -3.0, 0.1, 2.0, 0.0])}
    t2 = {"x": torch.tensor([1.0, 1.0, -0.2, -4.0, 0.3])}
    t3 = {"x": torch.tensor([-0.3, 2.0, 0.1, 1.0, 0.0])}
    # density 0.6 keeps 3 of 5 per task vector:
    #   t1 -> [0.5, -3, 0, 2, 0]   t2 -> [1, 1, 0, -4, 0]   t3 -> [-0.3, 2, 0, 1, 0]
    # summed mass -> [1.2, 0, 0, -1, 0] -> signs [+, 0, 0, -, 0]
    # disjoint mean of the agreeing entries -> [(0.5 + 1) / 2, 0, 0, -4, 0]
    out = ties_merge(pre, [t1, t2, t3], density=0.6, scale=1.0)
    torch.testing.assert_close(out["x"], torch.tensor([0.75, 0.0, 0.0, -4.0, 0.0]))
    # density 1 keeps everything: mass [1.2, 0, 0, -1, 0.3] -> [+, 0, 0, -, +]
    out = ties_merge(pre, [t1, t2, t3], density=1.0, scale=2.0)
    torch.testing.assert_close(out["x"], 2.0 * torch.tensor([0.75, 0.0, 0.0, -4.0, 0.3]))


def write_run(path: Path, st: dict[str, torch.Tensor], width: int = 8, ema: dict | None = None) -> Path:
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(yaml.safe_dump({"model": {"embed_dim": width}, "train": {"lr": 0.1}}))
    (path / "tokenizer.json").write_text('{"vocab": "first"}')
    save_weights(st, path / "model.safetensors")
    if ema is not None:
        save_weights(ema, path / "ema.safetensors")
    return path


def test_merge_runs_writes_a_loadable_run(tmp_path: Path) -> None:
    a, b = state(0), state(1)
    ra = write_run(tmp_path / "a", a)
    rb = write_run(tmp_path / "b", b, ema={"w": torch.ones(4, 3)})
    out = merge_runs([ra, rb], tmp_path / "m", method="interpolate", alpha=1.0, use_ema=True)
    merged = load_weights(out / "model.safetensors")
    assert torch.equal(merged["w"], torch.ones(4, 3))  # b's EMA weights
    assert torch.equal(merged["head.bias"], b["head.bias"])  # keys the EMA lacks come from model.safetensors
    assert (out / "tokenizer.json").read_text() == '{"vocab": "first"}'
    assert yaml.safe_load((out / "config.yaml").read_text())["model"] == {"embed_dim": 8}
    info = json.loads((out / "merge.json").read_text())
    assert info["method"] == "interpolate" and info["params"] == {"alpha": 1.0}
    assert [i["weights"] for i in info["inputs"]] == ["model.safetensors", "ema.safetensors"]

    out2 = merge_runs([ra, rb], tmp_path / "avg", method="average")
    torch.testing.assert_close(load_weights(out2 / "model.safetensors")["w"], (a["w"] + b["w"]) / 2)
    out3 = merge_runs([rb], tmp_path / "ta", method="task_arithmetic", pretrained=ra, scale=0.0)
    assert torch.equal(load_weights(out3 / "model.safetensors")["w"], a["w"])


def test_merge_runs_refuses_different_architectures(tmp_path: Path) -> None:
    ra = write_run(tmp_path / "a", state(0))
    rb = write_run(tmp_path / "b", state(1), width=16)
    with pytest.raises(OmnivecError, match="different model config"):
        merge_runs([ra, rb], tmp_path / "m")
    with pytest.raises(OmnivecError, match="one of the inputs"):
        merge_runs([ra, ra], ra)
    with pytest.raises(OmnivecError, match="pretrained"):
        merge_runs([ra], tmp_path / "t", method="ties")
    with pytest.raises(OmnivecError, match="exactly 2"):
        merge_runs([ra], tmp_path / "t")


# ------------------------------------------------------------------------------------------------------- DARE


def test_dare_at_density_one_is_task_arithmetic_or_ties() -> None:
    pre, fts = state(0), [state(1), state(2)]
    assert all(bits_equal(dare_merge(pre, fts, 1.0)[k], task_arithmetic(pre, fts)[k]) for k in pre)
    electing = dare_merge(pre, fts, 1.0, elect_sign=True)
    assert all(bits_equal(electing[k], ties_merge(pre, fts, 1.0)[k]) for k in pre)


def test_dare_drops_a_share_and_rescales_the_rest_unbiased() -> None:
    """Each entry of the task vector is 0 or tau / density; about 1 - density of them are 0, and over seeds the
    merge averages to the task vector itself (DARE's expectation argument)."""
    pre = {"w": torch.zeros(200, 50)}
    ft = {"w": torch.randn(200, 50, generator=torch.Generator().manual_seed(3))}
    out = dare_merge(pre, [ft], density=0.3, seed=7)["w"]
    kept = out != 0
    assert abs(kept.float().mean().item() - 0.3) < 0.02
    torch.testing.assert_close(out[kept], ft["w"][kept] / 0.3)
    assert torch.equal(out, dare_merge(pre, [ft], density=0.3, seed=7)["w"])  # seeded
    assert not torch.equal(out, dare_merge(pre, [ft], density=0.3, seed=8)["w"])
    mean = torch.stack([dare_merge(pre, [ft], density=0.3, seed=s)["w"] for s in range(200)]).mean(0)
    assert (mean - ft["w"]).abs().mean() < 0.1 * ft["w"].abs().mean()


def test_dare_keeps_integer_buffers_and_refuses_a_bad_density() -> None:
    pre, fts = state(0), [state(1)]
    out = dare_merge(pre, fts, 0.5)
    assert torch.equal(out["steps"], pre["steps"]) and torch.equal(out["mask"], pre["mask"])
    with pytest.raises(OmnivecError, match="DARE density"):
        dare_merge(pre, fts, 0.0)


def test_dare_run_folders_record_density_and_seed(tmp_path: Path) -> None:
    runs = {}
    for name, seed in (("pre", 0), ("a", 1), ("b", 2)):
        runs[name] = tmp_path / name
        runs[name].mkdir()
        save_weights({k: v for k, v in state(seed).items()}, runs[name] / "model.safetensors")
        (runs[name] / "config.yaml").write_text(yaml.safe_dump({"model": {"embed_dim": 4}}))
    out = merge_runs([runs["a"], runs["b"]], tmp_path / "m", "dare_ties", pretrained=runs["pre"], seed=3)
    info = json.loads((out / "merge.json").read_text())
    assert info["method"] == "dare_ties" and info["params"] == {"density": 0.5, "scale": 1.0, "seed": 3}
    expected = dare_merge(state(0), [state(1), state(2)], 0.5, seed=3, elect_sign=True)
    assert torch.equal(load_weights(out / "model.safetensors")["w"], expected["w"])
    with pytest.raises(OmnivecError, match="density is for ties, dare, dare_ties"):
        merge_runs([runs["a"], runs["b"]], tmp_path / "avg", "average", density=0.5)
