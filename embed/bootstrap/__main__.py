"""``python -m embed.bootstrap``: see :mod:`embed.bootstrap.cli`."""

from .cli import main

raise SystemExit(main())
