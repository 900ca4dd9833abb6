#!/usr/bin/env bash
# The README's first command: install, build, and run the whole pipeline on the embedded
# default (Fashion-MNIST), at a compact budget (configs/demo.yaml, about 11-15 minutes on
# 2 cores once built): dense ResNet-20 -> DominoSearch at 75 % params -> SR-STE fine-tuning of the
# searched and the uniform scheme -> comparison table and HTML report in runs/demo/.
# Interrupted, it resumes where it stopped: finished steps are cached.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
BUILD_DIR=${BUILD_DIR:-build}
"$BUILD_DIR/apps/domino/domino" info --model resnet20 --dataset fashion-mnist
"$BUILD_DIR/apps/domino/domino" experiment --config configs/demo.yaml "$@"
