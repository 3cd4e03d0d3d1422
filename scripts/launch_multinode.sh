#!/usr/bin/env bash
# Multi-node training from a hostfile (DeepSpeed format: one "hostname slots=N" line per node).
#
#   scripts/launch_multinode.sh HOSTFILE [hydra overrides...]
#
# LAUNCHER=deepspeed (default): run once, on the first node; DeepSpeed starts every node over ssh/pdsh
#   (passwordless ssh, the same repository path and venv on every node, a shared output_dir).
# LAUNCHER=torchrun: run on every node with NODE_RANK=0..n-1 (e.g. from SLURM: NODE_RANK=$SLURM_NODEID);
#   nodes and processes per node are read from the hostfile.
#
# Environment: MASTER_ADDR (default: first host), MASTER_PORT (29500), PYTHON, DRY_RUN=1 (print the command).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ $# -lt 1 || ! -f "$1" ]]; then
  echo "usage: $0 HOSTFILE [hydra overrides...]" >&2; exit 2
fi
hostfile="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; shift
cd "$root"
python="${PYTHON:-$root/.venv/bin/python}"
launcher="${LAUNCHER:-deepspeed}"
hosts=($(grep -v '^\s*#' "$hostfile" | awk 'NF {print $1}'))
slots=($(grep -v '^\s*#' "$hostfile" | awk 'NF {n=1; for (i=2;i<=NF;i++) if ($i ~ /^slots=/) {split($i,a,"="); n=a[2]} print n}'))
[[ ${#hosts[@]} -ge 1 ]] || { echo "no hosts in $hostfile" >&2; exit 2; }
master="${MASTER_ADDR:-${hosts[0]}}"
port="${MASTER_PORT:-29500}"
export TOKENIZERS_PARALLELISM=false
export TORCH_EXTENSIONS_DIR="${TORCH_EXTENSIONS_DIR:-$root/.cache/torch_extensions}"

case "$launcher" in
  deepspeed)
    cmd=("$python" -m deepspeed.launcher.runner --hostfile "$hostfile" --master_addr "$master"
         --master_port "$port" --module train "$@") ;;
  torchrun)
    : "${NODE_RANK:?set NODE_RANK (0..$(( ${#hosts[@]} - 1 ))) on each node}"
    cmd=("$python" -m torch.distributed.run "--nnodes=${#hosts[@]}" "--node_rank=$NODE_RANK"
         "--nproc_per_node=${slots[0]}" "--master_addr=$master" "--master_port=$port" -m train "$@") ;;
  *)
    echo "unknown LAUNCHER=$launcher (deepspeed | torchrun)" >&2; exit 2 ;;
esac
if [[ "${DRY_RUN:-0}" == 1 ]]; then printf '%q ' "${cmd[@]}"; echo; exit 0; fi
exec "${cmd[@]}"
