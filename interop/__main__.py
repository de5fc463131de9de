"""``python -m interop`` is the same as the ``interop`` console script."""

import sys

from interop.cli import main

sys.exit(main())
