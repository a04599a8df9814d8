"""``python -m omnivec``: the same command line as ``omnivec``."""

from omnivec.cli import entry

if __name__ == "__main__":  # not when a spawned worker process re-imports this module as __mp_main__
    entry()
