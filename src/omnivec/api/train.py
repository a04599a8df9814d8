"""Supervised (multi-task) training: catalogue tasks -> one model -> the run skeleton -> a run folder.

Plain typed functions; the CLI only parses arguments and calls these. :func:`train` supplies its
:class:`~omnivec.training.runner.Job` to :func:`~omnivec.training.runner.run_job`, which owns the rest of the
run; pretraining and the grouped fine-tuning schedule reuse ``prepare_tasks``, ``task_streams``, ``supervised_job`` and
``evaluate_tasks``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from omnivec.config import RunConfig, TaskConfig
from omnivec.data.base import TaskSplits, drop_skipped, holdout, label_subset
from omnivec.data.task_catalog import get_task
from omnivec.errors import OmnivecError
from omnivec.nn.encoders.text import TextEncoderConfig
from omnivec.nn.model import OmniModel
from omnivec.nn.tokenizer import TextTokenizer
from omnivec.runs import check_classes, data_of, load_run, save_run
from omnivec.tasks import task_kind
from omnivec.training.distributed import DistInfo
from omnivec.training.objective import SupervisedObjective
from omnivec.training.runner import Job, StreamSpec, elastic_restart, run_job, same_tokenizer
from omnivec.training.runner import seed_everything as seed_everything  # re-exported: callers import it from here
from omnivec.training.warm_start import adopt, copy_matching, new_model
from omnivec.types import Modality, to_device


@dataclass
class PreparedTask:
    cfg: TaskConfig
    splits: TaskSplits
    val: Dataset | None = None
    """The validation split carved from the training split when ``train.eval_every`` > 0."""


def prepare_tasks(run_cfg: RunConfig, names: list[str]) -> dict[str, PreparedTask]:
    """Build every task's splits and its :class:`TaskConfig` (classes from the data)."""
    if not names:
        raise OmnivecError("no tasks given; pass --tasks NAME[,NAME...] (see `omnivec tasks`)")
    out: dict[str, PreparedTask] = {}
    for name in names:
        entry = get_task(name, run_cfg)
        if entry.modality not in run_cfg.model.encoders:
            raise OmnivecError(f"task {name!r} needs a {entry.modality} encoder, which this config lacks")
        splits = entry.build(run_cfg)
        splits.train = label_subset(splits.train, run_cfg.train.label_fraction, run_cfg.train.seed, name)
        val = None
        if run_cfg.train.eval_every > 0:  # model selection on data held out of training, never on the test split
            splits.train, val = holdout(splits.train, run_cfg.train.val_fraction, run_cfg.train.seed, name)
        cfg = TaskConfig(
            name=name,
            kind=entry.kind,
            modality=entry.modality,
            dataset=name,
            num_classes=len(splits.class_names) if not task_kind(entry.kind).paired else 0,
            class_names=list(splits.class_names),
            group=entry.group,
            loss_weight=task_kind(entry.kind).default_loss_weight,
            pair_modality=entry.pair_modality,
            input_shape=sample_shape(splits.train, entry.modality),
        )
        out[name] = PreparedTask(cfg, splits, val)
    return out


def sample_shape(dataset: Dataset, modality: str) -> list[int]:
    """The shape of the first readable training sample of a fixed-size modality (image, video); [] otherwise."""
    from omnivec.data.base import Skipped

    if modality not in (Modality.IMAGE, Modality.VIDEO) or len(dataset) == 0:  # type: ignore[arg-type]
        return []
    sample = dataset[0][0]
    return [] if isinstance(sample, Skipped) else list(torch.as_tensor(sample).shape)


def check_resumed_classes(run_dir: Path, model: OmniModel, cfg: RunConfig, tasks: dict[str, PreparedTask]) -> None:
    """A resumed run's data must still have the classes its heads were trained on (:func:`check_classes`)."""
    for name, p in tasks.items():
        if name in model.tasks:
            check_classes(run_dir, model.task(name), p.cfg.class_names, data_of(cfg, name))


def texts_of(dataset: Dataset, limit: int = 20000) -> list[str]:
    n = min(len(dataset), limit)  # type: ignore[arg-type]
    texts: list[str] = []
    for i in range(n):
        s, t = dataset[i]
        texts.extend(x for x in (s, t[0] if isinstance(t, tuple) else t) if isinstance(x, str))
    return texts


def train_tokenizer(run_cfg: RunConfig, tasks: dict[str, PreparedTask]) -> TextTokenizer | None:
    # Only tasks that carry text are read: decoding an image or audio split just to find no text costs minutes.
    text_tasks = [p for p in tasks.values() if Modality.TEXT in (p.cfg.modality, p.cfg.pair_modality)]
    corpus = [t for p in text_tasks for t in texts_of(p.splits.train)]
    if not corpus or Modality.TEXT not in run_cfg.model.encoders:
        return None
    spec = run_cfg.model.encoders[Modality.TEXT]
    if not isinstance(spec, TextEncoderConfig):
        raise OmnivecError(f"encoders.text: a tokenizer is trained for the text_embedding encoder, not {spec.name}")
    return TextTokenizer.train(corpus, spec.vocab_size, lowercase=spec.lowercase)


def make_collate(model: OmniModel, task: TaskConfig) -> Callable[[list[tuple[Any, Any]]], Any]:
    kind = task_kind(task.kind)
    return lambda items: kind.collate(model, task, items)


