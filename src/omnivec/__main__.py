"""``python -m omnivec``: the same command line as ``omnivec``."""

from omnivec.cli import entry

entry()
