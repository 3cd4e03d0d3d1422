#!/usr/bin/env bash
# The main job on its embedded default: set up (idempotent), build the offline models, run the pipeline.
# Usage: scripts/run.sh [hydra overrides...]   e.g. scripts/run.sh stages=[eval] eval.suite=quick
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh
source scripts/env.sh
.venv/bin/python -m embed.bootstrap
exec .venv/bin/python -m pipeline "$@"
