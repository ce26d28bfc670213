#!/usr/bin/env bash
# Set up qwenvl on a fresh machine: a virtual environment in .venv with every extra.
# torch 2.13.0 is installed first and pinned: an unpinned torch would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q torch==2.13.0
python -m pip install -q -e ".[train,eval,serve,clean,test]"
if [ -f scripts/system-packages.txt ] && command -v apt-get >/dev/null 2>&1; then
  missing=$(grep -v '^#' scripts/system-packages.txt | while read -r pkg cmd; do
    [ -n "$pkg" ] || continue
    { [ -n "$cmd" ] && command -v "$cmd" >/dev/null; } || dpkg -s "$pkg" >/dev/null 2>&1 || echo "$pkg"
  done)
  if [ -n "$missing" ]; then
    SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq $missing >/dev/null
  fi
fi
python -c "import qwenvl, torch; print('qwenvl', qwenvl.__version__, 'torch', torch.__version__)"
