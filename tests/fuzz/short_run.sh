#!/usr/bin/env bash
# Builds one fuzz target with clang++ and libFuzzer (cached in OUT_DIR: an
# object is rebuilt when its source or a header it includes changes), then
# fuzzes it for SECONDS on the committed seed corpus plus a working corpus in
# OUT_DIR.
#
#   short_run.sh CLANGXX SRC_ROOT OUT_DIR NAME SECONDS
#
# NAME is a corpus folder under tests/fuzz/corpus: a codec target (connect,
# publish, subscribe, acks, client, topic: fuzz_mqtt_<name>.cc), or auth_acl,
# auth_password_file, storage_batch, replicate, config (fuzz_<name>.cc).
# Used by ctest (fuzz.<name>_short, from a gcc build) and by run_all.sh.
# Prints "<binary>: <N> executions in <S> s (<R> exec/s, corpus <C> entries)";
# with TRIB_FUZZ_REPORT set, also appends a tab-separated line to that file:
# name, executions, exec/s, corpus entries, seconds, result ("clean" or the
# crashing input's path). Exits non-zero on a finding (the input is saved
# under OUT_DIR/artifacts/).
set -euo pipefail
[ $# -eq 5 ] || { echo "usage: $0 CLANGXX SRC_ROOT OUT_DIR NAME SECONDS" >&2; exit 2; }
cxx=$1 root=$2 out=$3 name=$4 secs=$5

flags=(-std=c++20 -g -O1 -fno-omit-frame-pointer -I"$root" -fno-sanitize-recover=undefined)
mkdir -p "$out/artifacts" "$out/corpus/$name"

# What each target needs besides its own source: instrumented libraries (built
# from these sources) and system libraries. Every target links the codec.
declare -A lib_sources=(
  [mqtt]="$(echo "$root"/daemon/mqtt/*.cc)"
  [auth]="$(echo "$root"/daemon/auth/*.cc) $root/platform/tls_passwd.cc"
  [batch]="$root/storage/batch.cc $root/storage/crc32c.cc"
  [wire]="$root/daemon/replicate_wire.cc"
  # toml++ linked as the daemon has it, but instrumented: see toml_impl.cc.
  [config]="$root/daemon/config.cc $root/daemon/units.cc"
  [toml]="$root/tests/fuzz/toml_impl.cc"
)
declare -A lib_flags=([config]="-DTOML_HEADER_ONLY=0" [toml]="-fno-sanitize=unreachable")
src="$root/tests/fuzz/fuzz_mqtt_$name.cc"
libs=() syslibs=()  # libraries before those they use
case "$name" in
  auth_*) libs=(auth) syslibs=(-lmbedcrypto) ;;
  storage_batch) libs=(batch) syslibs=(-lzstd) ;;
  replicate) libs=(wire batch) syslibs=(-lzstd) ;;
  config) libs=(config toml) ;;
esac
libs+=(mqtt)
[ -f "$src" ] || src="$root/tests/fuzz/fuzz_$name.cc"
[ -f "$src" ] || { echo "short_run: no fuzz target for '$name'" >&2; exit 2; }
bin="$out/$(basename "$src" .cc)"

# True when OBJ is missing or older than a file its dependency list (-MMD) names.
stale() {
  local obj=$1 f
  [ -f "$obj" ] && [ -f "$obj.d" ] || return 0
  for f in $(sed -e 's/^[^:]*://' -e 's/\\$//' "$obj.d"); do
    [ "$f" -nt "$obj" ] && return 0
  done
  return 1
}

# Builds $out/lib<name>.a, instrumented for libFuzzer; once for all targets
# (ctest may run several at once, hence the lock).
build_lib() {
  local lib=$1 a="$out/lib$1.a" dir="$out/obj/$1" src obj changed=0
  mkdir -p "$dir"
  (
    flock 9
    for src in ${lib_sources[$lib]}; do
      obj="$dir/$(basename "$src" .cc).o"
      if stale "$obj"; then
        "$cxx" "${flags[@]}" -fsanitize=fuzzer-no-link,address,undefined ${lib_flags[$lib]:-} \
          -MMD -MF "$obj.d" -c "$src" -o "$obj"
        changed=1
      fi
    done
    if [ "$changed" -eq 1 ] || [ ! -f "$a" ]; then
      rm -f "$a"
      ar rcs "$a" "$dir"/*.o
    fi
  ) 9>"$out/.lock-$lib"
}

archives=()
for l in "${libs[@]}"; do
  build_lib "$l"
  archives+=("$out/lib$l.a")
done
relink=0
stale "$bin.o" && relink=1
for a in "${archives[@]}"; do [ "$a" -nt "$bin" ] && relink=1; done
if [ "$relink" -eq 1 ] || [ ! -x "$bin" ]; then
  "$cxx" "${flags[@]}" -fsanitize=fuzzer,address,undefined -MMD -MF "$bin.o.d" -c "$src" \
    -o "$bin.o"
  "$cxx" -fsanitize=fuzzer,address,undefined "$bin.o" "${archives[@]}" "${syslibs[@]}" \
    -o "$bin.tmp"
  mv "$bin.tmp" "$bin"
fi

log="$out/$(basename "$bin").log"
status=0
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" \
  "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
  -print_final_stats=1 -artifact_prefix="$out/artifacts/$name-" \
  "$out/corpus/$name" "$root/tests/fuzz/corpus/$name" >"$log" 2>&1 || status=$?
final_stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
execs=$(final_stat number_of_executed_units)
rate=$(final_stat average_exec_per_sec)
elapsed=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
corpus=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' "$log" | tail -1)
echo "$(basename "$bin"): ${execs:-?} executions in ${elapsed:-?} s (${rate:-?} exec/s, corpus ${corpus:-?} entries)"
result=clean
if [ "$status" -ne 0 ]; then
  artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
  result=${artifact:-"failed (exit $status), log $log"}
  tail -n 60 "$log" >&2
  echo "$(basename "$bin") FAILED (exit $status); log: $log" >&2
fi
if [ -n "${TRIB_FUZZ_REPORT:-}" ]; then
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "${execs:-?}" "${rate:-?}" "${corpus:-?}" \
    "${elapsed:-$secs}" "$result" >>"$TRIB_FUZZ_REPORT"
fi
exit "$status"
