#!/usr/bin/env bash
# The README's first command: install, build, and run the main job on the embedded
# default (Fashion-MNIST): train a dense ResNet-20, evaluate it, print its layer table.
# The checkpoint lands in runs/demo/dense/, where the search stage looks for it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
BUILD_DIR=${BUILD_DIR:-build}
DOMINO="$BUILD_DIR/apps/domino/domino"
OUT=${DEMO_OUT:-runs/demo}

"$DOMINO" info --model resnet20 --dataset fashion-mnist
"$DOMINO" train --config configs/fashion-mnist-resnet20.yaml --out "$OUT/dense" "$@"
"$DOMINO" eval --checkpoint "$OUT/dense/checkpoint.pt" --split test
echo "demo: dense checkpoint at $OUT/dense/checkpoint.pt (metrics in $OUT/dense/metrics.jsonl)"
