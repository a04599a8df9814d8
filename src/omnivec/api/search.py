"""Index and search: a folder of one modality embedded into a vectors file with thumbnails (``omnivec index``),
and the nearest neighbours of a query file or text in it (``omnivec search``), cross-modal when the index was
built through a retrieval task (a spoken digit finds images of that digit).

Search is exact cosine similarity in numpy by default: for the indexes a run folder makes (thousands to a
few hundred thousand vectors of at most a few hundred dimensions) one matrix product is milliseconds and
never wrong. ``backend="faiss"`` builds an HNSW graph (faiss-cpu, the ``omnivec[search]`` extra) for indexes
where a linear scan per query is too slow; ``bench/search_ann.py`` measures its recall@10 and queries/s
against the exact search.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from omnivec.api.embed import Embeddings, collect_sources, embed_inputs, embed_samples
from omnivec.errors import OmnivecError
from omnivec.tasks import task_kind

THUMB = 64
"""Side of the square thumbnails an image index stores for the demo page."""

BACKENDS = ("exact", "faiss")


def default_task(model: Any, modality: str) -> str | None:
    """The retrieval task an index of ``modality`` should be built through: the run's only retrieval task with
    ``modality`` on one side; None (the trunk's space) when it has none; an error when several could be."""
    if getattr(model, "family", "") != "omnivec":
        return None
    names = [
        t.name for t in model.tasks.values() if task_kind(t.kind).paired and modality in (t.modality, t.pair_modality)
    ]
    if len(names) > 1:
        raise OmnivecError(f"retrieval tasks {', '.join(names)} all take {modality}; choose one with --task")
    return names[0] if names else None


def thumbnails(paths: Sequence[str | Path], side: int = THUMB) -> np.ndarray:
    """(N, side, side, 3) uint8: each image fitted into a black square, for the page's neighbour list."""
    from omnivec.data.readers.image import open_image

    out = np.zeros((len(paths), side, side, 3), np.uint8)
    for i, p in enumerate(paths):
        with open_image(Path(p), p) as f:  # files the index embedded, so of a documented format and size
            im = f.convert("RGB")
        im.thumbnail((side, side))
        x0, y0 = (side - im.width) // 2, (side - im.height) // 2
        out[i, y0 : y0 + im.height, x0 : x0 + im.width] = np.asarray(im)
    return out


def build_index(
    run: str | Path,
    modality: str,
    inputs: Sequence[str | Path],
    out: str | Path,
    task: str | None = None,
    device: str | None = "auto",
) -> Embeddings:
    """Embed ``inputs`` (files, or folders of class subfolders) through ``task`` (default: the run's retrieval
    task for ``modality``, see :func:`default_task`) and write them with thumbnails (images) to ``out``."""
    from omnivec.api.load import load

    model = load(run, device)
    task = task or default_task(model, modality)
    emb = embed_inputs(model, modality, inputs, task)
    if modality == "image":
        emb.thumbnails = thumbnails(emb.paths)
    emb.save(out)
    return emb


class Backend(Protocol):
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(Q, D) queries -> (Q, k) similarities and (Q, k) row indices, best first."""
        ...


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


class ExactSearch:
    """Cosine similarity against every row: one matrix product and a partial sort."""

    def __init__(self, vectors: np.ndarray) -> None:
        self.x = _unit(vectors)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        sims = _unit(queries) @ self.x.T  # (Q, N)
        k = min(k, sims.shape[1])
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]  # the k best, unordered
        order = np.argsort(-np.take_along_axis(sims, top, 1), axis=1)
        idx = np.take_along_axis(top, order, 1)
        return np.take_along_axis(sims, idx, 1), idx


class FaissSearch:
    """Approximate search on an HNSW graph (faiss): inner product of unit vectors = cosine."""

    def __init__(self, vectors: np.ndarray, neighbours: int = 32, ef_search: int = 64) -> None:
        try:
            import faiss
        except ImportError:
            raise OmnivecError("--backend faiss needs faiss-cpu: pip install 'omnivec[search]'") from None
        x = _unit(vectors)
        self.index = faiss.IndexHNSWFlat(x.shape[1], neighbours, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efSearch = ef_search
        self.index.add(x)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        sims, idx = self.index.search(_unit(queries), min(k, self.index.ntotal))
        return sims, idx


def make_backend(vectors: np.ndarray, backend: str = "exact") -> Backend:
    if backend == "exact":
        return ExactSearch(vectors)
    if backend == "faiss":
        return FaissSearch(vectors)
    raise OmnivecError(f"unknown search backend {backend!r}; expected one of {', '.join(BACKENDS)}")


@dataclass
class Index:
    """A loaded index: its embeddings and a search backend over them."""

    emb: Embeddings
    backend: Backend

    @classmethod
    def open(cls, path: str | Path, backend: str = "exact") -> Index:
        emb = Embeddings.load(path)
        if not len(emb.vectors):
            raise OmnivecError(f"index {path} is empty")
        return cls(emb, make_backend(emb.vectors, backend))

    def neighbours(self, queries: np.ndarray, k: int = 10) -> list[list[dict[str, Any]]]:
        """For each query vector, its ``k`` nearest rows: rank, score, id, label, path and row number."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:  # k = -3 used to return all rows but 3
            raise OmnivecError(f"k (neighbours per query) must be an integer >= 1, got {k!r}")
        sims, idx = self.backend.search(np.atleast_2d(queries), k)
        return [
            [
                {"rank": r + 1, "score": float(s), "row": int(i), "id": self.emb.ids[i], "label": self.emb.labels[i]}
                for r, (s, i) in enumerate(zip(srow, irow))
                if i >= 0
            ]
            for srow, irow in zip(sims, idx)
        ]

    def check_query_modality(self, model: Any, modality: str) -> None:
        """A query must land in the index's space: the same modality, or the other side of its retrieval task."""
        task = self.emb.task
        if task is None:
            if modality != self.emb.modality:
                raise OmnivecError(
                    f"this index holds {self.emb.modality} vectors in the trunk's space; a {modality} query is only "
                    "comparable through a retrieval task (rebuild the index with --task)"
                )
            return
        cfg = model.task(task)
        if modality not in (cfg.modality, cfg.pair_modality):
            raise OmnivecError(f"the index's task {task} pairs {cfg.modality} with {cfg.pair_modality}, not {modality}")


def hits_recall_at_k(labels_q: Sequence[str], hits: list[list[dict[str, Any]]], k: int) -> float:
    """Fraction of labelled queries with a neighbour of the same label among their first ``k``."""
    scored = [(q, h) for q, h in zip(labels_q, hits) if q]
    if not scored:
        raise OmnivecError("recall needs labelled queries: a folder of class subfolders")
    return float(np.mean([any(n["label"] == q for n in h[:k]) for q, h in scored]))


@dataclass
class SearchResult:
    queries: list[str]
    """Query ids (file ids, or the text itself)."""
    labels: list[str]
    hits: list[list[dict[str, Any]]]
    recall: dict[str, float]
    """r@1, r@5, r@10 over the labelled queries (queries from a folder of class subfolders); empty otherwise."""


def query_modality(query: str, modality: str | None) -> str:
    """A query file's modality from its extension (or ``modality``); a string that is no path is text."""
    from omnivec.data.readers.sample import modality_of

    p = Path(query)
    if modality:
        return modality
    if p.is_dir():
        raise OmnivecError(f"--query {query} is a folder: say which modality its files are with --modality")
    if p.is_file():
        mod = modality_of(p)
        if mod is None:
            raise OmnivecError(f"--query {query}: the extension does not say the modality; pass --modality")
        return mod.value
    return "text"


def search(
    index_path: str | Path,
    query: str,
    k: int = 10,
    modality: str | None = None,
    run: str | Path | None = None,
    backend: str = "exact",
    device: str | None = "auto",
) -> SearchResult:
    """Embed ``query`` (a file, a folder of them, or a text) with the index's run and space, and find its
    ``k`` nearest neighbours; with a labelled folder of queries, also recall@1/5/10."""
    from omnivec.api.load import load

    if isinstance(k, bool) or not isinstance(k, int) or k < 1:  # refused before the model loads
        raise OmnivecError(f"--k (neighbours per query) must be an integer >= 1, got {k!r}")
    index = Index.open(index_path, backend)
    run = run or index.emb.run
    if not run:
        raise OmnivecError(f"index {index_path} does not name its run; pass --run")
    model = load(run, device)
    mod = query_modality(query, modality)
    index.check_query_modality(model, mod)
    p = Path(query)
    if p.exists():
        emb = embed_inputs(model, mod, [p], index.emb.task)
        vectors, ids, labels = emb.vectors, emb.ids, emb.labels
    else:
        vectors = embed_samples(model, mod, [query], index.emb.task).cpu().numpy()
        ids, labels = [query], [""]
    hits = index.neighbours(vectors, k)
    recall: dict[str, float] = {}
    if any(labels) and any(index.emb.labels):
        recall = {f"r@{n}": hits_recall_at_k(labels, hits, n) for n in (1, 5, 10)}
    return SearchResult(ids, labels, hits, recall)


__all__ = [
    "BACKENDS",
    "ExactSearch",
    "FaissSearch",
    "Index",
    "SearchResult",
    "build_index",
    "collect_sources",
    "default_task",
    "hits_recall_at_k",
    "make_backend",
    "search",
    "thumbnails",
]
