#!/usr/bin/env bash
# Set up qwenvl on a fresh machine: a virtual environment in .venv with every extra.
# torch 2.13.0 is pinned: an unpinned torch would pull a multi-GB CUDA build.
# uv installs the lot in seconds where pip takes about a minute, but it does not read pip's
# configuration; so uv is used only where pip's find-links hold the CPU wheel of torch 2.13.0,
# and pip, which finds that wheel itself, does the work everywhere else (and wherever uv fails).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
EXTRAS=".[train,eval,serve,clean,test]"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
. .venv/bin/activate

links=${PIP_FIND_LINKS:-$(python -m pip config get global.find-links 2>/dev/null || true)}
wheel=""
for dir in $links; do
  dir=${dir#file://}
  for f in "$dir"/torch-2.13.0+cpu-*.whl; do [ -f "$f" ] && wheel=$f; done
done
if [ -n "$wheel" ] && python -m pip install -q uv 2>/dev/null \
   && uv pip install -q --python .venv/bin/python "$wheel" -e "$EXTRAS"; then
  :
else
  python -m pip install -q --upgrade pip
  python -m pip install -q torch==2.13.0
  python -m pip install -q -e "$EXTRAS"
fi

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
