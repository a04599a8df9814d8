"""The seq2seq task type and its registry: what a task is (:class:`Seq2SeqTask`: its kind, modality, data
builder and prompt) and :data:`SEQ2SEQ_TASKS`, where :mod:`omnivec.families.unival.derived_tasks` and
:mod:`omnivec.families.unival.tsv_tasks` register theirs. Look tasks up through
:mod:`omnivec.families.unival.tasks`, which imports every registering module first."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch.utils.data import Dataset

from omnivec.families.unival.config import UnivalRunConfig
from omnivec.registry import Registry
from omnivec.tasks.seq2seq import SEQ2SEQ_KINDS

Example = tuple[Any, str, Any]  # (raw input, answer text, reference for the metric)


class Seq2SeqDataset(Dataset):
    """Wraps a ``(sample, target)`` split as ``(raw input, answer text, reference)`` examples, lazily."""

    def __init__(self, base: Any, convert: Callable[[int, Any, Any], Example]) -> None:
        self.base = base
        self.convert = convert

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> Example:
        s, t = self.base[i]
        return self.convert(i, s, t)


@dataclass
class Seq2SeqTask:
    name: str
    kind: str
    """A registered seq2seq kind (:data:`omnivec.tasks.seq2seq.SEQ2SEQ_KINDS`): captioning, vqa, grounding,
    matching, classification, summarization."""
    modality: str
    """image, video, audio or text (text: the input is part of the prompt)."""
    description: str
    build: Callable[[UnivalRunConfig], tuple[Dataset, Dataset]]
    prompt: Callable[[Any], tuple[str, Any]]
    """raw input -> (prompt text, modality sample or None)."""
    max_len: int = 20
    """Default answer length at generation."""
    source: str = "derived"
    """Where the data come from: derived (from a real dataset), real or tsv (UnIVAL's files)."""
    loss_weight: float = 1.0
    """The task's weight in a training step's summed loss (UnIVAL's: every task alike)."""

    def __post_init__(self) -> None:
        if self.kind not in SEQ2SEQ_KINDS:
            raise ValueError(
                f"seq2seq task {self.name!r}: unknown kind {self.kind!r}; expected one of {', '.join(SEQ2SEQ_KINDS)}"
            )

    def prompt_and_sample(self, raw: Any) -> tuple[str, Any]:
        return self.prompt(raw)


SEQ2SEQ_TASKS: Registry[Seq2SeqTask] = Registry("seq2seq task")
"""Every UnIVAL task by name (one name, so it is never read as the OmniVec catalogue's ``TASKS``)."""


def register(task: Seq2SeqTask) -> Seq2SeqTask:
    """Register ``task`` under its name (twice is an error)."""
    return SEQ2SEQ_TASKS.register(task.name)(task)
