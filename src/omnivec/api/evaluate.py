"""Score a run folder of either family on its tasks' test splits (``omnivec evaluate``, ``merge --eval``).

An OmniVec run is scored by each task kind's metric (accuracy, mIoU, recall@k) on the catalogue task's test
split, or on a user folder/manifest (``data``); a UnIVAL run generates for its seq2seq tasks' test splits and
scores the text (CIDEr-D, VQA accuracy, IoU@0.5, ...). Both return ``{task: {"metric", "value", ...}}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omnivec.training import checkpoint as ckpt


def evaluate_run(
    run: str | Path,
    tasks: Sequence[str] | None = None,
    device: str | None = "auto",
    data: str | None = None,
    data_root: str | None = None,
    strict: bool = False,
    decoding: Any = None,
    limit: int = 0,
    weights: str = ckpt.WEIGHTS,
) -> dict[str, dict[str, Any]]:
    """Results per task (default: every task the run was trained on). ``data``: an OmniVec classification task
    scored on your own folder/manifest; ``decoding`` (a :class:`~omnivec.tasks.seq2seq.Decoding`: beam, n-gram
    ban, length penalty, max length; None: its defaults) and ``limit`` (samples per task): UnIVAL generation."""
    from omnivec.api.load import load
    from omnivec.families.registry import family

    model = load(run, device, weights)
    cfg: Any = model.run_config
    if data_root:
        cfg.data_root = data_root
    cfg.strict = strict
    return family(model.family).evaluate(model, run, tasks, data, decoding, limit)
