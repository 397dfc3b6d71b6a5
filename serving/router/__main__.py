"""``python -m serving.router``."""

import sys

from serving.router.server import main

sys.exit(main())
