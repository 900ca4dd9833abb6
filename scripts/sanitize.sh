#!/usr/bin/env bash
# Builds the library, the CLI and the tests with AddressSanitizer + UBSan (gcc) into
# build-asan and runs the whole test suite there. Any sanitizer report fails the test
# that caused it (UBSan is built not to recover).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
BUILD=${SANITIZE_BUILD_DIR:-build-asan}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDOMINO_SANITIZE=ON -DDOMINO_BUILD_BENCH=OFF
cmake --build "$BUILD" -j "$(nproc)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/scripts/lsan-suppressions.txt}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
ctest --test-dir "$BUILD" --output-on-failure -j "$(nproc)" --timeout 2400 "$@"
