#!/usr/bin/env bash
# The GPU figures the open issues ask for, in one call of a lent GPU machine, which has torch but
# neither hydra nor MNIST and cannot download (../shared/device/README.md).
#
#   bash scripts/device.sh prepare        # here: hydra's wheels into .whl/, MNIST (gzipped) into .data/
#   bash scripts/device.sh run [STAGE...] # there: the device tool's run, carry [".whl", ".data"]
#
# Stages, in the order given (default: speed methods), each under its own time limit
# ($ADDA_LIMIT_<STAGE> seconds; defaults 210, 220, 150).  The default call takes about 7 minutes with
# the set-up; `run backbones` right after it, while the machine is warm (30 s), fits the rest of a
# 15-minute lease.  Calling a stage again resumes the runs its limit cut short.
#   speed      check_cuda_graph.py (graphed steps against eager ones), then bench_speed.py: grl and
#              adda at batch 64 and 512 in fp32, eager against CUDA graphs in fp32 and bf16, and
#              K = 1, 4, 16 stacked runs against K one after another
#   methods    every registered method (or those $ADDA_METHODS lists, comma-separated) x seeds 0-2 at
#              the full protocol: one stacked sweep per method, all at once (under MPS where it
#              starts), then adda-report over them
#   backbones  source_only, grl and adda x lenet, dann_mnist and torchvision resnet18 x seeds 0-2,
#              the same way
# What each stage made is packed into $OUT/results.tar.gz as soon as it ends (run folders without
# their checkpoints and TensorBoard events, reports, benchmark output), so a stage cut short by its
# limit loses only its unfinished runs; $OUT/log.txt has everything printed.  A try on a CPU at a tiny size (each sweep
# process holds about 2 GB of host memory, so two methods, not sixteen, on a 24 GB machine):
#   ADDA_DEVICE=cpu ADDA_DEVICE_STEPS=30 ADDA_METHODS=grl,adda PYTHON=.venv/bin/python OUT=/tmp/out \
#     bash scripts/device.sh run methods
set -euo pipefail
cd "$(dirname "$0")/.."

