"""Task kinds of both families: the OmniVec heads' (classification, segmentation, retrieval; ``TASK_KINDS``) and
the seq2seq kinds UnIVAL answers in text (captioning, vqa, grounding, matching, classification, summarization;
``SEQ2SEQ_KINDS``): how a batch of one kind becomes a loss, a metric and predictions. A *kind* is not a *task*:
the named tasks a run trains on (``mnist``, ``shapes``, ...) are the task catalogue's
(:mod:`omnivec.data.task_catalog`; UnIVAL's in :mod:`omnivec.families.unival.tasks`), and each names its kind. Importing
this package registers every built-in kind."""

from omnivec.tasks import classification, retrieval, segmentation  # noqa: F401  (registration side effects)
from omnivec.tasks.base import TASK_KINDS, TaskKind, task_kind
from omnivec.tasks.seq2seq import SEQ2SEQ_KINDS, Decoding, Seq2SeqKind, seq2seq_kind

__all__ = [
    "SEQ2SEQ_KINDS",
    "TASK_KINDS",
    "Decoding",
    "Seq2SeqKind",
    "TaskKind",
    "seq2seq_kind",
    "task_kind",
]
