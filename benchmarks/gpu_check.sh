#!/usr/bin/env bash
# The prepared GPU check (issue 18); benchmarks/gpu_check.py says what it measures.
#
#   benchmarks/gpu_check.sh [gpu_check.py options]      # on the GPU machine (about 5 minutes)
#   benchmarks/gpu_check.sh --device cpu --tiny          # the same path on CPU (about a minute)
#
# For a GPU machine without a package registry whose image has torch, transformers, peft,
# lightning and accelerate: what arm_exp needs beyond them here comes from the folder that
# `make gpu-carry` builds (GPU_CARRY, default outputs/gpu_carry; carry it along): the wheels of
# the modules this interpreter lacks are unpacked into a private folder on PYTHONPATH
# (benchmarks/gpu_carry.py install), and the SmolLM2 tokenizer is read from it.
# PYTHON picks the interpreter (default: python3).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-python3}"
carry="${GPU_CARRY:-$root/outputs/gpu_carry}"
site="$(mktemp -d)"
trap 'rm -rf "$site"' EXIT
"$py" "$root/benchmarks/gpu_carry.py" install --carry "$carry" --site "$site"
tokenizer=()
if [ -f "$carry/tokenizer/tokenizer.json" ]; then
  tokenizer=(--tokenizer "$carry/tokenizer")
fi
cd "$root"
PYTHONPATH="$root:$site${PYTHONPATH:+:$PYTHONPATH}" \
  "$py" benchmarks/gpu_check.py ${tokenizer[@]+"${tokenizer[@]}"} "$@"
