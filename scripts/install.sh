#!/usr/bin/env bash
# Create .venv if missing and install requirements-dev.txt into it; a no-op when nothing changed.
#   PYTHON=python3.12 scripts/install.sh   picks the interpreter for a new venv (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv with $($python -V 2>&1)"
    "$python" -m venv .venv
fi

# Reinstall only when the pinned requirements changed since the last successful install
# (a checksum, not mtimes: a fresh clone gives every file a new mtime).
stamp=.venv/.panda-requirements.sha256
wanted=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    echo "==> installing requirements-dev.txt into .venv"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
    echo "$wanted" >"$stamp"
fi
