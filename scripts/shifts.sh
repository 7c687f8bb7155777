#!/usr/bin/env bash
# Which target shifts adaptation helps with: source_only vs grl on every transform preset, written
# to docs/SHIFTS.md by adda-report.  $ADDA_STEPS steps per run (default 1000: about 45 min on a
# 2-core CPU for all 14 runs), $SEEDS seeds (default 0).
source "$(dirname "$0")/_venv.sh"
DATA=${ADDA_DATA:-data}
TARGETS=${TARGETS:-mnistm,inverted,rotated,noisy,colored,photocopy,cluttered}
SWEEP=outputs/shifts/$(date +%Y-%m-%d_%H-%M-%S)
adda-train -m target="$TARGETS" method=source_only,grl seed="${SEEDS:-0}" trainer.steps="${ADDA_STEPS:-1000}" \
  data.root="$DATA" trainer.progress=false hydra.sweep.dir="$SWEEP"
adda-report "$SWEEP" --out docs/SHIFTS.md
