"""Model selection during training: periodic validation, the best checkpoint kept, early stopping.

With ``train.eval_every = N`` a run scores its model on a *validation* split every N steps (and at its last step).
The validation split is carved from the training data (``train.val_fraction`` of each task's training split,
seeded, :func:`omnivec.data.base.holdout`), never taken from the test split: the test scores of the selected
model stay an unbiased estimate. The selection score is the mean over tasks of each task's primary metric
(accuracy, mIoU, recall@1, CIDEr-D: every one higher-is-better).

When a validation score beats every earlier one, the engine writes a checkpoint at that step (its train state
holds the new best) and then links the checkpoint's loadable files into ``RUN/best/`` with ``best.json`` (step,
score, each task's validation score): ``RUN/best`` is a run folder every command reads (``omnivec evaluate
RUN/best``, ``predict``, ``serve``, ``export``). The top-level files stay the last step's, so ``--resume``
continues the run. A crash between the checkpoint and ``best/`` leaves a train state whose best step is its own
step and a ``best/`` of an earlier step; :func:`repair_best` (on resume) rebuilds ``best/`` from that checkpoint.

``train.patience = P`` stops the run after P validations in a row without a new best (the counter is in the
train state, so a resumed run stops where an uninterrupted one would). Each validation is one line of
``validation.jsonl`` (and ``val/...`` scalars in TensorBoard).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from omnivec.errors import OmnivecError
from omnivec.training import checkpoint as ckpt

BEST = "best"
BEST_INFO = "best.json"
VALIDATION = "validation.jsonl"
SCORE = "score"
"""The key of the selection score in a validation record."""
_NOT_LOADABLE = (ckpt.TRAIN_STATE, ckpt.MANIFEST)
"""Checkpoint files a best folder leaves out: it is for loading, not resuming."""


@dataclass
class Selection:
    """What the engine remembers between validations (saved in the train state under ``selection``)."""

    best_score: float | None = None
    best_step: int = 0
    bad_evals: int = 0
    """Validations since the last new best."""

    def observe(self, step: int, score: float) -> bool:
        """Count one validation; True when ``score`` is a new best (strictly above the previous one)."""
        if self.best_score is None or score > self.best_score:
            self.best_score, self.best_step, self.bad_evals = score, step, 0
            return True
        self.bad_evals += 1
        return False

    def exhausted(self, patience: int) -> bool:
        """Whether early stopping ends the run: ``patience`` validations in a row brought no new best."""
        return patience > 0 and self.bad_evals >= patience

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state(cls, state: Any, path: Path) -> Selection:
        """The selection saved in a train state; an older state without one starts afresh."""
        if state is None:
            return cls()
        ok = isinstance(state, dict) and set(state) == {"best_score", "best_step", "bad_evals"}
        ok = ok and (state["best_score"] is None or isinstance(state["best_score"], (int, float)))
        ok = ok and all(isinstance(state[k], int) and state[k] >= 0 for k in ("best_step", "bad_evals"))
        if not ok:
            raise OmnivecError(f"{path}: selection: expected {{best_score, best_step, bad_evals}}, got {state!r:.80}")
        return cls(**state)


def selection_score(scores: dict[str, float]) -> dict[str, float]:
    """Each task's validation value and their mean under :data:`SCORE`."""
    if not scores:
        raise OmnivecError("validation needs at least one task with a validation split")
    return {SCORE: sum(scores.values()) / len(scores), **scores}


def write_best(run_dir: Path, step: int, scores: dict[str, float]) -> Path:
    """``run_dir/best``: the loadable files of the checkpoint of ``step`` (hard links, else copies) and
    ``best.json``, swapped in atomically. The checkpoint must exist (the engine writes it first)."""
    found = dict(ckpt.checkpoint_dirs(run_dir))
    if step not in found:
        raise OmnivecError(f"{run_dir}: no checkpoint of step {step} to keep as the best")
    source = found[step]

    def fill(folder: Path) -> None:
        for f in sorted(source.iterdir()):
            if f.is_file() and f.name not in _NOT_LOADABLE:
                try:
                    os.link(f, folder / f.name)
                except OSError:
                    shutil.copyfile(f, folder / f.name)
        info = {"step": step, "selected_by": "mean of the tasks' primary metrics on the validation split", **scores}
        ckpt.atomic_write_text(folder / BEST_INFO, json.dumps(info, indent=2) + "\n")

    out = run_dir / BEST
    ckpt.atomic_folder(out, fill, replace=True)
    return out


def best_info(run_dir: Path) -> dict[str, Any] | None:
    """``best/best.json`` of a run, or None when the run kept no best checkpoint."""
    path = Path(run_dir) / BEST / BEST_INFO
    if not path.is_file():
        return None
    try:
        info = json.loads(path.read_text())
    except ValueError as e:
        raise OmnivecError(f"{path}: unreadable ({e})") from None
    return info if isinstance(info, dict) else None


def repair_best(run_dir: Path, selection: Selection, step: int) -> None:
    """On resume from the checkpoint of ``step``: when the train state says that step is the best but
    ``best/`` holds another (a crash came between the checkpoint and the best folder), rebuild ``best/``."""
    if selection.best_score is None or selection.best_step != step:
        return
    info = best_info(run_dir)
    if info is None or info.get("step") != step:
        records = [r for r in validation_log(run_dir) if r.get("step") == step]
        scores = {k: float(v) for k, v in (records[-1] if records else {SCORE: selection.best_score}).items()}
        for key in ("step", "best_step", "seconds"):
            scores.pop(key, None)
        write_best(run_dir, step, scores)


def validation_log(run_dir: Path) -> list[dict[str, Any]]:
    from omnivec.training.logs import read_log

    return read_log(Path(run_dir) / VALIDATION)


__all__ = [
    "BEST",
    "BEST_INFO",
    "SCORE",
    "VALIDATION",
    "Selection",
    "best_info",
    "repair_best",
    "selection_score",
    "validation_log",
    "write_best",
]
