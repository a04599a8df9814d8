"""The OmniVec family's registration: encoders -> shared trunk -> vectorizer -> task heads
(:class:`omnivec.nn.model.OmniModel`, ``RunConfig``), trained by the task kinds of :mod:`omnivec.tasks`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from omnivec.config import ModelConfig, RunConfig, preset
from omnivec.errors import OmnivecError
from omnivec.families.base import Family, TaskRow
from omnivec.nn.model import OmniModel
from omnivec.runs import load_run, save_run


class OmnivecFamily(Family):
    name = "omnivec"
    config_class = RunConfig

    def preset(self, name: str) -> RunConfig:
        return preset(name)

    def load(self, run_dir: str | Path, weights: str) -> tuple[OmniModel, RunConfig]:
        return load_run(run_dir, weights)

    def save(self, model: OmniModel, cfg: RunConfig, run_dir: str | Path) -> None:
        save_run(model, cfg, run_dir)

    def evaluate(
        self,
        model: OmniModel,
        run: str | Path,
        tasks: Sequence[str] | None,
        data: str | None,
        decoding: Any,
        limit: int,
    ) -> dict[str, dict[str, Any]]:
        """Each task kind's metric (accuracy, mIoU, recall@k) on the catalogue task's test split, or on a user
        folder/manifest (``data``); ``decoding`` and ``limit`` are generation's and unused here."""
        from omnivec.api.train import evaluate_tasks
        from omnivec.data.task_catalog import get_task
        from omnivec.runs import check_classes, data_of

        cfg: Any = model.run_config
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

    def check_predict(self, run: str | Path, text: str | None) -> None:
        if text:
            raise OmnivecError(f"--text is a UnIVAL prompt (vqa, grounding, matching); {run} is an OmniVec run")

    def predict_files(
        self, model: OmniModel, task: str, paths: Sequence[str | Path], text: str | None, batch_size: int
    ) -> list[dict[str, Any]]:
        """Class names (classification), class maps (segmentation), unit vectors (retrieval)."""
        cfg = model.task(task)
        files = [Path(p) for p in paths]
        records: list[dict[str, Any]] = []
        for s in range(0, len(files), batch_size):
            chunk = files[s : s + batch_size]
            preds = model.predict(task, chunk)
            records += [
                {"input": str(p), "task": task, "kind": cfg.kind, "prediction": _jsonable(y)}
                for p, y in zip(chunk, preds)
            ]
        return records

    def backbone(self, model: OmniModel) -> OmniModel:
        return model

    def backbone_config(self, cfg: RunConfig) -> ModelConfig:
        return cfg.model

    def describe(self, cfg: RunConfig) -> dict[str, Any]:
        tasks = {t.name: {"kind": t.kind, "modality": t.modality, "classes": t.num_classes} for t in cfg.model.tasks}
        return {"tasks": tasks}

    def serve_tasks(self, model: OmniModel) -> list[dict[str, Any]]:
        """Its heads."""
        return [
            {
                "name": t.name,
                "kind": t.kind,
                "modality": t.modality,
                "pair_modality": t.pair_modality or None,
                "classes": list(t.class_names),
            }
            for t in model.tasks.values()
        ]

    def task_rows(self) -> list[TaskRow]:
        """The catalogue's tasks, by name."""
        from omnivec.data.task_catalog import get_task, task_names

        rows = []
        for name in task_names():
            e = get_task(name)
            rows.append(TaskRow(name, "omnivec", e.kind, e.modality, e.description, e.source, e.group))
        return rows


def _jsonable(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.tolist()
    return x
