"""``python -m serving.replica``."""

import sys

from serving.replica.server import main

sys.exit(main())
