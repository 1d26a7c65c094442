#!/usr/bin/env bash
# make soak DURATION=1h: the release tributaryd under mixed load with a
# flapping upstream for DURATION (s, m, h; default 1h), checked for loss,
# errors and flat memory and file size; the result goes to bench/RESULTS.md
# ("Soak"). See bench/soak.py for the load and the criteria.
# Exit status: 0 pass, 1 fail.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-${DURATION:-1h}}"

if [[ -z "${SOAK_BIN_DIR:-}" ]]; then
  cmake --preset release >/dev/null
  cmake --build --preset release -j "${JOBS:-$(nproc)}" --target tributaryd loadgen
fi
mkdir -p bench/out
SOAK_DURATION_TEXT="$DURATION" exec python3 bench/soak.py "$DURATION"
