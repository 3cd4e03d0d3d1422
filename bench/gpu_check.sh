#!/usr/bin/env bash
# The whole GPU check of issue 15 in one command (< 10 min on one H100), prepared but NOT yet run: no device
# was lent to the task that wrote it.
#
#   bench/gpu_check.sh prepare   # here (network): wheels the device image lacks -> .whl/, tokenizer + data -> .gpu_carry/
#   then, through the device tool:  run(command="bench/gpu_check.sh run", carry=[".whl", ".gpu_carry"], timeout_s=600)
#
# "run" installs the carried wheels into the image's python3 (torch/transformers/sentence-transformers are there),
# then: packed = padded check on CUDA (bf16 and fp32), and bench/train_speed.py --device cuda on a random
# Qwen3-0.6B shape (packed, padded, sentence-transformers trainer; real tokens/s and MFU), with and without Liger.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
prepare)
  grep -qxF /.whl/ .git/info/exclude 2>/dev/null || echo /.whl/ >> "$(git rev-parse --git-common-dir)/info/exclude"
  grep -qxF /.gpu_carry/ .git/info/exclude 2>/dev/null || echo /.gpu_carry/ >> "$(git rev-parse --git-common-dir)/info/exclude"
  mkdir -p .whl .gpu_carry/models .gpu_carry/shared/data/jaquad/jmteb_format
  /work/main/.venv/bin/pip download --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 \
    -d .whl hydra-core omegaconf antlr4-python3-runtime datasets dill multiprocess wandb liger-kernel
  /work/main/.venv/bin/pip download --no-deps -d .whl deepspeed==0.19.8   # sdist: built there with the image's torch
  cp -r "${TSUMUGI_CACHE:-$HOME/.cache/tsumugi}/models/qwen3-tokenizer" .gpu_carry/models/
  src=../shared/data/jaquad/jmteb_format/train; dst=.gpu_carry/shared/data/jaquad/jmteb_format/train
  mkdir -p "$dst"; for f in "$src"/*.jsonl; do head -n 4000 "$f" > "$dst/$(basename "$f")"; done
  du -sh .whl .gpu_carry ;;
run)
  python3 -m pip install --no-index --no-deps -q .whl/*.whl
  python3 -m pip install --no-index --no-deps --no-build-isolation -q .whl/deepspeed-*.tar.gz || echo "deepspeed build failed"
  export PYTHONPATH=$PWD TSUMUGI_CACHE=$PWD/.gpu_carry TSUMUGI_SHARED=$PWD/.gpu_carry/shared WANDB_MODE=disabled HF_HUB_OFFLINE=1
  nvidia-smi --query-gpu=name,memory.total --format=csv
  timeout 120 python3 -m pytest -q tests/embed/test_embed_packing.py -p no:cacheprovider || true
  timeout 200 python3 bench/train_speed.py --device cuda --batch 64 --max-length 512 --steps 5 --warmup 2 --rounds 1 || true
  timeout 200 python3 bench/train_speed.py --device cuda --batch 64 --max-length 512 --steps 5 --warmup 2 --rounds 1 --liger --variants packed,st || true ;;
*) echo "usage: $0 prepare|run" >&2; exit 2 ;;
esac
