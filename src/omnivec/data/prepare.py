"""``omnivec data prepare``: build the caches the real-data and derived tasks reuse, ahead of training.

Decoded/resampled FSDD audio and digit scenes are stored as ``.npz`` files keyed by a hash of their parameters
(:mod:`omnivec.data.cache`), in the cache folder (``$OMNIVEC_CACHE`` or ``~/.cache/omnivec``), never inside the
repository.
"""

from __future__ import annotations

from pathlib import Path

from omnivec.data.cache import cache_path, cached_arrays
from omnivec.data.datasets.cards import info
from omnivec.data.datasets.fsdd import fsdd_cache_params, load_fsdd
from omnivec.data.datasets.verify import is_present
from omnivec.data.derived.digit_scenes import digit_scenes, scenes_to_arrays
from omnivec.data.root import StrPath, resolve_cache, resolve_root


def prepare(
    root: StrPath | None = None,
    cache_dir: StrPath | None = None,
    *,
    seed: int = 0,
    sample_rates: tuple[int, ...] = (16000,),
    scenes: tuple[int, int] = (2000, 500),
    canvas: int = 64,
) -> dict[str, Path]:
    """Build the caches the derived tasks reuse: FSDD audio decoded and resampled to each of
    ``sample_rates``, and MNIST digit scenes (train, test). Returns {cache name: file}; datasets that are
    not present are skipped."""
    out: dict[str, Path] = {}
    cache = resolve_cache(cache_dir)
    if resolve_root(root) is None:
        return out
    if is_present("fsdd", root):
        for sr in sample_rates:
            fsdd = load_fsdd(root, sample_rate=sr, cache_dir=cache)
            for split, ds in (("train", fsdd.train), ("test", fsdd.test)):
                rows = [(Path(p), 0, "", 0) for p in ds.paths]  # type: ignore[attr-defined]
                out[f"fsdd-audio-{sr}-{split}"] = cache_path("fsdd-audio", fsdd_cache_params(rows, sr), cache)
    if is_present("mnist", root):
        for split, n in zip(("train", "test"), scenes):
            _, path = cached_scenes_arrays(n, seed, split=split, root=root, canvas=canvas, cache_dir=cache)
            out[f"scenes-mnist-{split}"] = path
    return out


def cached_scenes_arrays(
    n: int,
    seed: int = 0,
    *,
    source: str = "mnist",
    split: str = "train",
    root: StrPath | None = None,
    canvas: int = 64,
    min_items: int = 2,
    max_items: int = 4,
    cache_dir: StrPath | None = None,
) -> tuple[dict, Path]:
    """Digit scenes as arrays (see ``derived.scenes_from_arrays``), from the cache or built and cached."""
    digests = [f.sha256 for f in info(source).files]
    params = {
        "n": n,
        "seed": seed,
        "source": source,
        "split": split,
        "canvas": canvas,
        "items": [min_items, max_items],
        "source_sha256": digests,
    }

    def build() -> dict:
        scenes = digit_scenes(
            n, seed, source=source, split=split, root=root, canvas=canvas, min_items=min_items, max_items=max_items
        )
        return scenes_to_arrays(scenes)

    return cached_arrays(f"scenes-{source}-{split}", params, build, cache_dir)
