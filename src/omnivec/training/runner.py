"""The one run skeleton of every training command (train, pretrain, the fine-tuning rounds, UnIVAL's
pretrain and finetune).

:func:`run_job` owns what a run does around its objective, in this order: join the process group under
``torchrun``, check the run folder (a fresh run must not overwrite one, a resumed one needs its train state),
take the folder's lock (main rank; :mod:`omnivec.training.locking`), clean what a crash left behind and, on resume,
verify the newest checkpoint (:func:`omnivec.training.checkpoint.recover`), seed, let the caller build its :class:`Job`,
move the objective to the device, build the :class:`Engine` with every stream sharded by rank, load the checked
train state (resume) or write the step-0 checkpoint (main rank: the folder is loadable and resumable from the
first moment), fit, report what was skipped in each stream's last unfinished epoch, then on the main rank only:
plot the loss, evaluate, and write the results atomically. Non-main ranks return ``{}``; they write nothing.

A caller supplies only what differs: how to build the model, objective and datasets (:class:`Job`), its
schedule, how to save the folder, how to evaluate, the plot's title.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Dataset

from omnivec.config import TrainConfig
from omnivec.data.stream import BatchStream
from omnivec.errors import OmnivecError
from omnivec.nn.tokenizer import TextTokenizer
from omnivec.training import checkpoint as ckpt
from omnivec.training.checkpoint import check_run_folder
from omnivec.training.distributed import DistInfo, init_distributed, rank_device
from omnivec.training.engine import Engine, plot_losses, read_log
from omnivec.training.locking import RunLock
from omnivec.training.selection import BEST, best_info


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class StreamSpec:
    """One training stream before sharding: its dataset, how items become a batch, optional augmentation."""

    dataset: Dataset
    collate: Callable[[list[Any]], Any]
    augment: Callable[[Any, torch.Generator], Any] | None = None
    batch_size: int = 0
    """Samples per step of this stream; 0: the schedule's ``batch_size``."""


@dataclass
class Job:
    """What one kind of run supplies to :func:`run_job`; everything else is shared."""

    objective: nn.Module
    """The engine objective (``forward(batches) -> (loss, logs)``) holding the model as ``.model``."""
    streams: dict[str, StreamSpec]
    """Training data by stream name; stream ``i`` is seeded ``train.seed * 1000 + i`` and sharded by rank."""
    train: TrainConfig
    schedule: Callable[[int], list[str]]
    """step -> the stream names of that step."""
    save: Callable[[Path], None]
    """Writes the loadable run folder (weights and config) into the given folder; called on the main rank at
    the start of a fresh run and at every checkpoint."""
    evaluate: Callable[[Engine], dict[str, Any]]
    """The results after training (main rank only), written to ``results_file``."""
    title: str = "training loss"
    """Title of ``loss.png``."""
    results_file: str = "eval.json"
    fresh_files: Callable[[Path], None] | None = None
    """Files a fresh run folder gets once, after ``save`` (e.g. the fine-tuning schedule)."""
    validate: Callable[[], dict[str, float]] | None = None
    """The periodic validation (main rank, every ``train.eval_every`` steps): ``{"score": mean, task: value}``;
    the best-scoring step is kept as ``RUN/best`` (:mod:`omnivec.training.selection`). None: no selection."""


def make_streams(specs: dict[str, StreamSpec], train: TrainConfig, info: DistInfo) -> dict[str, BatchStream]:
    """Every stream seeded by its position and sharded by rank: each rank reads every ``world_size``-th sample
    of the same epoch order."""
    return {
        name: BatchStream(
            s.dataset,
            s.batch_size or train.batch_size,
            train.seed * 1000 + i,
            s.collate,
            train.num_workers,
            info.rank,
            info.world_size,
            name,
            s.augment,
        )
        for i, (name, s) in enumerate(specs.items())
    }


def same_tokenizer(tokenizer: TextTokenizer | None, info: DistInfo) -> TextTokenizer | None:
    """The main rank's tokenizer on every rank. Every rank trains its own from the same data, which the BPE
    trainer turns into the same vocabulary (checked across processes with different hash seeds and thread
    counts), so all ranks draw the same random numbers; the main rank's is then broadcast and adopted, so the
    ranks can never disagree on token ids whatever the trainer does."""
    if info.world_size == 1:
        return tokenizer
    box = [tokenizer.tk.to_str() if tokenizer is not None else None]
    dist.broadcast_object_list(box, src=0)
    if info.is_main or box[0] is None:
        return tokenizer if info.is_main else None
    from tokenizers import Tokenizer

    return TextTokenizer(Tokenizer.from_str(box[0]))


