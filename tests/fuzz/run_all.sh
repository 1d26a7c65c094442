#!/usr/bin/env bash
# Long fuzzing run of every MQTT codec target, one after another:
#   tests/fuzz/run_all.sh SECONDS      (default 300 per target)
# Builds with clang++ into build/fuzz-run (or $TRIB_FUZZ_OUT) and prints the
# executions per target. Exits non-zero if any target found a problem.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
secs=${1:-300}
out=${TRIB_FUZZ_OUT:-$root/build/fuzz-run}
cxx=${CLANGXX:-$(command -v clang++ || true)}
[ -n "$cxx" ] || { echo "run_all: clang++ not found (libFuzzer needs clang)" >&2; exit 1; }
failed=0
for name in connect publish subscribe acks client topic; do
  "$root/tests/fuzz/short_run.sh" "$cxx" "$root" "$out" "$name" "$secs" || failed=1
done
[ "$failed" -eq 0 ] && echo "fuzz: all targets clean" || echo "fuzz: FAILURES (see $out/artifacts)"
exit "$failed"
