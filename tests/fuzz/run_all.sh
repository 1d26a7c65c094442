#!/usr/bin/env bash
# Long fuzzing run of every fuzz target, one after another:
#   tests/fuzz/run_all.sh SECONDS      (default 300 per target)
# Builds with clang++ into build/fuzz-run (or $TRIB_FUZZ_OUT), prints the
# executions per target, and writes the "## Fuzzing" section of
# bench/RESULTS.md (bench/fuzz_report.py). Exits non-zero if any target found
# a problem.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
secs=${1:-300}
out=${TRIB_FUZZ_OUT:-$root/build/fuzz-run}
cxx=${CLANGXX:-$(command -v clang++ || true)}
[ -n "$cxx" ] || { echo "run_all: clang++ not found (libFuzzer needs clang)" >&2; exit 1; }
mkdir -p "$out"
export TRIB_FUZZ_REPORT="$out/report.tsv"
: >"$TRIB_FUZZ_REPORT"
failed=0
for name in connect publish subscribe acks client topic auth_password_file auth_acl \
            storage_batch replicate config; do
  "$root/tests/fuzz/short_run.sh" "$cxx" "$root" "$out" "$name" "$secs" || failed=1
done
python3 "$root/bench/fuzz_report.py" "$TRIB_FUZZ_REPORT" "$secs" \
  "make fuzz FUZZ_SECONDS=$secs (tests/fuzz/run_all.sh $secs)" || failed=1
[ "$failed" -eq 0 ] && echo "fuzz: all targets clean" || echo "fuzz: FAILURES (see $out/artifacts)"
exit "$failed"
