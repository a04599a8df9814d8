"""Every task of both families in one listing (what ``omnivec tasks`` prints): the OmniVec catalogue's tasks
(heads over the shared trunk) and the seq2seq tasks UnIVAL answers in text."""

from __future__ import annotations

from omnivec.families.base import TaskRow

FAMILY_ORDER = ("omnivec", "unival")
"""Run-folder families, in listing order: OmniVec (encoders -> trunk -> heads), UnIVAL (encoder-decoder)."""


def list_tasks(family: str | None = None) -> list[TaskRow]:
    """The registered tasks of ``family`` (default: every family), OmniVec's first, each family's by name."""
    from omnivec.families.registry import family as entry

    return [row for name in ([family] if family is not None else FAMILY_ORDER) for row in entry(name).task_rows()]


__all__ = ["FAMILY_ORDER", "TaskRow", "list_tasks"]
