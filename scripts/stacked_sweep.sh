#!/usr/bin/env bash
# The same seed sweep twice, one run after another (Hydra's basic launcher) and stacked
# (hydra/launcher=stacked): the wall time of each and every run's target accuracy, side by side.
# $METHOD (default grl), $SEEDS (default 0,1,2,3), $ADDA_STEPS (default 500) steps of the seed task;
# $STACKED: more overrides for the stacked sweep (hydra.launcher.compute=batched, hydra.launcher.workers=2).
source "$(dirname "$0")/_venv.sh"
DATA=${ADDA_DATA:-data}
OUT=outputs/stacked/$(date +%Y-%m-%d_%H-%M-%S)
mkdir -p "$OUT"
ARGS=(experiment=seed64 method="${METHOD:-grl}" seed="${SEEDS:-0,1,2,3}" trainer.steps="${ADDA_STEPS:-500}"
  data.root="$DATA" trainer.progress=false hydra.sweep.subdir='seed${seed}')
for launcher in basic stacked; do
  start=$(date +%s.%N)
  extra=(); [ $launcher = stacked ] && read -ra extra <<< "${STACKED:-}"
  adda-train -m hydra/launcher=$launcher "${ARGS[@]}" "${extra[@]}" hydra.sweep.dir="$OUT/$launcher" \
    > "$OUT.$launcher.log" 2>&1 \
    || { echo "the $launcher sweep failed: see $OUT.$launcher.log"; exit 1; }
  echo "$launcher: $(python -c "import time; print(f'{time.time() - $start:.0f}')") s wall for the sweep"
done
python - "$OUT" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
for run in sorted((out / "basic").glob("seed*")):
    a, b = (json.loads((out / k / run.name / "metrics.json").read_text()) for k in ("basic", "stacked"))
    print(f"{run.name}: target_acc one by one {a['target_acc']:.4f}  stacked {b['target_acc']:.4f}  "
          f"(training {a['seconds']:.0f} s alone, {b['seconds']:.0f} s stacked)")
PY
