"""Task kinds. Importing this package registers every built-in kind."""

from omnivec.tasks import classification, retrieval, segmentation  # noqa: F401  (registration side effects)
from omnivec.tasks.base import TASK_KINDS, TaskKind, drop_skipped, task_kind

__all__ = ["TASK_KINDS", "TaskKind", "drop_skipped", "task_kind"]
