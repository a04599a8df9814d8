"""Every task of both families in one listing (what ``omnivec tasks`` prints): the OmniVec catalogue's tasks
(heads over the shared trunk) and the seq2seq tasks UnIVAL answers in text."""

from __future__ import annotations

from dataclasses import dataclass

FAMILIES = ("omnivec", "unival")
"""Run-folder families, in listing order: OmniVec (encoders -> trunk -> heads), UnIVAL (encoder-decoder)."""


@dataclass(frozen=True)
class TaskRow:
    name: str
    family: str
    """omnivec or unival: the family of model that trains on the task."""
    kind: str
    """The task kind: an OmniVec one (:data:`omnivec.tasks.TASK_KINDS`) or a seq2seq one
    (:data:`omnivec.tasks.SEQ2SEQ_KINDS`)."""
    modality: str
    description: str
    source: str
    """Where the data come from: generated, real, derived (from a real dataset) or tsv (UnIVAL's files)."""
    group: str = ""
    """OmniVec: the catalogue's group (simple, dense, ...); empty for seq2seq tasks."""


def list_tasks(family: str | None = None) -> list[TaskRow]:
    """The registered tasks of ``family`` (default: both), OmniVec's first, each family's by name."""
    if family is not None and family not in FAMILIES:
        from omnivec.errors import OmnivecError

        raise OmnivecError(f"unknown model family {family!r}; expected one of {', '.join(FAMILIES)}")
    rows: list[TaskRow] = []
    if family in (None, "omnivec"):
        from omnivec.data.task_catalog import get_task, task_names

        for name in task_names():
            e = get_task(name)
            rows.append(TaskRow(name, "omnivec", e.kind, e.modality, e.description, e.source, e.group))
    if family in (None, "unival"):
        from omnivec.families.unival.task_registry import SEQ2SEQ_TASKS

        for name in SEQ2SEQ_TASKS.names():
            t = SEQ2SEQ_TASKS.get(name)
            rows.append(TaskRow(name, "unival", t.kind, t.modality, t.description, t.source))
    return rows


__all__ = ["FAMILIES", "TaskRow", "list_tasks"]
