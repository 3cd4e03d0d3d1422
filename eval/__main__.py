"""``python -m eval``: score one model on a suite (Hydra app, ``conf/eval/config.yaml``); see ``eval.cli``."""

from .cli import main

if __name__ == "__main__":
    main()
