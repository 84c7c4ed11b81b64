"""``python -m gtcrec ...`` is the ``gtcrec`` command."""

import sys

from .cli import main

sys.exit(main())
