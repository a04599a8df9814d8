#!/usr/bin/env bash
# N consecutive 2-rank torchrun runs (CPU, gloo) of `omnivec train` and of `omnivec unival finetune`, counting the
# runs that end badly: a non-zero exit, or a rank that died of a signal (the old teardown flake aborted rank 1 with
# SIGABRT, "terminate called without an active exception", after every step had finished).
#
#   bench/ddp_soak.sh [N=20] [WORK=runs/ddp_soak]        e.g.  taskset -c 1 bench/ddp_soak.sh 20
#
# Prints one line per run and a closing count per command; exits 1 when any run failed. The UnIVAL fine-tuning
# runs start from a 6-step tiny `unival pretrain` made once (one process). PYTHON (default: .venv/bin/python, else
# python3) picks the interpreter; torchrun is run as `$PYTHON -m torch.distributed.run`.
set -u
N=${1:-20}
WORK=${2:-runs/ddp_soak}
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$WORK"
rm -rf "$WORK"/train-* "$WORK"/ft-*

if [ ! -f "$WORK/pre/model.safetensors" ]; then
  rm -rf "$WORK/pre"
  "$PYTHON" -m omnivec unival pretrain --out "$WORK/pre" --steps 6 --quiet >"$WORK/pre.log" 2>&1 ||
    { echo "the parent unival pretrain failed, see $WORK/pre.log"; exit 2; }
fi

declare -A FAILED=([train]=0 [finetune]=0)
run() {  # run KIND I ARGV...: one 2-rank run, its log kept only when it failed
  local kind=$1 i=$2 log="$WORK/$1-$2.log"
  shift 2
  "$PYTHON" -m torch.distributed.run --standalone --nproc_per_node 2 -m omnivec "$@" --quiet >"$log" 2>&1
  local rc=$?
  # torchrun exits 0 only when both ranks did; a rank killed by a signal is named in its failure summary
  if [ $rc -ne 0 ] || grep -qE "terminate called|Signal [0-9]+|SIGABRT|exitcode *: *-" "$log"; then
    FAILED[$kind]=$((FAILED[$kind] + 1))
    echo "$kind $i: FAILED (exit $rc), log kept: $log"
    grep -m3 -E "terminate called|SIGABRT|Signal|exitcode" "$log" | sed 's/^/    /'
  else
    echo "$kind $i: ok"
    rm -f "$log"
  fi
}

for i in $(seq 1 "$N"); do
  run train "$i" train --tasks shapes,topics --preset tiny --max-steps 4 --num-train 32 --num-test 16 \
    --batch-size 4 --out "$WORK/train-$i"
  rm -rf "$WORK/train-$i"
done
for i in $(seq 1 "$N"); do
  run finetune "$i" unival finetune "$WORK/pre" --out "$WORK/ft-$i" --tasks caption_image --steps 4 \
    --num-train 64 --num-test 16
  rm -rf "$WORK/ft-$i"
done
echo "train: ${FAILED[train]} of $N runs failed; unival finetune: ${FAILED[finetune]} of $N runs failed"
[ "${FAILED[train]}" -eq 0 ] && [ "${FAILED[finetune]}" -eq 0 ]
