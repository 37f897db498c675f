#!/usr/bin/env bash
# Packaging check (run by .ci/run): build the sdist and the wheel, check their metadata,
# install the wheel with only the [qdrant] extra in a fresh venv (versions from the lock),
# measure its site-packages, and run scripts/package_smoke.py there (the import has no
# pymilvus, qdrant_edge or torch; an Edge store-and-search works; a missing extra names the
# pip line). Prints the figures; fails on a failed check or an install over $VB_MAX_MB
# (default 250 MB). Needs the dev venv (make setup) for build and twine.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
MAX_MB=${VB_MAX_MB:-250}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
.venv/bin/python -m build --sdist --wheel --outdir "$work/dist" . > "$work/build.log" 2>&1 \
  || { cat "$work/build.log"; exit 1; }
.venv/bin/python -m twine check --strict "$work"/dist/*
"$PY" -m venv "$work/venv"
wheel=$(ls "$work"/dist/*.whl)
"$work/venv/bin/python" -m pip install --disable-pip-version-check -q \
  -c requirements/lock.txt "${wheel}[qdrant]"
site=$("$work/venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
mb=$(du -sm "$site" | cut -f1)
echo "vectorbridge[qdrant] from the wheel: ${mb} MB of site-packages (limit ${MAX_MB} MB)"
"$work/venv/bin/python" -m pip list --disable-pip-version-check --format=freeze \
  | sed 's/==.*//' | tr '\n' ' ' | fold -s -w 100; echo
(cd "$work" && "$work/venv/bin/python" "$OLDPWD/scripts/package_smoke.py")
[ "$mb" -le "$MAX_MB" ] || { echo "FAILED: ${mb} MB > ${MAX_MB} MB"; exit 1; }
echo "packaging check: ok"