def elastic_restart(out: str | Path) -> bool:
    """Whether ``torchrun`` restarted this worker group after a failure (``--max-restarts``; it counts the
    restarts in ``TORCHELASTIC_RESTART_COUNT``) and ``out`` holds a checkpoint to continue from. The relaunched
    command is the fresh run's; every training function then resumes instead (docs/scale.md, "Elastic
    restarts"), so the run ends with the weights of an uninterrupted one."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT") or 0) > 0 and ckpt.has_state(Path(out))


def run_job(
    out: str | Path,
    build: Callable[[DistInfo], Job],
    *,
    resume: bool = False,
    seed: int | None = None,
    progress: bool = True,
    device: str | torch.device | None = "auto",
    stop_at: int = 0,
) -> dict[str, Any]:
    """Run the job ``build`` makes into the run folder ``out`` and return its results (``{}`` off the main rank).

    ``build(dist_info)`` runs after the folder check and the seeding, on every rank; it builds (or, on resume,
    loads from ``out``) the model and returns the :class:`Job`. ``seed`` seeds Python, NumPy and torch first
    (None: not seeded, e.g. on resume, where the train state restores the random state). ``device``: ``"auto"``
    (this rank's CUDA device when present, else the CPU) or a torch device string (see
    :func:`omnivec.training.engine.rank_device`). ``stop_at`` > 0: stop after that step, resumable
    (:meth:`omnivec.training.engine.Engine.fit`)."""
    out = Path(out)
    info = init_distributed(device)
    target = rank_device(device, info.local_rank)  # a device that is not there fails before any work
    check_run_folder(out, resume)  # read-only: a refused run leaves the folder as it was
    created = not out.exists()
    lock = RunLock(out) if info.is_main else None
    if lock is not None:
        lock.acquire()
    try:
        return _run_locked(out, build, info, target, resume, seed, progress, stop_at)
    finally:
        if lock is not None:
            if created and [p.name for p in out.iterdir()] == [lock.path.name]:
                lock.path.unlink()  # a run that failed before writing anything leaves no folder behind;
                out.rmdir()  # removed while still locked, so no other run can have taken this lock file
            lock.release()


def _run_locked(
    out: Path,
    build: Callable[[DistInfo], Job],
    info: DistInfo,
    target: torch.device,
    resume: bool,
    seed: int | None,
    progress: bool,
    stop_at: int = 0,
) -> dict[str, Any]:
    state_path = out / ckpt.TRAIN_STATE
    if info.is_main:
        check_run_folder(out, resume)  # again, under the lock: another run may have finished in between
    if info.is_main and resume:
        # under the lock no other writer can be mid-write: every temporary file is a crash's leftover
        state_path = ckpt.recover(out)
    elif info.is_main and out.is_dir():
        ckpt.clean_temporary(out)
    if info.world_size > 1:
        dist.barrier()  # the other ranks read the folder only once the main rank has recovered it
        box = [str(state_path)]
        dist.broadcast_object_list(box, src=0)
        state_path = Path(box[0])
    if seed is not None:
        seed_everything(seed)
    job = build(info)
    if job.train.eval_every > 0 and job.validate is None:
        raise OmnivecError(
            "train.eval_every: this command has no validation metric to select a checkpoint by (masked "
            "pretraining); leave --eval-every at 0"
        )
    out.mkdir(parents=True, exist_ok=True)
    job.objective.to(target).train()
    engine = Engine(
        job.objective,
        make_streams(job.streams, job.train, info),
        job.train,
        out,
        job.schedule,
        info,
        save_model=job.save,
        progress=progress,
        validate=job.validate if job.train.eval_every > 0 else None,
    )
    if resume:
        engine.resume_from(state_path)
    else:
        engine.save_checkpoint()  # the folder is loadable and resumable from the first moment
        if info.is_main and job.fresh_files is not None:
            job.fresh_files(out)
    engine.fit(stop_at)
    engine.report_unfinished_epochs()
    if not info.is_main:
        return {}
    plot_losses(read_log(engine.log_path), out / "loss.png", job.title)
    results = job.evaluate(engine)
    ckpt.atomic_write_text(out / job.results_file, json.dumps(results, indent=2))
    if engine.validate is not None and best_info(out) is not None:
        evaluate_best(out, engine, job)
    return results


def _load_saved(model: nn.Module, path: Path) -> None:
    """Weights the run saved into ``model``: a tensor the file stores once for tied names (the decoder's output
    projection and the token embedding) fills every name of it; any other key missing or extra is refused."""
    state = ckpt.load_weights(path)
    missing, unexpected = model.load_state_dict(state, strict=False)
    params = model.state_dict()
    stored = {params[k].data_ptr() for k in state if k in params}
    untied = [k for k in missing if params[k].data_ptr() not in stored]
    if untied or unexpected:
        raise OmnivecError(f"{path}: does not fit the model (missing {untied[:3]}, unexpected {unexpected[:3]})")


def evaluate_best(out: Path, engine: Engine, job: Job) -> dict[str, Any]:
    """Score the kept best checkpoint the way the run's last weights were scored, into ``best/<results_file>``;
    the model holds the last weights again afterwards."""
    last = {k: v.detach().clone() for k, v in engine.model.state_dict().items()}
    _load_saved(engine.model, out / BEST / ckpt.WEIGHTS)
    try:
        results = job.evaluate(engine)
    finally:
        engine.model.load_state_dict(last)
    ckpt.atomic_write_text(out / BEST / job.results_file, json.dumps(results, indent=2))
    return results


__all__ = [
    "Job",
    "StreamSpec",
    "elastic_restart",
    "evaluate_best",
    "make_streams",
    "run_job",
    "same_tokenizer",
    "seed_everything",
]
