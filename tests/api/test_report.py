"""``omnivec report RUN``: a markdown page with figures for any run -- scores (last and best step), loss and
validation curves, a confusion matrix and examples per classification task, IoU per class for segmentation -- whose
numbers agree with ``evaluate``; the quickstart's report carries the same sections."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from omnivec.cli import main

TASKS = "shapes,scenes,tones,topics"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "run"
    argv = ["train", "--tasks", TASKS, "--preset", "tiny", "--steps", "6", "--eval-every", "3"]
    assert main([*argv, "--num-train", "40", "--num-test", "24", "--quiet", "--out", str(out)]) == 0
    return out


def test_report_writes_every_section_and_the_figures_it_links(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(run), "--examples", "4"]) == 0
    page = (run / "report" / "report.md").read_text()
    for section in ("## Scores on the test split", "## Training", "## shapes", "## scenes", "## tones", "## topics"):
        assert section in page
    assert "best step (" in page  # the run kept a best step: its test scores are a column
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page)
    assert {"loss.png", "validation.png", "confusion-shapes.png", "iou-scenes.png", "examples-tones.png"} <= set(
        figures
    )
    assert all((run / "report" / f).stat().st_size > 1000 for f in figures)
    assert "| text | predicted | true |" in page  # texts are shown as text


def test_the_reported_accuracy_is_the_one_evaluate_gives(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = run.parent / "elsewhere"
    assert main(["report", str(run), "--out", str(out), "--limit", "0"]) == 0
    page = (out / "report.md").read_text()
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    for task in ("shapes", "tones", "topics"):
        found = re.search(rf"## {task} .*?\n\nAccuracy ([0-9.]+) on the first (\d+) test samples", page, re.S)
        assert found, task
        assert float(found.group(1)) == pytest.approx(scores[task]["value"], abs=1e-4)
    miou = re.search(r"## scenes .*?\n\nmIoU ([0-9.]+)", page, re.S)
    assert miou and float(miou.group(1)) == pytest.approx(scores["scenes"]["value"], abs=1e-4)


def test_the_quickstart_report_carries_the_run_sections(run: Path, tmp_path: Path) -> None:
    import shutil

    from omnivec.config import preset
    from omnivec.experiments.quickstart import write_report

    shutil.copytree(run, tmp_path / "run", ignore=shutil.ignore_patterns("report"))
    cfg = preset("tiny")
    results = {"shapes": {"task": "shapes", "modality": "image", "kind": "classification", "metric": "accuracy"}}
    results["shapes"] |= {"value": 0.5, "chance": 0.25}
    write_report(tmp_path, results, {}, cfg, {"total": 1.0, "omnivec": 1.0, "baselines": 0.0}, "generated")
    page = (tmp_path / "report.md").read_text()
    assert "# omnivec quickstart" in page and "## shapes" in page and (tmp_path / "confusion-shapes.png").is_file()
