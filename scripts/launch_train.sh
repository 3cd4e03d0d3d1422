#!/usr/bin/env bash
# Single-node training on N processes (GPUs; CPU processes with gloo when there is no GPU).
#
#   scripts/launch_train.sh [hydra overrides...]
#   NPROC=8 scripts/launch_train.sh model=qwen3-embedding-0.6b recipe=stage2 deepspeed.zero_stage=3
#   LAUNCHER=deepspeed NPROC=4 scripts/launch_train.sh recipe=stage1
#
# Environment:
#   LAUNCHER  torchrun (default) | deepspeed
#   NPROC     processes (default: the number of visible GPUs, else 1)
#   PYTHON    interpreter (default: .venv/bin/python of the repository)
#   DRY_RUN=1 print the command instead of running it
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-$root/.venv/bin/python}"
launcher="${LAUNCHER:-torchrun}"
if [[ -z "${NPROC:-}" ]]; then
  NPROC="$(command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)"
  [[ "${NPROC:-0}" -ge 1 ]] || NPROC=1
fi
export TOKENIZERS_PARALLELISM=false
export TORCH_EXTENSIONS_DIR="${TORCH_EXTENSIONS_DIR:-$root/.cache/torch_extensions}"

case "$launcher" in
  torchrun)
    cmd=("$python" -m torch.distributed.run --standalone --nnodes=1 "--nproc_per_node=$NPROC" -m train "$@") ;;
  deepspeed)
    cmd=("$python" -m deepspeed.launcher.runner --num_gpus "$NPROC" --module train "$@") ;;
  *)
    echo "unknown LAUNCHER=$launcher (torchrun | deepspeed)" >&2; exit 2 ;;
esac
if [[ "${DRY_RUN:-0}" == 1 ]]; then printf '%q ' "${cmd[@]}"; echo; exit 0; fi
exec "${cmd[@]}"
