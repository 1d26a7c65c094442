#!/usr/bin/env bash
# make bench: build the release tree (tributaryd and tools/loadgen are in the
# default build), then measure Tributary against Mosquitto in the same run
# (bench/compare.py), print a table and write bench/RESULTS.md; then replay a
# stored stream to one consumer and to a consumer group (bench/replay.py);
# drain (bench/drain.py), startup (bench/startup.py) and memory per idle TLS
# connection (bench/tls_idle.py).
#
# Knobs (environment): BENCH_ROUNDS (3), BENCH_SECONDS (5 per run), BENCH_REPLAY_RECORDS (1000000),
# BENCH_IDLE_CONNECTIONS ("2000,10000"), BENCH_BIN_DIR (skip the build and use
# binaries from this directory), JOBS (build parallelism).
# Benchmarks print numbers; they never fail on a number.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z "${BENCH_BIN_DIR:-}" ]]; then
  cmake --preset release >/dev/null
  if ! cmake --build --preset release -j "${JOBS:-$(nproc)}"; then
    # Keep benchmarking the broker when an unrelated target does not build.
    echo "bench: full release build failed; building only tributaryd and loadgen" >&2
    cmake --build --preset release -j "${JOBS:-$(nproc)}" --target tributaryd loadgen
  fi
  if grep -q storage_bench bench/CMakeLists.txt; then
    cmake --build --preset release -j "${JOBS:-$(nproc)}" --target storage_bench || true
  fi
fi

python3 bench/compare.py
python3 bench/drain.py   # drain: exporter backlog to peer, Mosquitto, Kafka mock
python3 bench/replay.py  # replay and consumer groups
python3 bench/startup.py # time to READY with a 1 GiB log
python3 bench/tls_idle.py # memory per idle TLS connection
