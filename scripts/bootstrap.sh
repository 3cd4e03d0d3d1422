#!/usr/bin/env bash
# Build the local models tsumugi needs (no Hugging Face hub) into ${TSUMUGI_CACHE:-~/.cache/tsumugi}/models.
# Usage: scripts/bootstrap.sh [NAME ...] [--list] [--verify] [--force]
#   default NAMEs: me5-small qwen3-tokenizer qwen3-tiny qwen3-tiny-lm   (opt-in: gemma3-270m)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
venv="${TSUMUGI_VENV:-$root/.venv}"
cd "$root"
HF_HUB_OFFLINE=1 exec "$venv/bin/python" -m embed.bootstrap "$@"
