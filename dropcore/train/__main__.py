"""``python -m dropcore.train``: see :mod:`dropcore.train.cli`."""

import sys

from .cli import main

sys.exit(main())
