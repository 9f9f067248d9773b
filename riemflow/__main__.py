"""`python -m riemflow ...` runs the `riemflow` command line."""

import sys

from .cli import main

sys.exit(main())
