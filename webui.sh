#!/usr/bin/env bash
# Easel: make ./venv when missing, install what is needed, and start the WebUI + API.
#   ./webui.sh [flags]      e.g. ./webui.sh --listen --port 7860 --api-auth user:pass
#   ./webui.sh --exit       only install
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"
PYTHON="${PYTHON:-python3}"
if [ ! -x venv/bin/python ]; then
    echo "Easel: creating ./venv"
    "$PYTHON" -m venv venv
fi
skip_install=0
for arg in "$@"; do
    case "$arg" in
        --skip-install|--skip-prepare-environment) skip_install=1 ;;
    esac
done
if [ "$skip_install" = 0 ]; then
    venv/bin/python install.py
fi
for arg in "$@"; do
    if [ "$arg" = "--exit" ]; then
        echo "Easel: installed; exiting (--exit)"
        exit 0
    fi
done
exec venv/bin/python launch.py --skip-install "$@"
