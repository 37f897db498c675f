#!/usr/bin/env bash
# Fail, naming them, when tracked files are over the limit (default 1 MB): build outputs,
# model exports and scratch files belong in a temp directory or the user's cache, never in git.
set -euo pipefail
cd "$(dirname "$0")/.."
limit=${VB_MAX_FILE_BYTES:-1000000}
big=$(git ls-files -z | xargs -0 -r stat -c '%s %n' 2>/dev/null | awk -v l="$limit" '$1 > l')
if [ -n "$big" ]; then
  echo "tracked files over $limit bytes (remove them, or move what makes them into a temp dir):" >&2
  echo "$big" >&2
  exit 1
fi
