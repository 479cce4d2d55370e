#!/usr/bin/env bash
# Easel: the same set-up as ./webui.sh plus the test dependencies and servers, then lint and the whole test suite.
#   ./run_tests.sh [pytest args]
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"
PYTHON="${PYTHON:-python3}"
if [ ! -x venv/bin/python ]; then
    echo "Easel: creating ./venv"
    "$PYTHON" -m venv venv
fi
venv/bin/python install.py --with-tests
# Servers and the browser the tests use come from Debian packages (never a downloaded browser).
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
    echo "Easel: installing ${missing[*]} for the tests"
    if [ "$(id -u)" = 0 ]; then apt_get=(apt-get); else apt_get=(sudo apt-get); fi
    export DEBIAN_FRONTEND=noninteractive
    "${apt_get[@]}" update -q
    "${apt_get[@]}" install -y -q "${missing[@]}"
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
venv/bin/ruff check .
venv/bin/mypy --no-error-summary
exec venv/bin/python -m pytest "$@"
