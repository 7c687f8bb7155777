#!/usr/bin/env bash
# Make .venv, install adda with its dev extra, run the test suite.  Real-data tests read MNIST
# from $ADDA_DATA: by default ../shared/data when that exists, else data/ (where scripts/run.sh
# puts it), fetched there the same way if missing.  Extra args go to pytest.
ADDA_EXTRAS="[dev]"
source "$(dirname "$0")/_venv.sh"
source scripts/_data.sh
if [ -z "${ADDA_DATA:-}" ]; then
  if [ -d ../shared/data/MNIST ]; then ADDA_DATA=../shared/data; else ADDA_DATA=data; fi
fi
export ADDA_DATA
ensure_mnist "$ADDA_DATA"
python -m pytest "$@"
