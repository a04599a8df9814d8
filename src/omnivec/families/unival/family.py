"""The UnIVAL family's registration: the encoder-decoder answering every task in text
(:class:`~omnivec.families.unival.model.UnivalModel`, ``UnivalRunConfig``), trained by the seq2seq task kinds
of :mod:`omnivec.tasks.seq2seq` (whose answers may hold the location tokens of :mod:`omnivec.tasks.locations`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omnivec.config import ModelConfig
from omnivec.errors import OmnivecError
from omnivec.families.base import Family, TaskRow
from omnivec.families.unival.config import UnivalRunConfig, unival_preset
from omnivec.families.unival.model import TIED, UnivalModel, load_unival, save_unival
from omnivec.nn.model import OmniModel


class UnivalFamily(Family):
    name = "unival"
    config_class = UnivalRunConfig
    generates = True
    tied = TIED
    # tiny, not cpu: every UnIVAL result and command in docs/unival.md is at tiny, and a cpu default would change
    # what `omnivec unival pretrain` without --preset trains
    default_preset = "tiny"
    data_root_from_env = False  # the readers resolve $OMNIVEC_DATA when they run
    short_run_schedule = True  # UnIVAL's runs of a few hundred steps
    limits_cap_sizes = True  # every task is derived from its dataset at num_train / num_test

    def preset(self, name: str) -> UnivalRunConfig:
        return unival_preset(name)

    def load(self, run_dir: str | Path, weights: str) -> tuple[UnivalModel, UnivalRunConfig]:
        return load_unival(run_dir, weights)

    def save(self, model: UnivalModel, cfg: UnivalRunConfig, run_dir: str | Path) -> None:
        save_unival(model, cfg, run_dir)

    def evaluate(
        self,
        model: UnivalModel,
        run: str | Path,
        tasks: Sequence[str] | None,
        data: str | None,
        decoding: Any,
        limit: int,
    ) -> dict[str, dict[str, Any]]:
        """Generate for the seq2seq tasks' test splits (``limit`` samples each, under ``decoding``) and score the
        text (CIDEr-D, VQA accuracy, IoU@0.5, ...)."""
        from omnivec.families.unival.scoring import evaluate_splits
        from omnivec.families.unival.train import build_data

        if data:
            raise OmnivecError(
                f"--data scores a classification head on your files; {run} is a UnIVAL run: give its training "
                "TSV schemas' test files instead (omnivec unival finetune --tsv SCHEMA=TRAIN,TEST)"
            )
        cfg: Any = model.run_config
        return evaluate_splits(model, build_data(cfg, list(tasks or cfg.tasks)), decoding, limit)

    def predict_files(
        self, model: UnivalModel, task: str, paths: Sequence[str | Path], text: str | None, batch_size: int
    ) -> list[dict[str, Any]]:
        """Generated text (and boxes, for grounding)."""
        from omnivec.families.unival.generate import generate_records

        return generate_records(model, task, paths, text, batch_size=batch_size)

    def backbone(self, model: UnivalModel) -> OmniModel:
        return model.backbone

    def backbone_config(self, cfg: UnivalRunConfig) -> ModelConfig:
        return cfg.model.backbone

    def describe(self, cfg: UnivalRunConfig) -> dict[str, Any]:
        m = cfg.model
        return {
            "decoder": {"depth": m.decoder_depth, "max_length": m.decoder_max_length, "num_bins": m.num_bins},
            "tasks": {t: {"kind": _seq2seq_kind(t)} for t in cfg.tasks},
        }

    def serve_tasks(self, model: UnivalModel) -> list[dict[str, Any]]:
        """The seq2seq tasks the run can be asked: those it was trained on; a run that names none answers the
        built-in prompts."""
        from omnivec.families.unival.generate import TASK_ALIASES
        from omnivec.families.unival.task_registry import SEQ2SEQ_TASKS
        from omnivec.tasks.seq2seq import seq2seq_kind

        modalities = list(model.encoders.keys())
        run_cfg: Any = model.run_config
        names = [t for t in run_cfg.tasks if t in SEQ2SEQ_TASKS]
        names = names or [f"caption_{m}" for m in modalities if m != "text"] + list(TASK_ALIASES.values())[1:]
        out = []
        for name in dict.fromkeys(n for n in names if n in SEQ2SEQ_TASKS):
            spec = SEQ2SEQ_TASKS.get(name)
            if spec.modality is not None and spec.modality not in modalities:
                continue
            asks = seq2seq_kind(spec.kind).input_text
            out.append({"name": name, "kind": spec.kind, "modality": spec.modality or "text", "asks": asks or None})
        return out

    def task_rows(self) -> list[TaskRow]:
        """The seq2seq tasks, by name (the built-in and TSV ones registered: ``tasks`` imports them)."""
        from omnivec.families.unival import tasks  # noqa: F401  (registration side effects)
        from omnivec.families.unival.task_registry import SEQ2SEQ_TASKS

        rows = []
        for name in SEQ2SEQ_TASKS.names():
            t = SEQ2SEQ_TASKS.get(name)
            rows.append(TaskRow(name, "unival", t.kind, t.modality, t.description, t.source))
        return rows


def _seq2seq_kind(task: str) -> str:
    from omnivec.families.unival.tasks import get_seq2seq_task

    try:
        return get_seq2seq_task(task).kind
    except OmnivecError:  # a task registered by code not imported here: say so instead of failing the whole info
        return "unknown"
