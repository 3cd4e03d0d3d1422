"""``python -m synth``: Hydra app over ``conf/synth/config.yaml`` (see ``synth.app``)."""

from embed.procs import install_reaper
from synth.cli import main

if __name__ == "__main__":
    install_reaper()  # the vLLM EngineCore and its workers stop with this process
    main()
