#!/usr/bin/env bash
# One prepared check on a machine with one CUDA GPU (< 8 minutes): device tests, bf16 parity, train/pretrain
# throughput and MFU (quickstart and base-size models), decoding tokens/s, serve latency -> one markdown table
# ($OUT/gpu_check.md when OUT is set, else results/gpu_check.md, or --out FILE). See bench/gpu_check.py.
#   bench/gpu_check.sh              on the GPU machine (the .venv carried along: nothing is downloaded)
#   bench/gpu_check.sh --dry-run    on any CPU, tiny shapes, seconds: checks every step short of needing CUDA
set -u
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
exec env PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" bench/gpu_check.py "$@"
