#!/usr/bin/env bash
# The seed task from disk: export it as PNG folders (scripts/export_folder.py), then train grl on
# 3 seeds three ways: the device-resident digit path (MNIST drawn through the MNIST-M-like
# transforms at each step), the folders kept resident, and the folders streamed from disk by
# DataLoader workers.  The target test set is the same 10,000 images on every path.  Full protocol
# (11,000 steps) on a GPU; on a CPU $ADDA_CPU_STEPS steps (default 2000).  adda-report writes the
# table into docs/RESULTS.md (section "folders").
source "$(dirname "$0")/_venv.sh"
DATA=${ADDA_DATA:-data}
FOLDERS=${FOLDERS:-outputs/folders/seed64}
SEEDS=${SEEDS:-0,1,2}
read -r -a EXTRA <<< "${EXTRA:-}"
if [ ! -d "$FOLDERS/target/train" ]; then
  python scripts/export_folder.py "$FOLDERS" experiment=seed64 data.root="$DATA" >/dev/null
fi
if python -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then STEPS=(); else
  STEPS=(trainer.steps="${ADDA_CPU_STEPS:-2000}"); fi
read -r -a FROM_FOLDERS <<< "$(python -c "from adda.data.export import folder_overrides; print(' '.join(folder_overrides('$FOLDERS')))")"
SWEEP=outputs/folders/compare_$(date +%Y-%m-%d_%H-%M-%S)
COMMON=(experiment=seed64 method=grl seed="$SEEDS" "${STEPS[@]}" "${EXTRA[@]}" data.root="$DATA" trainer.progress=false)
adda-train -m "${COMMON[@]}" hydra.sweep.dir="$SWEEP/digits"
adda-train -m "${COMMON[@]}" "${FROM_FOLDERS[@]}" data.resident=true,false hydra.sweep.dir="$SWEEP/folders"
adda-report "$SWEEP" --out docs/RESULTS.md --section folders
