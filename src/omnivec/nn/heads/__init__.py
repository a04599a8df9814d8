"""Task heads. Importing this package registers every built-in head kind."""

from omnivec.nn.heads import classify, retrieve, segment  # noqa: F401  (registration side effects)
from omnivec.nn.heads.base import HEADS, Features

__all__ = ["HEADS", "Features"]
