#!/usr/bin/env bash
# Make .venv, install adda with its dev extra, run the test suite.  Real-data tests read MNIST
# from $ADDA_DATA (default ../shared/data when that exists); extra args go to pytest.
ADDA_EXTRAS="[dev]"
source "$(dirname "$0")/_venv.sh"
if [ -z "${ADDA_DATA:-}" ] && [ -d ../shared/data/MNIST ]; then export ADDA_DATA=../shared/data; fi
python -m pytest "$@"
