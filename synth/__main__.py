"""``python -m synth``: Hydra app over ``conf/synth/config.yaml`` (see ``synth.app``)."""

from synth.cli import main

if __name__ == "__main__":
    main()
