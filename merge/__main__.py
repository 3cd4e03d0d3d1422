"""``python -m merge``: see merge/cli.py."""

import sys

from embed.procs import install_reaper
from merge.cli import main

install_reaper()
sys.exit(main())
