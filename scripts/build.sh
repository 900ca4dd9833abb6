#!/usr/bin/env bash
# Installs dependencies, configures (Release) and builds into ${BUILD_DIR:-build}.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-Release}
# Each LibTorch translation unit needs ~1 GiB to compile: one job per core is safe here.
cmake --build "$BUILD_DIR" -j "$(nproc)"
