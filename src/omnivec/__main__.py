"""``python -m omnivec``: the same command line as ``omnivec``."""

import sys

from omnivec.cli import main

sys.exit(main())
