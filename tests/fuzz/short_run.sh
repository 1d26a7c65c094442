#!/usr/bin/env bash
# Builds one MQTT codec fuzz target with clang++ and libFuzzer (cached in
# OUT_DIR, rebuilt when a codec or fuzz source changes), then fuzzes it for
# SECONDS on the committed seed corpus plus a working corpus in OUT_DIR.
#
#   short_run.sh CLANGXX SRC_ROOT OUT_DIR NAME SECONDS
#
# Used by ctest (fuzz.<name>_short, from a gcc build) and by run_all.sh.
# Prints "fuzz_mqtt_<name>: <N> executions in <S> s"; exits non-zero on a
# finding (the crashing input is saved under OUT_DIR/artifacts/).
set -euo pipefail
[ $# -eq 5 ] || { echo "usage: $0 CLANGXX SRC_ROOT OUT_DIR NAME SECONDS" >&2; exit 2; }
cxx=$1 root=$2 out=$3 name=$4 secs=$5

flags=(-std=c++20 -g -O1 -fno-omit-frame-pointer -I"$root" -fno-sanitize-recover=undefined)
mkdir -p "$out/obj" "$out/artifacts" "$out/corpus/$name"
lib="$out/libtrib_mqtt_fuzz.a"
bin="$out/fuzz_mqtt_$name"

# The codec, instrumented once for all targets (ctest may run several at once).
(
  flock 9
  if [ ! -f "$lib" ] || [ -n "$(find "$root/daemon/mqtt" -newer "$lib" -print -quit)" ]; then
    rm -f "$out"/obj/*.o
    for src in "$root"/daemon/mqtt/*.cc; do
      "$cxx" "${flags[@]}" -fsanitize=fuzzer-no-link,address,undefined \
        -c "$src" -o "$out/obj/$(basename "$src" .cc).o"
    done
    rm -f "$lib"
    ar rcs "$lib" "$out"/obj/*.o
  fi
) 9>"$out/.lock"

src="$root/tests/fuzz/fuzz_mqtt_$name.cc"
if [ ! -x "$bin" ] || [ "$lib" -nt "$bin" ] || [ "$src" -nt "$bin" ] ||
   [ "$root/tests/fuzz/fuzz_common.h" -nt "$bin" ]; then
  "$cxx" "${flags[@]}" -fsanitize=fuzzer,address,undefined "$src" "$lib" -o "$bin.tmp"
  mv "$bin.tmp" "$bin"
fi

log="$out/fuzz_mqtt_$name.log"
status=0
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" \
  "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
  -print_final_stats=1 -artifact_prefix="$out/artifacts/$name-" \
  "$out/corpus/$name" "$root/tests/fuzz/corpus/$name" >"$log" 2>&1 || status=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
elapsed=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
echo "fuzz_mqtt_$name: ${execs:-?} executions in ${elapsed:-?} s (corpus $(ls "$out/corpus/$name" | wc -l) files)"
if [ "$status" -ne 0 ]; then
  tail -n 60 "$log" >&2
  echo "fuzz_mqtt_$name FAILED (exit $status); log: $log" >&2
fi
exit "$status"
