"""Score a run folder of either family on its tasks' test splits (``omnivec evaluate``, ``merge --eval``).

An OmniVec run is scored by each task kind's metric (accuracy, mIoU, recall@k) on the catalogue task's test
split, or on a user folder/manifest (``data``); a UnIVAL run generates for its seq2seq tasks' test splits and
scores the text (CIDEr-D, VQA accuracy, IoU@0.5, ...). Both return ``{task: {"metric", "value", ...}}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omnivec.errors import OmnivecError
from omnivec.training import checkpoint as ckpt


def evaluate_run(
    run: str | Path,
    tasks: Sequence[str] | None = None,
    device: str | None = "auto",
    data: str | None = None,
    data_root: str | None = None,
    strict: bool = False,
    beam: int = 1,
    limit: int = 0,
    weights: str = ckpt.WEIGHTS,
) -> dict[str, dict[str, Any]]:
    """Results per task (default: every task the run was trained on). ``data``: an OmniVec classification task
    scored on your own folder/manifest; ``beam`` and ``limit`` (samples per task): UnIVAL generation."""
    from omnivec.api.load import load
    from omnivec.families.unival.model import UnivalModel

    model = load(run, device, weights)
    cfg: Any = model.run_config
    if data_root:
        cfg.data_root = data_root
    cfg.strict = strict
    if isinstance(model, UnivalModel):
        if data:
            raise OmnivecError(
                f"--data scores a classification head on your files; {run} is a UnIVAL run: give its training "
                "TSV schemas' test files instead (omnivec unival finetune --tsv SCHEMA=TRAIN,TEST)"
            )
        from omnivec.families.unival.scoring import evaluate
        from omnivec.families.unival.train import build_data

        names = list(tasks or cfg.tasks)
        splits = build_data(cfg, names)
        return {n: evaluate(model, n, te, beam=beam, limit=limit) for n, (_, te) in splits.items()}

    from omnivec.api.train import evaluate_tasks
    from omnivec.data.task_catalog import get_task
    from omnivec.runs import check_classes, data_of

    names = list(tasks or model.tasks)
    if data:
        from omnivec.api.user_data import user_eval_set

        datasets = user_eval_set(model, cfg, names, data)
    else:
        datasets = {}
        for n in names:
            built = get_task(n, cfg).build(cfg)
            check_classes(run, model.task(n), built.class_names, data_of(cfg, n))
            datasets[n] = built.test
    return evaluate_tasks(model, datasets)
