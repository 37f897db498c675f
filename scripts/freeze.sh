#!/usr/bin/env bash
# Print what a venv holds as lock lines: name==version, sorted, without vectorbridge itself.
# The CPU wheel's local label (+cpu) is dropped: '==2.13.0' matches that build and any other.
set -euo pipefail
"${1:-.venv}/bin/python" -m pip freeze --disable-pip-version-check --exclude vectorbridge \
  | sed -E 's/^(torch==[^+]+)\+.*/\1/' | LC_ALL=C sort -f
