"""Embeddings with identity, the retrieval projection, the index and search (exact and faiss), and the CLI's
``embed | index | search`` on a tiny run with a cross-modal retrieval task (a tone finds shape images)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import omnivec
from omnivec.api.embed import Embeddings, embed_inputs
from omnivec.api.search import ExactSearch, Index, default_task, hits_recall_at_k, search
from omnivec.cli import main
from omnivec.errors import OmnivecError
from serve_helpers import TONE_SHAPES, cached_runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return cached_runs(tmp_path_factory)


def test_embed_writes_vectors_with_ids_paths_labels(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "v.npz"
    assert (
        main(["embed", str(runs["omnivec"]), "--modality", "image", "--input", str(runs["images"]), "--out", str(out)])
        == 0
    )
    emb = Embeddings.load(out)
    files = sorted(p.relative_to(runs["images"]).as_posix() for p in runs["images"].rglob("*.png"))
    assert emb.ids == files and emb.vectors.shape == (len(files), 64)
    assert emb.labels == [f.split("/")[0] for f in files] and emb.space == "trunk" and emb.modality == "image"
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in emb.paths)
    model = omnivec.load(runs["omnivec"], "cpu")
    direct = model.embed("image", [Path(p) for p in emb.paths[:3]]).numpy()
    assert np.allclose(emb.vectors[:3], direct, atol=1e-5)  # the file holds what the Python API gives
    with np.load(out, allow_pickle=False) as z:  # plain arrays: readable without pickle
        assert set(z.files) == {"vectors", "ids", "paths", "labels", "meta"}


def test_text_file_lines_become_ids(runs: dict[str, Path], tmp_path: Path) -> None:
    texts = tmp_path / "t.txt"
    texts.write_text("the match was won\n\nsunny and warm\n")
    emb = embed_inputs(omnivec.load(runs["omnivec"], "cpu"), "text", [texts])
    assert emb.ids == ["t.txt:1", "t.txt:3"] and emb.vectors.shape == (2, 64)


def test_projection_puts_both_modalities_in_one_unit_space(runs: dict[str, Path]) -> None:
    model = omnivec.load(runs["omnivec"], "cpu")
    wavs = sorted(runs["wavs"].rglob("*.wav"))[:2]
    pngs = sorted(runs["images"].rglob("*.png"))[:2]
    a = model.embed("audio", wavs, task=TONE_SHAPES)
    b = model.embed("image", pngs, task=TONE_SHAPES)
    head = model.heads[TONE_SHAPES]
    assert a.shape == b.shape == (2, head.proj.out_features)
    assert torch.allclose(a.norm(dim=1), torch.ones(2), atol=1e-5)
    # the same vectors the retrieval task trains: the head over the pooled trunk output
    feats = model.forward_features("image", model._as_input("image", pngs))
    assert torch.allclose(b, head(feats, model.pool(feats)).embedding, atol=1e-6)
    with pytest.raises(OmnivecError, match="not retrieval"):
        model.embed("image", pngs, task="shapes")
    with pytest.raises(OmnivecError, match="pairs audio with image, not text"):
        model.embed("text", ["hello"], task=TONE_SHAPES)
    assert default_task(model, "image") == TONE_SHAPES and default_task(model, "text") is None


def test_exact_search_by_hand() -> None:
    x = np.array([[1, 0], [0, 1], [1, 1], [-1, 0]], np.float32)
    sims, idx = ExactSearch(x).search(np.array([[2, 0.1]], np.float32), k=3)
    assert idx.tolist() == [[0, 2, 1]]
    assert np.allclose(sims[0, 0], 2 / np.hypot(2, 0.1)) and sims[0, 0] > sims[0, 1] > sims[0, 2]


def test_recall_by_hand() -> None:
    hits = [[{"label": "a"}, {"label": "b"}], [{"label": "a"}, {"label": "b"}], [{"label": "c"}, {"label": "c"}]]
    assert hits_recall_at_k(["a", "b", "a"], hits, 1) == pytest.approx(1 / 3)
    assert hits_recall_at_k(["a", "b", "a"], hits, 2) == pytest.approx(2 / 3)


def test_faiss_agrees_with_exact_search() -> None:
    pytest.importorskip("faiss")
    from omnivec.api.search import FaissSearch

    rng = np.random.default_rng(0)
    x, q = rng.normal(size=(2000, 32)).astype(np.float32), rng.normal(size=(50, 32)).astype(np.float32)
    _, exact = ExactSearch(x).search(q, 10)
    _, approx = FaissSearch(x).search(q, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, approx)])
    assert recall > 0.9


def test_index_and_cross_modal_search_cli(runs: dict[str, Path], tmp_path: Path, capsys) -> None:
    index = tmp_path / "ix.npz"
    argv = ["index", str(runs["omnivec"]), "--modality", "image", "--input", str(runs["images"]), "--out", str(index)]
    assert main(argv) == 0
    assert f"space task:{TONE_SHAPES}" in capsys.readouterr().out
    ix = Index.open(index)
    assert ix.emb.thumbnails is not None and ix.emb.thumbnails.shape == (len(ix.emb.ids), 64, 64, 3)
    assert main(["search", str(index), "--query", str(runs["wavs"]), "--modality", "audio", "--k", "10"]) == 0
    out = capsys.readouterr().out
    assert "R@10" in out and "R@1" in out
    res = search(index, str(runs["wavs"]), k=10, modality="audio")
    n_wavs = len(list(runs["wavs"].rglob("*.wav")))
    assert len(res.hits) == n_wavs and all(len(h) == min(10, len(ix.emb.ids)) for h in res.hits)
    assert set(res.recall) == {"r@1", "r@5", "r@10"}
    one = sorted(runs["wavs"].rglob("*.wav"))[0]
    assert main(["search", str(index), "--query", str(one), "--k", "3"]) == 0  # modality from the extension


def test_search_refuses_incomparable_queries(runs: dict[str, Path], tmp_path: Path) -> None:
    trunk = tmp_path / "trunk.npz"
    model = omnivec.load(runs["omnivec"], "cpu")
    embed_inputs(model, "image", [runs["images"]]).save(trunk)
    with pytest.raises(OmnivecError, match="only comparable through a retrieval task"):
        search(trunk, "a sentence", k=3)
    with pytest.raises(OmnivecError, match="pairs audio with image, not text"):
        search(runs["index"], "a sentence", k=3)
    with pytest.raises(OmnivecError, match=r"name it \*\.npz"):
        embed_inputs(model, "image", [runs["images"]]).save(tmp_path / "v.npy")
