#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/, clang with ASan + UBSan) into build-fuzz and runs
# each for SECONDS (default 60) on its corpus, build-fuzz/corpus/<harness>, which the
# harness seeds itself with valid files the first time. Exits non-zero on any finding;
# the input that caused it is kept as build-fuzz/findings/<harness>-crash-*. FUZZ_SEED
# fixes libFuzzer's seed (CI uses 1; default 0 = a random one).
#   scripts/fuzz.sh [SECONDS] [HARNESS...]     e.g. scripts/fuzz.sh 600 fuzz_pickle
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-60}
shift || true
bash scripts/install-deps.sh
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
mkdir -p "$BUILD"
CC=clang CXX=clang++ cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDOMINO_FUZZ=ON \
  -DBUILD_TESTING=OFF -DDOMINO_BUILD_BENCH=OFF > "$BUILD/configure.log"
harnesses=("$@")
if [ ${#harnesses[@]} -eq 0 ]; then
  for f in fuzz/fuzz_*.cpp; do
    harnesses+=("$(basename "$f" .cpp)")
  done
fi
cmake --build "$BUILD" -j "$(nproc)" --target "${harnesses[@]}"
mkdir -p "$BUILD/findings" "$BUILD/logs"
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/scripts/lsan-suppressions.txt}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
status=0
for name in "${harnesses[@]}"; do
  corpus="$BUILD/corpus/$name"
  [ -d "$corpus" ] || DOMINO_FUZZ_SEEDS="$corpus" "$BUILD/fuzz/$name"
  log="$BUILD/logs/$name.log"
  if "$BUILD/fuzz/$name" -max_total_time="$SECONDS_EACH" -seed="${FUZZ_SEED:-0}" -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
       -artifact_prefix="$BUILD/findings/$name-" "$corpus" > "$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    echo "fuzz: $name: no finding in ${SECONDS_EACH}s, $runs inputs, corpus $(ls "$corpus" | wc -l) files"
  else
    status=1
    echo "fuzz: $name: FINDING (log $log)"
    grep -m 5 -E 'ERROR|finding|runtime error|SUMMARY' "$log" || tail -20 "$log"
  fi
done
exit $status
