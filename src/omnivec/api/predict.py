"""``omnivec predict``: a task's predictions for input files, one JSON record per file, for a run of either
family -- class names (classification), class maps (segmentation), unit vectors (retrieval) from an OmniVec
run; generated text (and boxes, for grounding) from a UnIVAL run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def predict_files(
    run: str | Path,
    task: str,
    paths: Sequence[str | Path],
    device: str | None = "auto",
    text: str | None = None,
    batch_size: int = 32,
) -> list[dict[str, Any]]:
    from omnivec.api.load import load
    from omnivec.families.registry import family_of_run

    fam = family_of_run(run)
    fam.check_predict(run, text)
    return fam.predict_files(load(run, device), task, paths, text, batch_size)


def generate_files(
    run: str | Path,
    task: str,
    paths: Sequence[str | Path],
    text: str | None = None,
    decoding: Any = None,
    batch_size: int = 16,
    device: str | None = "auto",
) -> list[dict[str, Any]]:
    """``omnivec generate``: :func:`~omnivec.families.unival.generate.generate_records` for a UnIVAL run folder
    (one of the other family is refused in one line), under ``decoding`` (a :class:`~omnivec.tasks.seq2seq.
    Decoding`: beam, n-gram ban, length penalty, max length; None: its defaults)."""
    from omnivec.api.load import load
    from omnivec.families.unival.generate import generate_records
    from omnivec.runs import require_family

    require_family(run, "unival", "generate (text from an encoder-decoder; `omnivec predict` takes either family)")
    return generate_records(load(run, device), task, paths, text, decoding, batch_size)
