"""``python -m embed encode ...``: see embed.cli."""

from embed.cli import main

raise SystemExit(main())
