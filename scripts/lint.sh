#!/usr/bin/env bash
# Static analysis: cppcheck over the project's own sources. Fails on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
dirs=(platform storage daemon bridge tools)
cppcheck --std=c++20 --language=c++ -I . --enable=warning,performance,portability \
  --inline-suppr --suppress=missingIncludeSystem --suppress='*:/usr/*' \
  --error-exitcode=1 -q -j 2 "${dirs[@]}"
echo "lint: clean"
