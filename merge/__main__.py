"""``python -m merge``: see merge/cli.py."""

import sys

from merge.cli import main

sys.exit(main())
