"""The HTTP API on a tiny OmniVec run (with an index) and a tiny UnIVAL run, through FastAPI's TestClient:
every endpoint answers what the library answers for the same file, concurrent requests batch together, and the
bad-input corpus gets 4xx JSON errors naming what was wrong while the server stays healthy."""

from __future__ import annotations

import base64
import concurrent.futures as cf
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient

import omnivec
from omnivec.serve.app import create_app
from omnivec.serve.service import ServeConfig
from serve_helpers import TONE_SHAPES, cached_runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return cached_runs(tmp_path_factory)


@pytest.fixture(scope="module")
def client(runs: dict[str, Path]) -> Any:
    app = create_app(runs["omnivec"], ServeConfig(index=str(runs["index"]), device="cpu", max_upload_mb=1))
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def unival(runs: dict[str, Path]) -> Any:
    with TestClient(create_app(runs["unival"], ServeConfig(device="cpu"))) as c:
        yield c


def png(runs: dict[str, Path]) -> tuple[Path, bytes]:
    p = sorted(runs["images"].rglob("*.png"))[0]
    return p, p.read_bytes()


def wav(runs: dict[str, Path]) -> tuple[Path, bytes]:
    p = sorted(runs["wavs"].rglob("*.wav"))[0]
    return p, p.read_bytes()


def test_health_info_docs_and_page(client: Any) -> None:
    assert client.get("/health").json() == {"status": "ok", "family": "omnivec"}
    info = client.get("/info").json()
    assert {t["name"] for t in info["tasks"]} == {"shapes", "topics", TONE_SHAPES}
    assert ".png" in info["modalities"]["image"] and info["index"]["query_modalities"] == ["audio", "image"]
    assert info["index"]["space"] == f"task:{TONE_SHAPES}" and info["index"]["thumbnails"] is True
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/health", "/info", "/embed", "/predict/{task}", "/generate", "/search"} <= set(paths)
    assert "multipart/form-data" in paths["/embed"]["post"]["requestBody"]["content"]
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert "fetch(" in client.get("/static/app.js").text


def test_predict_matches_the_library(client: Any, runs: dict[str, Path]) -> None:
    model = omnivec.load(runs["omnivec"], "cpu")
    path, data = png(runs)
    r = client.post("/predict/shapes", files={"file": ("x.png", data)})
    assert r.status_code == 200, r.text
    assert r.json() == {"task": "shapes", "kind": "classification", "prediction": model.predict("shapes", [path])[0]}
    r = client.post("/predict/topics", json={"text": "the match was won"})
    assert r.json()["prediction"] == model.predict("topics", ["the match was won"])[0]


def test_embed_file_json_and_projection(client: Any, runs: dict[str, Path]) -> None:
    model = omnivec.load(runs["omnivec"], "cpu")
    path, data = wav(runs)
    r = client.post("/embed", files={"file": ("a.wav", data)}, data={"task": TONE_SHAPES}).json()
    assert r["space"] == f"task:{TONE_SHAPES}" and r["modality"] == "audio"
    assert np.allclose(r["vector"], model.embed("audio", [path], task=TONE_SHAPES)[0].numpy(), atol=1e-5)
    b64 = base64.b64encode(png(runs)[1]).decode()
    r = client.post("/embed", json={"data_base64": b64, "filename": "a.png"}).json()
    assert r["space"] == "trunk" and r["dim"] == 64
    assert np.allclose(r["vector"], model.embed("image", [png(runs)[0]])[0].numpy(), atol=1e-5)


def test_every_modality_uploads(client: Any, runs: dict[str, Path], tmp_path: Path) -> None:
    """Video, point cloud and text files embed through the API as the library embeds the same files."""
    from data_helpers import CUBE_OFF, write_mp4

    model = omnivec.load(runs["omnivec"], "cpu")
    frames = np.random.default_rng(0).integers(0, 255, (6, 16, 16, 3), dtype=np.uint8)
    files = {
        "video": write_mp4(tmp_path / "c.mp4", frames),
        "points": tmp_path / "cube.off",
        "text": tmp_path / "t.txt",
    }
    files["points"].write_text(CUBE_OFF)
    files["text"].write_text("the match was won")
    for modality, path in files.items():
        r = client.post("/embed", files={"file": (path.name, path.read_bytes())})
        assert r.status_code == 200 and r.json()["modality"] == modality, r.text
        expect = model.embed(modality, [path if modality != "text" else path.read_text()])[0].numpy()
        assert np.allclose(r.json()["vector"], expect, atol=1e-4), modality


