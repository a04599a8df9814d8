"""``omnivec predict``: a task's predictions for input files, one JSON record per file, for a run of either
family -- class names (classification), class maps (segmentation), unit vectors (retrieval) from an OmniVec
run; generated text (and boxes, for grounding) from a UnIVAL run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from omnivec.errors import OmnivecError


def _jsonable(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.tolist()
    return x


def predict_files(
    run: str | Path,
    task: str,
    paths: Sequence[str | Path],
    device: str | None = "auto",
    text: str | None = None,
    batch_size: int = 32,
) -> list[dict[str, Any]]:
    from omnivec.runs import read_family

    if read_family(run) == "unival":
        from omnivec.families.unival.generate import generate_files

        return generate_files(run, task, paths, text, batch_size=batch_size, device=device)
    if text:
        raise OmnivecError(f"--text is a UnIVAL prompt (vqa, grounding, matching); {run} is an OmniVec run")
    from omnivec.api.load import load

    model = load(run, device)
    cfg = model.task(task)  # type: ignore[operator]
    files = [Path(p) for p in paths]
    records: list[dict[str, Any]] = []
    for s in range(0, len(files), batch_size):
        chunk = files[s : s + batch_size]
        preds = model.predict(task, chunk)
        records += [
            {"input": str(p), "task": task, "kind": cfg.kind, "prediction": _jsonable(y)} for p, y in zip(chunk, preds)
        ]
    return records
