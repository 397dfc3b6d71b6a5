"""``python -m recdrill``: the same as the ``recdrill`` console script."""

import sys

from recdrill.cli import main

sys.exit(main())