def test_cross_modal_search_and_thumbnails(client: Any, runs: dict[str, Path]) -> None:
    _, data = wav(runs)
    r = client.post("/search", files={"file": ("a.wav", data)}, data={"k": "5"})
    hits = r.json()["hits"]
    assert r.status_code == 200 and [h["rank"] for h in hits] == [1, 2, 3, 4, 5]
    assert all(a["score"] >= b["score"] for a, b in itertools.pairwise(hits))
    thumb = client.get(hits[0]["thumbnail"])
    assert thumb.status_code == 200 and thumb.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_concurrent_requests_are_batched_with_the_same_answers(client: Any, runs: dict[str, Path]) -> None:
    _, data = png(runs)
    before = client.get("/info").json()["batching"]

    def one(_: int) -> Any:
        return client.post("/predict/shapes", files={"file": ("x.png", data)}).json()["prediction"]

    with cf.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(one, range(32)))
    after = client.get("/info").json()["batching"]
    assert len(set(answers)) == 1  # a batch gives each request what it gives alone
    assert after["items"] - before["items"] == 32
    assert after["batches"] - before["batches"] < 32 and after["largest"] > 1


JSON = {"content-type": "application/json"}
BAD = [
    # (what is wrong, request kwargs, path, status, words the error must contain)
    ("unknown extension", {"files": {"file": ("a.exe", b"MZ\x90")}}, "/predict/shapes", 415, "a.exe"),
    ("wrong type for the modality", {"files": {"file": ("a.wav", b"RIFF")}}, "/predict/shapes", 400, "takes image"),
    ("undecodable audio", {"files": {"file": ("a.wav", b"RIFF")}}, "/embed", 400, "cannot be read as audio"),
    ("truncated image", {"files": {"file": ("a.png", b"\x89PNG\r\n\x1a\n\x00")}}, "/predict/shapes", 400, "a.png"),
    ("empty upload", {"files": {"file": ("a.png", b"")}}, "/predict/shapes", 400, "empty"),
    ("missing field", {"data": {"modality": "image"}}, "/predict/shapes", 400, "missing input"),
    ("empty text", {"json": {"text": "  "}}, "/predict/topics", 400, "missing input"),
    ("unknown task", {"json": {"text": "x"}}, "/predict/nosuch", 404, "unknown task 'nosuch'"),
    ("no body", {}, "/embed", 415, "content type"),
    ("bad JSON", {"content": b"{", "headers": {"content-type": "application/json"}}, "/embed", 400, "JSON"),
    ("bad base64", {"json": {"data_base64": "@@", "filename": "a.png"}}, "/embed", 400, "base64"),
    ("k out of range", {"json": {"text": "x", "k": 0}}, "/search", 400, "'k'"),
    ("text query vs audio-image index", {"json": {"text": "x"}}, "/search", 400, "not comparable"),
    ("projection of a classifier", {"json": {"text": "x", "task": "topics"}}, "/embed", 400, "not retrieval"),
    ("generate on OmniVec", {"files": {"file": ("a.png", b"x")}}, "/generate", 400, "UnIVAL"),
    ("thumbnail row", {}, "/index/thumbnail/999", 404, "outside the index"),
    ("huge body", {"content": b"x" * (2 * 1024 * 1024), "headers": {"content-type": "a/b"}}, "/embed", 413, "limit"),
    # issue 25: hostile JSON and long texts
    ("JSON 100,000 deep", {"content": b"[" * 100_000 + b"]" * 100_000, "headers": JSON}, "/embed", 400, "too deeply"),
    (
        "object 100,000 deep",
        {"content": b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "headers": JSON},
        "/embed",
        400,
        "too deeply",
    ),
    (
        "text as a list",
        {"json": {"text": ["a", "b"]}},
        "/predict/topics",
        422,
        "field 'text': expected a string, got an array",
    ),
    ("text as a number", {"json": {"text": 5}}, "/embed", 422, "field 'text': expected a string, got a number"),
    ("nested field", {"json": {"text": "x", "k": {"n": 3}}}, "/search", 422, "field 'k': expected a plain value"),
    (
        "a 5000-digit integer",
        {"content": b'{"text": "x", "k": ' + b"9" * 5000 + b"}", "headers": JSON},
        "/search",
        400,
        "not valid JSON",
    ),
    ("text over --max-text-kb", {"json": {"text": "ab " * 100_000}}, "/embed", 413, "field 'text' is 300000 bytes"),
    (".txt over --max-text-kb", {"files": {"file": ("a.txt", b"ab " * 100_000)}}, "/embed", 413, "upload 'a.txt'"),
    (
        "prompt over --max-text-kb",
        {"files": {"file": ("a.png", b"x")}, "data": {"text": "ab " * 100_000}},
        "/generate",
        413,
        "field 'text'",
    ),
]


