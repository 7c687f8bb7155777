#!/usr/bin/env bash
# A results table: every method x 3 seeds on the seed task, written into docs/RESULTS.md by
# adda-report.  Full protocol (11,000 steps) on a GPU; on a CPU $ADDA_CPU_STEPS steps (default
# 3000).  Runs go side by side (joblib launcher): one per core on a CPU; $ADDA_JOBS (default: one
# per core) on a GPU, where small runs leave the device mostly idle.  Starting NVIDIA's MPS daemon
# first (`nvidia-cuda-mps-control -d`) lets their kernels overlap: 1.66x the steps per second of 8
# side-by-side runs on an H100.  18 runs fit an 80 GB GPU; 30 ran out of memory at the CUDA
# evaluation batch (2048 images, about 1 GB per run): add EXTRA=trainer.eval_batch_size=256.
# The table's command line records what ran.
#   scripts/results.sh                                      # the loss variants (section "")
#   METHODS=cdan,mcc,vada,self_training SECTION=modern scripts/results.sh
ADDA_EXTRAS=${ADDA_EXTRAS:-[sweeps]}  # the joblib launcher
source "$(dirname "$0")/_venv.sh"
DATA=${ADDA_DATA:-data}
METHODS=${METHODS:-source_only,minimax,grl,confusion,adda,target_oracle}
SEEDS=${SEEDS:-0,1,2}
read -r -a EXTRA <<< "${EXTRA:-}"
if python -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then
  STEPS=(hydra/launcher=joblib hydra.launcher.n_jobs="${ADDA_JOBS:-$(nproc)}")
else
  STEPS=(trainer.steps="${ADDA_CPU_STEPS:-3000}" hydra/launcher=joblib hydra.launcher.n_jobs="$(nproc)")
fi
SWEEP=outputs/results/$(date +%Y-%m-%d_%H-%M-%S)
adda-train -m experiment=seed64 method="$METHODS" seed="$SEEDS" "${STEPS[@]}" "${EXTRA[@]}" \
  data.root="$DATA" trainer.progress=false hydra.sweep.dir="$SWEEP"
adda-report "$SWEEP" --out docs/RESULTS.md ${SECTION:+--section "$SECTION"}
