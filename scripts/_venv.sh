# Sourced by run.sh and test.sh: make .venv (once), install torch/torchvision first so no
# resolver ever replaces them, then this package with the extras in $ADDA_EXTRAS.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# shellcheck disable=SC1091
source .venv/bin/activate
if ! python -c "import torch, torchvision" 2>/dev/null; then
  echo "== installing torch/torchvision (once)"
  # This project's CPU machines keep torch 2.14.1 / torchvision 0.29.1 on disk; elsewhere let
  # pip pick the build for the platform.  ADDA_TORCH overrides both, e.g. "torch==2.5.1 torchvision==0.20.1".
  if [ -n "${ADDA_TORCH:-}" ]; then
    # shellcheck disable=SC2086
    python -m pip install -q $ADDA_TORCH
  else
    python -m pip install -q torch==2.14.1 torchvision==0.29.1 2>/dev/null \
      || python -m pip install -q torch torchvision
  fi
fi
echo "== installing adda${ADDA_EXTRAS:-}"
# compat: the checkout on sys.path, so Hydra finds hydra_plugins/adda_plugins in an editable install too.
python -m pip install -q -e ".${ADDA_EXTRAS:-}" --config-settings editable_mode=compat 2>&1 | grep -v -e "^WARNING: Location" -e "^$" || true
python -c "import adda, torch; print('adda', adda.__version__, '| torch', torch.__version__)"