@pytest.mark.parametrize(("what", "kwargs", "path", "status", "words"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_a_clear_4xx_and_the_server_stays_healthy(
    client: Any, what: str, kwargs: dict[str, Any], path: str, status: int, words: str
) -> None:
    method = client.get if path.startswith("/index") else client.post
    r = method(path, **kwargs)
    assert r.status_code == status, (what, r.text)
    assert words in r.json()["error"], (what, r.json())
    assert client.get("/health").json()["status"] == "ok"
    assert client.post("/predict/topics", json={"text": "still serving"}).status_code == 200


def test_text_is_read_as_the_file_readers_read_it(client: Any) -> None:
    """A UTF-8 byte-order mark and surrounding whitespace are no part of a text: the readers (and so training)
    drop them, and the server used to embed them."""
    want = client.post("/embed", json={"text": "the match was won"}).json()["vector"]
    for sent in (
        {"files": {"file": ("a.txt", b"\xef\xbb\xbfthe match was won\n")}},
        {"json": {"text": "  the match was won\n"}},
    ):
        r = client.post("/embed", **sent)
        assert r.status_code == 200 and r.json()["vector"] == want, sent


def test_the_server_never_opens_a_path_a_client_names(client: Any, runs: dict[str, Path], tmp_path: Path) -> None:
    secret = runs["images"] / "circle"
    for payload in (
        {"filename": str(sorted(secret.glob("*.png"))[0]), "data_base64": base64.b64encode(b"not a png").decode()},
        {"filename": "../../etc/passwd.png", "data_base64": base64.b64encode(b"x").decode()},
    ):
        r = client.post("/predict/shapes", json=payload)
        assert r.status_code == 400 and "cannot be read as image" in r.json()["error"]  # its bytes, not the file


def test_unival_generate_caption_vqa_and_grounding_in_pixels(unival: Any, runs: dict[str, Path]) -> None:
    from PIL import Image

    from omnivec.families.unival.tasks import get_seq2seq_task

    info = unival.get("/info").json()
    assert info["family"] == "unival"
    assert [t["name"] for t in info["tasks"]] == [
        "tsv_pretrain_caption",
        "tsv_pretrain_qa",
        "tsv_pretrain_grounding",
    ]
    img = Image.new("RGB", (40, 20), (200, 30, 30))  # not the run's 16 x 16: boxes come back in these pixels
    p = runs["images"].parent / "wide.png"
    img.save(p)
    data = p.read_bytes()
    r = unival.post("/generate", files={"file": ("w.png", data)}, data={"task": "caption"})
    assert r.status_code == 200 and isinstance(r.json()["output"], str) and r.json()["kind"] == "captioning"
    model = omnivec.load(runs["unival"], "cpu")
    for task, text in (("tsv_pretrain_qa", "what is it?"), ("tsv_pretrain_grounding", "the shape")):
        r = unival.post("/generate", files={"file": ("w.png", data)}, data={"task": task, "text": text})
        expect = model.generate(task, [(p, text)], max_len=get_seq2seq_task(task).max_len)[0]  # the task's length
        if task.endswith("grounding"):
            assert r.json()["output"] == expect.text
            if expect.box is not None:
                assert r.json()["box"] == pytest.approx(list(expect.box), abs=0.02)
                assert 0 <= r.json()["box"][2] <= 40 and 0 <= r.json()["box"][3] <= 20
        else:
            assert r.json()["output"] == expect
    r = unival.post("/predict/tsv_pretrain_qa", files={"file": ("w.png", data)}, data={"text": "what?"})
    assert r.status_code == 200 and "output" in r.json()
    assert unival.post("/embed", files={"file": ("w.png", data)}).json()["dim"] == 64
    r = unival.post("/generate", files={"file": ("w.png", data)}, data={"task": "tsv_pretrain_qa"})
    assert r.status_code == 400 and "needs a 'text' field" in r.json()["error"]
    r = unival.post("/generate", files={"file": ("w.png", data)}, data={"task": "nosuch"})
    assert r.status_code == 404 and "nosuch" in r.json()["error"]
    r = unival.post("/embed", files={"file": ("a.off", b"OFF\n")})  # a modality this run has no encoder for
    assert r.status_code == 400 and "no points encoder" in r.json()["error"]
    assert unival.get("/health").json()["status"] == "ok"
    r = unival.post("/search", files={"file": ("w.png", data)})
    assert r.status_code == 404 and "no index" in r.json()["error"]


def test_unival_generation_options_per_request(unival: Any, runs: dict[str, Path]) -> None:
    """A request's beam / no_repeat_ngram / length_penalty / max_len reach generation (the answer is the library's
    under the same options); out-of-range ones are a 400 naming the field."""
    from PIL import Image

    p = runs["images"].parent / "opts.png"
    Image.new("RGB", (16, 16), (30, 200, 30)).save(p)
    data = p.read_bytes()
    model = omnivec.load(runs["unival"], "cpu")
    options = {"beam": 2, "no_repeat_ngram": 0, "length_penalty": 0.5, "max_len": 3}
    r = unival.post("/generate", files={"file": ("o.png", data)}, data={"task": "caption", **options})
    assert r.status_code == 200
    assert r.json()["output"] == model.generate("tsv_pretrain_caption", [p], 2, 3, 0, 0.5)[0]
    for field, value in (("beam", "0"), ("beam", "1000"), ("no_repeat_ngram", "-1"), ("length_penalty", "nan")):
        r = unival.post("/generate", files={"file": ("o.png", data)}, data={"task": "caption", field: value})
        assert r.status_code == 400 and field in r.json()["error"], (field, r.json())


def test_a_segmentation_upload_gets_its_class_map_at_the_upload_s_size(tmp_path: Path) -> None:
    """The server reads an upload at the run's size, as files are; the class map comes back at the upload's size,
    the same map ``model.predict`` gives for the file."""
    from PIL import Image

    from omnivec.cli import main

    run = tmp_path / "run"
    argv = ["train", "--tasks", "scenes", "--preset", "tiny", "--steps", "1", "--num-train", "8", "--num-test", "4"]
    assert main([*argv, "--log-formats", "none", "--quiet", "--out", str(run)]) == 0
    model = omnivec.load(run, "cpu")
    read_at = model.task("scenes").input_shape[-2:]
    path = tmp_path / "wide.png"
    Image.fromarray((np.random.default_rng(1).random((24, 56, 3)) * 255).astype(np.uint8)).save(path)
    assert list(read_at) != [24, 56]
    with TestClient(create_app(run, ServeConfig(device="cpu"))) as c:
        r = c.post("/predict/scenes", files={"file": ("wide.png", path.read_bytes())})
    assert r.status_code == 200, r.text
    mask = r.json()["prediction"]
    assert (len(mask), len(mask[0])) == (24, 56)
    assert mask == model.predict("scenes", [path])[0].tolist()
