"""UnIVAL TSV files as seq2seq tasks: rows -> examples by hand-checkable numbers, a fine-tune + evaluate through
the CLI on tiny files (base64 PNGs and a relative image path), corrupt rows skipped and counted, or with
--strict an error naming file and line. No real data needed."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import torch

from omnivec.cli import main
from omnivec.data.base import Skipped
from omnivec.errors import DataError, OmnivecError
from omnivec.families.unival.config import UnivalRunConfig, unival_preset
from omnivec.families.unival.tasks import get_seq2seq_task
from omnivec.families.unival.tsv import encode_tsv_image
from omnivec.families.unival.tsv_tasks import build, parse_source, task_names
from omnivec.tasks.text_metrics import mean_vqa_score, vqa_score

BAD_PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n not really a png").decode()


def image(seed: int, width: int = 30, height: int = 20) -> str:
    return encode_tsv_image(torch.rand(3, height, width, generator=torch.Generator().manual_seed(seed)))


def write(path: Path, rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
    return path


def caption_rows(n: int, start: int = 0) -> list[list[str]]:
    return [[str(i), f"im{i}", "a red square&&a small red square", "", image(i)] for i in range(start, start + n)]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, list[str]]:
    """One small file per schema; refcoco's images are files beside it, named relatively."""
    d = tmp_path / "tsv"
    (d / "imgs").mkdir(parents=True)
    (d / "imgs" / "a.png").write_bytes(base64.b64decode(image(7)))  # 30 x 20 pixels
    vqa = [[str(i), "im", "what color?", "1.0|!+red&&0.3|!+dark red", "", image(i)] for i in range(6)]
    refcoco = [[str(i), "a", "the left half", "0,0,15,20", "imgs/a.png"] for i in range(6)]
    labels = ["entailment", "neutral"] * 3
    snli = [[str(i), "im", image(i), "a square", "a red square", label] for i, label in enumerate(labels)]
    return {
        "caption": [str(write(d / "cap_train.tsv", caption_rows(6))), str(write(d / "cap_test.tsv", caption_rows(3)))],
        "vqa": [str(write(d / "vqa.tsv", vqa))],
        "refcoco": [str(write(d / "ref.tsv", refcoco))],
        "snli_ve": [str(write(d / "snli.tsv", snli))],
    }


def config(files: dict[str, list[str]], strict: bool = False) -> UnivalRunConfig:
    cfg = unival_preset("tiny", num_bins=16)
    cfg.tsv, cfg.image_size, cfg.strict = files, 16, strict
    return cfg


def test_rows_become_examples_of_the_existing_tasks(files: dict[str, list[str]]) -> None:
    cfg = config(files)
    assert task_names(cfg.tsv) == ["tsv_caption", "tsv_vqa", "tsv_refcoco", "tsv_snli_ve"]
    for name, like in [("tsv_caption", "caption_image"), ("tsv_refcoco", "grounding_image")]:
        spec, base = get_seq2seq_task(name), get_seq2seq_task(like)
        assert (spec.kind, spec.modality, spec.prompt, spec.max_len) == (base.kind, "image", base.prompt, base.max_len)

    train, test = build("tsv_caption", cfg)
    assert (len(train), len(test)) == (6, 3)  # the test file
    img, answer, refs = train[0]
    assert img.shape == (1, 16, 16)  # resized to image_size, gray like the tiny preset's image encoder
    assert answer == "a red square" and refs == ["a red square", "a small red square"]

    train, test = build("tsv_vqa", cfg)
    assert (len(train), len(test)) == (5, 1)  # no test file: a seeded 10% holdout, at least one row
    (_, question), answer, ref = train[0]
    assert question == "what color?" and answer == "red" and ref == {"red": 1.0, "dark red": 0.3}

    (img, phrase), answer, box = build("tsv_refcoco", cfg)[0][0]  # relative path, 30 x 20 pixels
    assert img.shape == (1, 16, 16) and phrase == "the left half"
    # x1 = 15 / 30 = 0.5 -> bin round(0.5 * 15) = 8; y1 = 20 / 20 = 1 -> bin 15
    assert answer == "<bin_0><bin_0><bin_8><bin_15>"
    torch.testing.assert_close(box, torch.tensor([0.0, 0.0, 0.5, 1.0]))

    answers = [build("tsv_snli_ve", cfg)[0][i][1] for i in range(2)]
    assert sorted(answers) == ["maybe", "yes"]  # neutral -> maybe, entailment -> yes


def test_vqa_score_is_the_confidence_of_the_predicted_answer() -> None:
    conf = {"red": 1.0, "dark red": 0.3}
    assert vqa_score("Red", conf) == 1.0 and vqa_score("dark red.", conf) == 0.3 and vqa_score("blue", conf) == 0.0
    assert mean_vqa_score(["red", "blue"], [conf, conf]) == 0.5


