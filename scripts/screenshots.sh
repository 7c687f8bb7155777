#!/usr/bin/env bash
# Screenshots of TensorBoard's Projector, Images and HParams tabs for a short sweep on real MNIST
# (source_only and grl, debug=mnist: 200 steps each), taken with headless Chromium and saved under
# docs/screenshots/.  Needs Debian's chromium (`apt-get install chromium`) and MNIST in $ADDA_DATA.
source "$(dirname "$0")/_venv.sh"
OUT=${OUT:-docs/screenshots}
PORT=${PORT:-6123}
SWEEP=outputs/screenshots
BROWSER=$(command -v chromium || command -v chromium-browser || true)
[ -n "$BROWSER" ] || { echo "error: no chromium on PATH: apt-get install chromium" >&2; exit 2; }
rm -rf "$SWEEP" && mkdir -p "$OUT"
adda-train -m debug=mnist method=source_only,grl trainer.embed_samples=300 data.root="${ADDA_DATA:-data}" \
  hydra.sweep.dir="$SWEEP" > "$SWEEP.log" 2>&1
if grep -L '"status": "done"' "$SWEEP"/*/metrics.json | grep -q .; then
  echo "error: a run of the sweep did not finish (see $SWEEP.log)" >&2; exit 1
fi
tensorboard --logdir "$SWEEP" --port "$PORT" --host 127.0.0.1 > "$SWEEP.tensorboard.log" 2>&1 &
BOARD=$!
trap 'kill $BOARD 2>/dev/null' EXIT
for _ in $(seq 60); do curl -sf "http://127.0.0.1:$PORT/" > /dev/null && break; sleep 1; done
curl -sf "http://127.0.0.1:$PORT/" > /dev/null || { echo "error: TensorBoard did not start (see $SWEEP.tensorboard.log)" >&2; exit 1; }
for tab in projector images hparams; do
  "$BROWSER" --headless=new --no-sandbox --hide-scrollbars --enable-unsafe-swiftshader --use-angle=swiftshader \
    --window-size=1600,1000 --virtual-time-budget=30000 --screenshot="$OUT/$tab.png" \
    "http://127.0.0.1:$PORT/?darkMode=false#$tab" > /dev/null 2>&1
  [ -s "$OUT/$tab.png" ] || { echo "error: no screenshot of the $tab tab" >&2; exit 1; }
  echo "wrote $OUT/$tab.png"
done
