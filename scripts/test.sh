#!/usr/bin/env bash
# The test command: set up (idempotent), build the offline models once, lint, run the whole suite offline.
# Usage: scripts/test.sh [pytest args...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh
source scripts/env.sh
.venv/bin/python -m embed.bootstrap
.venv/bin/ruff check .
.venv/bin/python -m pytest -q "$@"
