"""UnIVAL TSV readers on files written here, images as base64 PNG and as paths."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import torch

from omnivec.errors import DataError
from omnivec.families.unival.tsv import (
    decode_tsv_image,
    encode_tsv_image,
    read_caption_tsv,
    read_pretrain_tsv,
    read_refcoco_tsv,
    read_snli_ve_tsv,
    read_vqa_tsv,
)


@pytest.fixture
def image() -> torch.Tensor:
    img = torch.zeros(3, 4, 5)
    img[0, :, :2] = 1.0  # red left part
    img[2, 3] = 128 / 255  # a blue bottom row
    return img


def write(tmp_path: Path, rows: list[list[str]]) -> Path:
    path = tmp_path / "data.tsv"
    path.write_text("".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_base64_and_path_images(tmp_path: Path, image: torch.Tensor) -> None:
    b64 = encode_tsv_image(image)
    decoded = decode_tsv_image(b64)
    assert decoded.shape == (3, 4, 5) and decoded.dtype == torch.float32
    torch.testing.assert_close(decoded, image)  # PNG is lossless; values are multiples of 1/255
    (tmp_path / "img.png").write_bytes(base64.b64decode(b64))
    torch.testing.assert_close(decode_tsv_image("img.png", image_root=tmp_path), image)
    with pytest.raises(DataError, match="neither a file nor base64"):
        decode_tsv_image("missing.png", image_root=tmp_path)
    with pytest.raises(DataError, match="not a readable image"):
        decode_tsv_image("aGVsbG8=")  # base64 of "hello"


def test_url_safe_base64_longer_than_a_file_name(tmp_path: Path) -> None:
    image = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0)).mul(255).round().div(255)
    b64 = encode_tsv_image(image)
    url = base64.urlsafe_b64encode(base64.b64decode(b64)).decode()  # as OFA's scripts write them
    assert url != b64 and len(url) > 255  # has - or _, and is too long to be a file name under image_root
    torch.testing.assert_close(decode_tsv_image(url, image_root=tmp_path), image)


def test_caption(tmp_path: Path, image: torch.Tensor) -> None:
    path = write(tmp_path, [["1", "img1", "a dog&&a brown dog", "dog", encode_tsv_image(image)]])
    (rec,) = read_caption_tsv(path)
    assert rec.uniq_id == "1" and rec.image_id == "img1" and rec.captions == ["a dog", "a brown dog"]
    torch.testing.assert_close(decode_tsv_image(rec.image), image)


def test_vqa(tmp_path: Path, image: torch.Tensor) -> None:
    path = write(tmp_path, [["7", "img", "what color?", "1.0|!+red&&0.3|!+dark red", "", encode_tsv_image(image)]])
    (rec,) = read_vqa_tsv(path)
    assert rec.question == "what color?" and rec.answers == {"red": 1.0, "dark red": 0.3}
    bad = write(tmp_path, [["7", "img", "q", "1.0|!+red", "", "x"], ["8", "img", "q", "high|!+red", "", "x"]])
    with pytest.raises(DataError, match=r"data.tsv: line 2, column 4 \(answers\): .*'high' is not a number"):
        list(read_vqa_tsv(bad))


def test_refcoco(tmp_path: Path) -> None:
    path = write(tmp_path, [["3", "img", "the left cat", "10,20.5,110,220", "img.jpg"]])
    (rec,) = read_refcoco_tsv(path)
    assert rec.box == (10.0, 20.5, 110.0, 220.0) and rec.text == "the left cat" and rec.image == "img.jpg"
    bad = write(tmp_path, [["3", "img", "t", "10,20,110", "img.jpg"]])
    with pytest.raises(DataError, match=r"line 1, column 4 \(region\): .*four comma-separated"):
        list(read_refcoco_tsv(bad))


def test_snli_ve(tmp_path: Path) -> None:
    (rec,) = read_snli_ve_tsv(write(tmp_path, [["1", "img", "x.jpg", "a man", "a man sleeps", "neutral"]]))
    assert (rec.hypothesis, rec.premise, rec.label) == ("a man", "a man sleeps", "neutral")
    with pytest.raises(DataError, match=r"column 6 \(label\): expected one of entailment"):
        list(read_snli_ve_tsv(write(tmp_path, [["1", "img", "x.jpg", "h", "p", "maybe"]])))


def test_pretrain(tmp_path: Path) -> None:
    rows = [
        ["1", "a.jpg", "a cat", "", "", "cat", "coco", "caption"],
        ["2", "b.jpg", "", "what is it?", "0.9|!+cat", "", "vqa", "qa"],
        ["3", "c.jpg", "", "", "1,2,3,4", "", "refcoco", "visual_grounding"],
    ]
    recs = list(read_pretrain_tsv(write(tmp_path, rows)))
    assert [r.type for r in recs] == ["caption", "qa", "visual_grounding"]
    assert recs[1].refs == "0.9|!+cat" and recs[2].dataset_name == "refcoco"
    with pytest.raises(DataError, match=r"line 1, column 8 \(type\)"):
        list(read_pretrain_tsv(write(tmp_path, [["1", "a", "", "", "", "", "d", "dance"]])))


def test_wrong_column_count_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, [["1", "img", "cap", "", "x"], ["2", "img", "cap"]])
    with pytest.raises(DataError, match=r"data.tsv: line 2: expected 5 tab-separated columns .* got 3"):
        list(read_caption_tsv(path))
    with pytest.raises(DataError, match="does not exist"):
        list(read_caption_tsv(tmp_path / "nope.tsv"))
