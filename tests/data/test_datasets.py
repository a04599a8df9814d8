"""Named datasets (split counts, checksums, limits), derived tasks (determinism, consistency), caches."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from data_helpers import real_root
from omnivec.data.cache import cached_arrays
from omnivec.data.datasets import is_present, load_dataset, load_scitldr_split, subsample
from omnivec.data.datasets.cards import DATASETS
from omnivec.data.datasets.verify import check, list_datasets
from omnivec.data.derived import (
    DIRECTIONS,
    digit_point_clouds,
    digit_scenes,
    moving_digits,
    scene_task,
    scenes_from_arrays,
    spoken_digit_captions,
)
from omnivec.data.prepare import cached_scenes_arrays, prepare
from omnivec.data.root import require_root, resolve_root
from omnivec.errors import DataError, OmnivecError


def _fake_digits(n: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Blocky stand-in digits so derived-task logic is tested without the real data."""
    rng = np.random.default_rng(0)
    images = np.zeros((n, 28, 28), np.uint8)
    for i in range(n):
        h, w = rng.integers(8, 20, 2)
        y, x = rng.integers(2, 28 - h - 1), rng.integers(2, 28 - w - 1)
        images[i, y : y + h, x : x + w] = 255
    return images, (np.arange(n) % 10).astype(np.int64)


# -------------------------------------------------------------------------------------- root and catalogue


