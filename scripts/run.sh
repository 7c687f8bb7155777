#!/usr/bin/env bash
# From a fresh clone to the seed table: make .venv, install, get MNIST if missing, train
# source_only / minimax / grl on the seed task (experiment=seed64) and print the comparison.
# On a GPU this is the seed's full protocol (11,000 steps); on a CPU it is shortened to
# $ADDA_CPU_STEPS steps (default 1500) so it ends in about 15 minutes on 2 cores.
source "$(dirname "$0")/_venv.sh"
source scripts/_data.sh
DATA=${ADDA_DATA:-data}
ensure_mnist "$DATA"
if python -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then
  STEPS=11000
  echo "== GPU found: the seed's full protocol, $STEPS steps per method"
else
  STEPS=${ADDA_CPU_STEPS:-1500}
  echo "== no GPU: $STEPS steps per method instead of the seed's 11,000 (the lr decay moves with it)"
fi
SWEEP=outputs/seed64/$(date +%Y-%m-%d_%H-%M-%S)
adda-train -m experiment=seed64 method=source_only,minimax,grl trainer.steps="$STEPS" \
  data.root="$DATA" hydra.sweep.dir="$SWEEP"
adda-report "$SWEEP"
echo "== TensorBoard: tensorboard --logdir $SWEEP"
