"""``python -m skyrun.cli``."""

import sys

from skyrun.cli import main

sys.exit(main())