def test_root_resolution(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("OMNIVEC_DATA", raising=False)
    assert resolve_root() is None
    with pytest.raises(OmnivecError, match="--data-root DIR or set OMNIVEC_DATA"):
        require_root()
    monkeypatch.setenv("OMNIVEC_DATA", str(tmp_path))
    assert resolve_root() == tmp_path and resolve_root("/x") == resolve_root("/x")
    assert list_datasets() == dict.fromkeys(DATASETS, False)
    with pytest.raises(DataError, match="dataset 'mnist' not found"):
        load_dataset("mnist")
    with pytest.raises(OmnivecError, match="unknown dataset 'nope'"):
        load_dataset("nope")


def test_catalogue_is_complete() -> None:
    for name, meta in DATASETS.items():
        assert meta.name == name and meta.license and meta.citation and meta.description
        for f in meta.files:
            assert len(f.sha256) == 64 and f.size > 0 and f.urls and all(u.startswith("http") for u in f.urls)


def test_subsample_is_deterministic() -> None:
    a = subsample(1000, 10, seed=3)
    assert np.array_equal(a, subsample(1000, 10, seed=3)) and not np.array_equal(a, subsample(1000, 10, seed=4))
    assert list(a) == sorted(a) and len(set(a)) == 10
    assert len(subsample(5, None)) == 5 and len(subsample(5, 50)) == 5


# ------------------------------------------------------------------------------------------ real datasets


@pytest.mark.realdata
def test_mnist_and_fashion_official_splits() -> None:
    root = real_root()
    for name in ("mnist", "fashion-mnist"):
        ts = load_dataset(name, root)
        assert (len(ts.train), len(ts.test)) == (60000, 10000) and len(ts.class_names) == 10
        x, y = ts.test[0]
        assert x.shape == (1, 28, 28) and x.dtype == torch.float32 and 0 <= float(x.min()) <= float(x.max()) <= 1
        assert isinstance(y, int)
    assert np.bincount(load_dataset("mnist", root).test.targets).tolist()[:2] == [980, 1135]


@pytest.mark.realdata
def test_fsdd_split_is_index_0_to_4() -> None:
    ts = load_dataset("fsdd", real_root())
    assert (len(ts.train), len(ts.test)) == (2700, 300)
    assert set(ts.test.indices) == set(range(5)) and set(ts.train.indices) == set(range(5, 50))
    assert len(set(ts.test.speakers)) == 6 and np.bincount(ts.test.targets).tolist() == [30] * 10
    x, y = ts.test[0]
    assert x.ndim == 1 and x.dtype == torch.float32 and ts.test.paths[0].split("/")[-1].startswith(f"{y}_")


@pytest.mark.realdata
def test_banking77_and_scitldr() -> None:
    root = real_root()
    ts = load_dataset("banking77", root)
    assert (len(ts.train), len(ts.test)) == (10003, 3080) and len(ts.class_names) == 77
    assert set(ts.test.targets) == set(range(77)) and np.bincount(ts.test.targets).tolist() == [40] * 77
    assert any("\n" in t for t in ts.train.samples)  # quoted newlines survived
    counts = {s: len(load_scitldr_split(s, root)) for s in ("train", "dev", "test")}
    assert counts == {"train": 1992, "dev": 619, "test": 618}
    test = load_scitldr_split("test", root)
    assert all(t == r[0] for t, r in zip(test.targets, test.references))
    assert sum(map(len, test.references)) / len(test) == pytest.approx(3.18, abs=0.01)  # DATASETS.md


@pytest.mark.realdata
def test_limit_takes_the_same_subset() -> None:
    root = real_root()
    a = load_dataset("banking77", root, limit=50, seed=1)
    b = load_dataset("banking77", root, limit=50, seed=1)
    assert len(a.train) == 50 and a.train.samples == b.train.samples
    assert load_dataset("banking77", root, limit=50, seed=2).train.samples != a.train.samples
    f = load_dataset("fsdd", root, limit=7)
    assert (len(f.train), len(f.test)) == (7, 7)


@pytest.mark.realdata
def test_checksum_mismatch_is_refused_and_named(tmp_path) -> None:
    shutil.copytree(real_root() / "banking77", tmp_path / "banking77")
    (tmp_path / "banking77" / "test.csv").chmod(0o644)
    with open(tmp_path / "banking77" / "test.csv", "a") as f:
        f.write("one more query,card_arrival\n")
    assert is_present("banking77", tmp_path)
    with pytest.raises(DataError, match="sha256 mismatch") as e:
        load_dataset("banking77", tmp_path)
    assert e.value.path.endswith("test.csv")
    report = check("banking77", tmp_path)
    assert not report.ok and [p.path.split("/")[-1] for p in report.problems] == ["test.csv"]
    assert "test.csv: sha256 mismatch" in report.summary()


@pytest.mark.realdata
def test_check_all_real_datasets() -> None:
    root = real_root()
    assert all(list_datasets(root).values())
    for name in DATASETS:
        report = check(name, root, decode=name != "fsdd")  # full fsdd decode is covered by the fsdd loader
        assert report.ok, report.summary()


# ------------------------------------------------------------------------------------------ derived tasks


def _scene_bytes(scenes) -> bytes:
    return b"".join(s.image.numpy().tobytes() + s.mask.numpy().tobytes() + s.caption.encode() for s in scenes)


def test_scenes_are_deterministic_and_consistent() -> None:
    arrays = _fake_digits()
    a = digit_scenes(20, 5, arrays=arrays, canvas=80)
    assert _scene_bytes(a) == _scene_bytes(digit_scenes(20, 5, arrays=arrays, canvas=80))
    assert _scene_bytes(a) != _scene_bytes(digit_scenes(20, 6, arrays=arrays, canvas=80))
    for s in a:
        assert s.image.shape == (1, 80, 80) and s.mask.shape == (80, 80) and 2 <= len(s.objects) <= 4
        assert set(s.mask.unique().tolist()) == {0} | {1 + o.label for o in s.objects}
        for o in s.objects:
            x0, y0, x1, y1 = o.box
            assert 0 <= x0 < x1 <= 80 and 0 <= y0 < y1 <= 80
            assert o.box_norm == (x0 / 80, y0 / 80, x1 / 80, y1 / 80)
            assert (s.mask[y0:y1, x0:x1] == 1 + o.label).any()  # the object's pixels are inside its box
            assert f"a {o.name} at the {o.position}" in s.caption or f"an {o.name} at the {o.position}" in s.caption
        qa = dict(s.qa)
        assert qa["how many digits are there?"] == str(len(s.objects))
        leftmost = min(s.objects, key=lambda o: o.box[0] + o.box[2])
        assert qa["what digit is at the left?"] == leftmost.name


def test_scene_cache_round_trip(tmp_path) -> None:
    arrays = _fake_digits()
    scenes = digit_scenes(10, 0, arrays=arrays)
    from omnivec.data.derived import scenes_to_arrays

    _, path = cached_arrays("scenes-test", {"seed": 0}, lambda: scenes_to_arrays(scenes), tmp_path)
    again, path2 = cached_arrays("scenes-test", {"seed": 0}, lambda: 1 / 0, tmp_path)  # type: ignore[arg-type,return-value]
    assert path == path2 and path.is_file() and not list(tmp_path.glob("*.tmp"))
    back = scenes_from_arrays(again, [str(i) for i in range(10)])
    assert _scene_bytes(back) == _scene_bytes(scenes) and [s.qa for s in back] == [s.qa for s in scenes]
    _, other = cached_arrays("scenes-test", {"seed": 1}, lambda: scenes_to_arrays(scenes[:2]), tmp_path)
    assert other != path  # keyed by the parameters


def test_moving_digits_follow_their_direction() -> None:
    arrays = _fake_digits()
    clips = moving_digits(16, 0, arrays=arrays, num_frames=8)
    again = moving_digits(16, 0, arrays=arrays, num_frames=8)
    assert all(torch.equal(a.video, b.video) for a, b in zip(clips, again))
    for c in clips:
        assert c.video.shape == (1, 8, 64, 64) and not c.bounced[0]
        dx, dy = c.positions[0, -1] - c.positions[0, 0]
        angle = np.arctan2(dy, dx)  # y grows downwards, as DIRECTIONS assumes
        k = int(np.round(angle / (np.pi / 4))) % 8
        assert k == c.directions[0] and DIRECTIONS[k] in c.caption and c.caption.startswith(f"the digit {c.digits[0]}")
    two = moving_digits(3, 0, arrays=arrays, num_digits=2)
    assert all(len(c.digits) == 2 and " and " in c.caption for c in two)


def test_digit_point_clouds() -> None:
    arrays = _fake_digits()
    pts, labels = digit_point_clouds(5, 0, arrays=arrays, num_points=128)
    pts2, _ = digit_point_clouds(5, 0, arrays=arrays, num_points=128)
    assert all(torch.equal(a, b) for a, b in zip(pts, pts2))
    assert all(p.shape == (128, 3) and abs(float(p.norm(dim=1).max()) - 1) < 1e-5 for p in pts)
    assert all(0 <= y <= 9 for y in labels)


@pytest.mark.realdata
def test_derived_tasks_from_real_data(tmp_path) -> None:
    root = real_root()
    seg = scene_task("segmentation", 8, 4, seed=1, root=root)
    assert len(seg.class_names) == 11 and seg.class_names[0] == "background"
    seg2 = scene_task("segmentation", 8, 4, seed=1, root=root)
    assert all(torch.equal(seg.train[i][0], seg2.train[i][0]) for i in range(8))
    assert all(torch.equal(seg.test[i][1], seg2.test[i][1]) for i in range(4))
    vqa = scene_task("vqa", 4, 2, root=root, source="fashion-mnist")
    (image, question), answer = vqa.train[0]
    assert image.shape == (1, 64, 64) and question.endswith("?") and answer
    caps = spoken_digit_captions(root, limit=3)
    assert all(t.startswith("the digit ") and " spoken by " in t for t in caps.train.targets)
    a, path = cached_scenes_arrays(6, 0, root=root, cache_dir=tmp_path)
    b, path2 = cached_scenes_arrays(6, 0, root=root, cache_dir=tmp_path)
    assert path == path2 and np.array_equal(a["images"], b["images"])
    out = prepare(root, tmp_path, sample_rates=(8000,), scenes=(6, 3))
    assert {"fsdd-audio-8000-train", "fsdd-audio-8000-test", "scenes-mnist-train"} <= set(out)
    assert all(p.is_file() and tmp_path in p.parents for p in out.values())
