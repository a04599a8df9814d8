"""The demo page names the run once, by a name that says which run it is."""

from __future__ import annotations

from pathlib import Path

from omnivec.serve.service import run_label


def test_a_generic_folder_name_is_named_with_its_parent(tmp_path: Path) -> None:
    assert run_label(tmp_path / "quickstart" / "run") == "quickstart/run"
    assert run_label(tmp_path / "b77" / "best") == "b77/best"
    assert run_label(tmp_path / "fashion-ft") == "fashion-ft"
