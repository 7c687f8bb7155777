#!/usr/bin/env bash
# A results table: every method x 3 seeds on the seed task, written into docs/RESULTS.md by
# adda-report.  Full protocol (11,000 steps) on a GPU; on a CPU $ADDA_CPU_STEPS steps (default
# 3000), one run per core side by side (joblib launcher), which the table's command line records.
#   scripts/results.sh                                   # the loss variants (section "")
#   METHODS=mcc,cdan,vada,self_training,adda SECTION=modern \
#     EXTRA="discriminator=mlp trainer.eval_every=500" scripts/results.sh
ADDA_EXTRAS=${ADDA_EXTRAS:-[sweeps]}  # the joblib launcher
source "$(dirname "$0")/_venv.sh"
DATA=${ADDA_DATA:-data}
METHODS=${METHODS:-source_only,minimax,grl,confusion,adda,target_oracle}
SEEDS=${SEEDS:-0,1,2}
read -r -a EXTRA <<< "${EXTRA:-}"
STEPS=()
if ! python -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then
  STEPS=(trainer.steps="${ADDA_CPU_STEPS:-3000}" hydra/launcher=joblib hydra.launcher.n_jobs="$(nproc)")
fi
SWEEP=outputs/results/$(date +%Y-%m-%d_%H-%M-%S)
adda-train -m experiment=seed64 method="$METHODS" seed="$SEEDS" "${STEPS[@]}" "${EXTRA[@]}" \
  data.root="$DATA" trainer.progress=false hydra.sweep.dir="$SWEEP"
adda-report "$SWEEP" --out docs/RESULTS.md ${SECTION:+--section "$SECTION"}
