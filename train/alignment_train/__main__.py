"""``python -m alignment_train <stage> ...`` (the same as the ``alignment-train`` command)."""

import sys

from .cli import main

sys.exit(main())