def make_augment(model: OmniModel, task: TaskConfig) -> Callable[[Any, torch.Generator], Any] | None:
    if not model.cfg.augment:
        return None
    kind = task_kind(task.kind)
    return lambda batch, g: kind.augment(model, task, batch, g)


def task_streams(model: OmniModel, tasks: dict[str, PreparedTask]) -> dict[str, StreamSpec]:
    """Each task's training split, collated (and augmented) by its task kind."""
    return {
        name: StreamSpec(p.splits.train, make_collate(model, p.cfg), make_augment(model, p.cfg))
        for name, p in tasks.items()
    }


def make_schedule(names: list[str], mode: str) -> Callable[[int], list[str]]:
    if mode == "mixed":
        return lambda step: list(names)
    if mode == "round_robin":
        return lambda step: [names[step % len(names)]]
    raise OmnivecError(f"unknown task_schedule {mode!r}; expected mixed or round_robin")


@torch.no_grad()
def evaluate_tasks(model: OmniModel, datasets: dict[str, Dataset], batch_size: int = 128) -> dict[str, dict[str, Any]]:
    """Score each task on its dataset in order: the kind's metrics, its primary metric and chance level."""
    model.eval()
    device = next(model.parameters()).device
    results: dict[str, dict[str, Any]] = {}
    for name, ds in datasets.items():
        task = model.task(name)
        kind = task_kind(task.kind)
        metric = kind.metric(task)
        targets: list[Any] = []
        skipped = 0
        n = len(ds)  # type: ignore[arg-type]
        for start in range(0, n, batch_size):
            items, bad = drop_skipped([ds[i] for i in range(start, min(start + batch_size, n))])
            skipped += len(bad)
            if not items:
                continue
            targets.extend(t for _, t in items)
            inp, tgt = kind.collate(model, task, items)
            batch = (to_device(inp, device), to_device(tgt, device))
            metric.update(kind.forward(model, task, batch), batch[1])
        values = metric.compute()
        results[name] = {
            "task": name,
            "modality": task.modality,
            "kind": task.kind,
            "metric": kind.primary_metric,
            "value": values.get(kind.primary_metric, 0.0),
            "chance": kind.chance(task, targets),
            "skipped": skipped,
            **values,
        }
    return results


def supervised_job(
    model: OmniModel,
    run_cfg: RunConfig,
    tasks: dict[str, PreparedTask],
    schedule: Callable[[int], list[str]],
    title: str = "training loss",
) -> Job:
    """The job of a supervised run (``train``, the fine-tuning rounds): the tasks' losses on ``schedule``, the
    run folder of ``model`` and ``run_cfg``, and each task's score on its test split."""
    return Job(
        SupervisedObjective(model),
        task_streams(model, tasks),
        run_cfg.train,
        schedule,
        save=lambda d: save_run(model, run_cfg, d),
        evaluate=lambda _: evaluate_tasks(model, {n: p.splits.test for n, p in tasks.items()}),
        title=title,
        validate=validation(model, tasks),
    )


def validation(model: OmniModel, tasks: dict[str, PreparedTask]) -> Callable[[], dict[str, float]] | None:
    """The periodic validation of a supervised run (training/selection.py): each task's primary metric on its
    validation split and their mean; None when the tasks have no validation split (``train.eval_every`` 0)."""
    from omnivec.training.selection import selection_score

    held = {n: p.val for n, p in tasks.items() if p.val is not None}
    if not held:
        return None
    return lambda: selection_score({n: float(r["value"]) for n, r in evaluate_tasks(model, held).items()})


def train(
    run_cfg: RunConfig,
    out: str | Path,
    resume: bool = False,
    progress: bool = True,
    tasks: dict[str, PreparedTask] | None = None,
    device: str = "auto",
    init: str | Path | None = None,
) -> dict[str, Any]:
    """Train ``run_cfg.tasks`` into the run folder ``out``; evaluate on the test splits; return the results.
    ``tasks``: the tasks already prepared from ``run_cfg`` (``prepare_tasks``), so a caller that also trains
    baselines on them builds the data once. ``device``: see :func:`omnivec.training.runner.run_job`. ``init``: a run
    folder or Hugging Face folder whose encoders, trunk, tokenizer and weights the run starts from
    (:mod:`omnivec.training.warm_start`; ``run_cfg.model`` is replaced by its architecture)."""
    out = Path(out)
    resume = resume or elastic_restart(out)  # torchrun --max-restarts relaunched the fresh command
    source = None if resume else adopt(init, run_cfg)

    def build(info: DistInfo) -> Job:
        if resume:
            model, cfg = load_run(out)
            cfg.train.max_steps = max(cfg.train.max_steps, run_cfg.train.max_steps)
            prepared = prepare_tasks(cfg, cfg.tasks)
            check_resumed_classes(out, model, cfg, prepared)
        else:
            cfg = run_cfg
            prepared = tasks if tasks is not None else prepare_tasks(cfg, cfg.tasks)
            cfg.model.tasks = []
            model = new_model(cfg.model, source, lambda: same_tokenizer(train_tokenizer(cfg, prepared), info))
            for p in prepared.values():
                model.add_task(p.cfg)
            if source is not None:
                print(copy_matching(model, source, str(init)).summary())
        return supervised_job(model, cfg, prepared, make_schedule(list(prepared), cfg.train.task_schedule))

    seed = None if resume else run_cfg.train.seed
    return run_job(out, build, resume=resume, seed=seed, progress=progress, device=device)