prepare() {
  bash ../shared/device/wheels.sh
  grep -qx '/.data/' .git/info/exclude 2>/dev/null || echo '/.data/' >> .git/info/exclude
  mkdir -p .data/MNIST/raw
  for f in "${ADDA_DATA:-../shared/data}"/MNIST/raw/*-ubyte; do
    gzip -c "$f" > ".data/MNIST/raw/$(basename "$f").gz"
  done
  du -sh .whl .data
}

setup() {
  PY=${PYTHON:-python3}  # there, the python that holds torch
  export PYTHONUNBUFFERED=1
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD
  DATA=/tmp/adda-data
  mkdir -p "$DATA/MNIST/raw"
  for f in .data/MNIST/raw/*.gz; do gunzip -c "$f" > "$DATA/MNIST/raw/$(basename "$f" .gz)"; done
  DEVICE=${ADDA_DEVICE:-cuda}
  RUNS=(device="$DEVICE" data.root="$DATA" trainer.progress=false hydra/launcher=stacked)
  BENCH=(--device "$DEVICE" --data-root "$DATA")
  if [ -n "${ADDA_DEVICE_STEPS:-}" ]; then
    RUNS+=(trainer.steps="$ADDA_DEVICE_STEPS")
    BENCH+=(--steps 3 --warmup 1)
  fi
  RESULTS=/tmp/adda-results
  mkdir -p "$RESULTS"
  nvidia-smi > "$RESULTS/nvidia-smi.txt" 2>&1 || true
  "$PY" -c "import torch; print('torch', torch.__version__, '|', \
torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')" | tee "$RESULTS/device.txt"
  # MPS lets the side-by-side sweeps' kernels overlap (1.66x the steps/s of 8 runs on an H100).
  if [ "$DEVICE" = cuda ] && nvidia-cuda-mps-control -d 2>/dev/null; then
    echo "== MPS started"
    trap 'echo quit | nvidia-cuda-mps-control' EXIT
  fi
}

pack() {  # all so far but checkpoints and TensorBoard events (75 runs' events exceed what comes back)
  tar -czf "$OUT/results.tar.gz" -C "$RESULTS" --exclude='*.pt' --exclude=tb .
}

limit() {  # STAGE: its time limit in seconds ($ADDA_LIMIT_<STAGE>, else the default)
  local var="ADDA_LIMIT_${1^^}"
  declare -A default=([speed]=210 [methods]=220 [backbones]=150)
  echo "${!var:-${default[$1]}}"
}

sweeps() {  # NAME LIMIT GROUP... : one stacked sweep per group (its overrides, ";"-separated), at once
  local name=$1 seconds=$2 pids=() group folder
  shift 2
  mkdir -p "$RESULTS/$name"
  local start=$SECONDS
  for group in "$@"; do
    IFS=';' read -r -a overrides <<< "$group"
    folder=$RESULTS/$name/${group//[;=]/-}
    # SIGINT at the limit: each run records itself as interrupted, with its checkpoint, as on
    # Ctrl-C; the same stage called again while the machine is warm resumes them.
    OMP_NUM_THREADS=${ADDA_THREADS:-1} timeout -s INT -k 30 "$seconds" "$PY" -m adda.train -m \
      experiment=seed64 seed=0,1,2 "${overrides[@]}" "${RUNS[@]}" hydra.sweep.dir="$folder" \
      > "$folder.log" 2>&1 &
    pids+=($!)
  done
  local failed=0
  for pid in "${pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done
  echo "== $name: $# sweeps in $((SECONDS - start)) s wall, $failed ended badly (see $name/*.log)"
  "$PY" -m adda.report "$RESULTS/$name" || echo "== adda-report found nothing to report in $name"
}

stage_speed() {  # its limit split into 21 parts: 3, 4, 4, 3 and 7 of them, in this order
  local part=$(($(limit speed) / 21))
  timeout -k 10 $((3 * part)) "$PY" scripts/check_cuda_graph.py --data-root "$DATA" || true
  timeout -k 10 $((4 * part)) "$PY" scripts/bench_speed.py "${BENCH[@]}" --methods grl adda \
    --batch-sizes 64 512 || true
  timeout -k 10 $((4 * part)) "$PY" scripts/bench_speed.py "${BENCH[@]}" --cuda-graph \
    --methods grl adda --batch-sizes 64 512 || true
  timeout -k 10 $((3 * part)) "$PY" scripts/bench_speed.py "${BENCH[@]}" --cuda-graph \
    --methods grl --batch-sizes 64 512 --precision bf16 || true
  timeout -k 10 $((7 * part)) "$PY" scripts/bench_speed.py "${BENCH[@]}" --stacked 1,4,16 \
    --batch-sizes 64 || true
}

stage_methods() {
  local methods
  if [ -n "${ADDA_METHODS:-}" ]; then
    IFS=, read -r -a methods <<< "$ADDA_METHODS"
  else
    mapfile -t methods < <("$PY" -c "import adda.methods; from adda.registry import METHODS; print(*METHODS.names(), sep='\n')")
  fi
  sweeps methods "$(limit methods)" "${methods[@]/#/method=}"
}

stage_backbones() {
  local groups=() backbone method
  for backbone in backbone=lenet backbone=dann_mnist "backbone=torchvision;backbone.arch=resnet18"; do
    for method in source_only grl adda; do groups+=("$backbone;method=$method"); done
  done
  sweeps backbones "$(limit backbones)" "${groups[@]}"
}

case "${1:-}" in
  prepare) prepare ;;
  run)
    shift
    : "${OUT:?set OUT to the folder whose files come back (the device tool sets it)}"
    exec > >(tee "$OUT/log.txt") 2>&1
    setup
    for stage in "${@:-speed methods}"; do
      for s in $stage; do
        declare -F "stage_$s" > /dev/null || { echo "unknown stage $s: give speed, methods or backbones"; exit 2; }
        echo "== stage $s (limit $(limit "$s") s)"
        { time "stage_$s"; } 2>&1 | tee "$RESULTS/$s.txt"
        pack
      done
    done
    ;;
  *) echo "usage: bash scripts/device.sh prepare | run [speed] [methods] [backbones]"; exit 2 ;;
esac
