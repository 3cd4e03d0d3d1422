"""``python -m train``: the training Hydra app (see train.cli)."""

from embed.procs import install_reaper
from train.cli import main

if __name__ == "__main__":
    install_reaper()  # DeepSpeed / data-loader workers stop with this process
    main()