def test_pretraining_file_gives_one_task_per_row_type(tmp_path: Path) -> None:
    rows = [
        ["1", image(1), "a red square", "", "", "", "coco", "caption"],
        ["2", image(2), "", "what color?", "0.9|!+red", "", "vqa", "qa"],
        ["3", image(3), "the square", "", "3,2,30,20", "", "refcoco", "visual_grounding"],
        ["4", "clip.mp4", "a video", "", "", "", "msrvtt", "video_caption"],  # not an image task: unused
        ["5", image(5), "a blue square", "", "", "", "coco", "caption"],
    ]
    path = str(write(tmp_path / "pre.tsv", rows))
    cfg = config({"pretrain": [path, path]})
    assert task_names(cfg.tsv) == ["tsv_pretrain_caption", "tsv_pretrain_qa", "tsv_pretrain_grounding"]
    captions, _ = build("tsv_pretrain_caption", cfg)
    assert [captions[i][1] for i in range(len(captions))] == ["a red square", "a blue square"]
    (_, q), answer, ref = build("tsv_pretrain_qa", cfg)[0][0]
    assert (q, answer, ref) == ("what color?", "red", {"red": 0.9})
    assert build("tsv_pretrain_grounding", cfg)[0][0][1] == "<bin_2><bin_2><bin_15><bin_15>"


def test_finetune_and_evaluate_through_the_cli(files: dict[str, list[str]], tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["unival", "finetune", "scratch", "--out", str(out), "--steps", "2", "--batch-size", "2"]
    args += ["--num-bins", "16", "--image-size", "16", "--quiet"]
    for schema, paths in files.items():
        args += ["--tsv", f"{schema}={','.join(paths)}"]
    assert main(args) == 0
    log = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert log[-1]["tasks"] == "tsv_caption,tsv_vqa,tsv_refcoco,tsv_snli_ve"
    results = json.loads((out / "eval.json").read_text())
    assert {k: (r["metric"], r["n"], r["skipped"]) for k, r in results.items()} == {
        "tsv_caption": ("cider_d", 3, 0),
        "tsv_vqa": ("vqa_acc", 1, 0),
        "tsv_refcoco": ("acc_iou50", 1, 0),
        "tsv_snli_ve": ("accuracy", 1, 0),
    }
    res = tmp_path / "res.json"
    assert main(["unival", "evaluate", str(out), "--tasks", "tsv_caption", "--out", str(res)]) == 0
    assert json.loads(res.read_text())["tsv_caption"]["value"] == results["tsv_caption"]["value"]


def test_corrupt_rows_are_skipped_and_counted_or_strict_names_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = caption_rows(6)
    rows[2] = rows[2][:3]  # line 3: two columns missing
    rows[4][4] = BAD_PNG  # line 5: an image that does not decode
    train = write(tmp_path / "train.tsv", rows)
    test = write(tmp_path / "test.tsv", [*caption_rows(2), ["9", "im9", "a cap", "", "@@not base64@@"]])
    out = tmp_path / "run"
    # 6 rows, batches of 2: three steps read the whole epoch, so both bad rows are met in training
    args = ["unival", "finetune", "scratch", "--tsv", f"caption={train},{test}", "--steps", "3", "--batch-size", "2"]
    args += ["--num-bins", "16", "--image-size", "16", "--quiet"]
    assert main([*args, "--out", str(out)]) == 0
    skipped = [json.loads(x) for x in (out / "skipped.jsonl").read_text().splitlines()]
    reasons = sorted(s["reason"] for s in skipped)
    assert len(reasons) == 2 and reasons[0].startswith("line 3: expected 5 tab-separated columns")
    assert reasons[1].startswith("line 5, column 5 (image): <base64 image>: not a readable image")
    assert all(s["path"] == str(train) and s["stream"] == "tsv_caption" for s in skipped)
    result = json.loads((out / "eval.json").read_text())["tsv_caption"]
    assert (result["n"], result["skipped"]) == (2, 1)

    assert main([*args, "--out", str(tmp_path / "strict"), "--strict"]) == 2
    err = capsys.readouterr().err
    assert f"{train}: line 3: expected 5 tab-separated columns" in err


def test_strict_dataset_raises_where_the_default_skips(tmp_path: Path) -> None:
    rows = caption_rows(3)
    rows[1][4] = BAD_PNG
    path = str(write(tmp_path / "c.tsv", rows))
    lenient, _ = build("tsv_caption", config({"caption": [path, path]}))
    item = lenient[1][0]
    assert isinstance(item, Skipped) and item.path == path and item.reason.startswith("line 2, column 5 (image)")
    strict, _ = build("tsv_caption", config({"caption": [path, path]}, strict=True))
    with pytest.raises(DataError, match=r"c.tsv: line 2, column 5 \(image\): .*not a readable image"):
        strict[1]


def test_bad_sources_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(OmnivecError, match="SCHEMA one of caption, vqa, refcoco, snli_ve, pretrain"):
        parse_source("coco=x.tsv")
    with pytest.raises(DataError, match="no such file"):
        parse_source(f"caption={tmp_path / 'missing.tsv'}")
    with pytest.raises(OmnivecError, match="pass --tsv vqa=TRAIN"):
        build("tsv_vqa", config({}))
    one = str(write(tmp_path / "one.tsv", caption_rows(1)))
    with pytest.raises(DataError, match=r"one\.tsv: too few rows for a 10% holdout; give a test file"):
        build("tsv_caption", config({"caption": [one]}))
