#!/usr/bin/env bash
# Easel: the same set-up as ./webui.sh plus the test dependencies, then the whole test suite.
#   ./run_tests.sh [pytest args]
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"
PYTHON="${PYTHON:-python3}"
if [ ! -x venv/bin/python ]; then
    echo "Easel: creating ./venv"
    "$PYTHON" -m venv venv
fi
venv/bin/python install.py --with-tests
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
exec venv/bin/python -m pytest "$@"
