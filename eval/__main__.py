"""``python -m eval``: score one model on a suite (Hydra app, ``conf/eval/config.yaml``); see ``eval.cli``."""

from embed.procs import install_reaper

from .cli import main

if __name__ == "__main__":
    install_reaper()
    main()
