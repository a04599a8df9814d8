"""Approximate (faiss HNSW) against exact (numpy) search, measured in the same run: recall@10 of the approximate
neighbours against the exact ones, and queries/s of each, on vectors of an index or random clustered vectors.

    python bench/search_ann.py                          # 100k random clustered vectors of 128 dims, 1000 queries
    python bench/search_ann.py --index runs/images.npz  # an index from `omnivec index` (queries: its own rows)

Exact search is one (Q, N) matrix product per batch of queries; HNSW visits a few hundred vectors per query,
so it wins once N is large, at the price of missing some true neighbours (the recall printed here).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from omnivec.api.search import ExactSearch, FaissSearch


def clustered(n: int, centres: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors around ``centres`` (C, D): neighbours that mean something, as embeddings have."""
    x = centres[rng.integers(0, len(centres), n)] + 0.5 * rng.normal(size=(n, centres.shape[1]))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def timed(fn, *args):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index", help="an index .npz from `omnivec index` (default: random clustered vectors)")
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--ef-search", type=int, nargs="+", default=[32, 64, 128])
    a = p.parse_args()

    if a.index:
        from omnivec.api.embed import Embeddings

        x = Embeddings.load(a.index).vectors
        q = x[np.random.default_rng(1).choice(len(x), min(a.queries, len(x)), replace=False)]
    else:
        rng = np.random.default_rng(0)
        centres = rng.normal(size=(256, a.dim))
        x, q = clustered(a.n, centres, rng), clustered(a.queries, centres, rng)  # queries: new draws, same clusters
    print(f"{len(x)} vectors x {x.shape[1]} dims, {len(q)} queries, k={a.k}")
    exact = ExactSearch(x)
    (_, truth), t_exact = timed(exact.search, q, a.k)
    print(f"{'exact (numpy)':24s} recall@{a.k} 1.000  {len(q) / t_exact:10.0f} queries/s")
    ann, t_build = timed(FaissSearch, x, 32, a.ef_search[0])
    print(f"faiss HNSW (M=32) built in {t_build:.1f} s")
    for ef in a.ef_search:
        ann.index.hnsw.efSearch = ef  # how many candidates a query visits: recall against speed
        (_, got), t = timed(ann.search, q, a.k)
        recall = np.mean([len(set(g) & set(e)) / a.k for g, e in zip(got, truth)])
        print(
            f"{'faiss HNSW ef=' + str(ef):24s} recall@{a.k} {recall:.3f}  {len(q) / t:10.0f} queries/s"
            f"  ({t_exact / t:.1f}x exact)"
        )


if __name__ == "__main__":
    main()
