#!/usr/bin/env bash
# Static analysis: cppcheck over the project's own sources (compile database
# from the debug build). Fails on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
db=build/debug-asan/compile_commands.json
[ -f "$db" ] || { echo "lint: run 'make debug' first" >&2; exit 1; }
cppcheck --project="$db" --enable=warning,performance,portability --inline-suppr \
  --suppress='*:/usr/*' --suppress='*:*/build/*' --error-exitcode=1 -q \
  --file-filter='*/platform/*' --file-filter='*/storage/*' --file-filter='*/daemon/*' \
  --file-filter='*/bridge/*' --file-filter='*/tools/*'
echo "lint: clean"
