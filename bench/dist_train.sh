#!/usr/bin/env bash
# Data-parallel training throughput on one machine: ResNet-20 (or MODEL) on Fashion-MNIST,
# global batch 64, 1 process x 2 threads against 2 processes x 1 thread (domino launch, Gloo
# on loopback): gradients reduced while backward runs (c10d's Reducer, the default) or after
# it (--no-dist-overlap), and with --sync-bn; alternated, REPEATS times each. Prints the
# training images/s of each run (rank 0's metrics.jsonl: the mean of its log lines after the
# first, x ranks; a line every LOG_EVERY iterations, default 20).
#   [MODEL=resnet50 LOG_EVERY=10] bash bench/dist_train.sh [ITERS] [REPEATS]
set -euo pipefail
cd "$(dirname "$0")/.."
ITERS=${1:-200}
REPEATS=${2:-3}
B=${BUILD_DIR:-build}/apps/domino/domino
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
common="train --model ${MODEL:-resnet20} --dataset fashion-mnist --batch-size 64 --max-iters $ITERS --log-every ${LOG_EVERY:-20} --workers 1 --precision fp32"
images_per_s() {  # rank 0's log: images/s of its shard, x the world size
  python3 - "$1/metrics.jsonl" "$2" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"train"' in l][1:]
print(f"{sum(r['images_per_s'] for r in rows) / len(rows) * int(sys.argv[2]):.0f}")
PY
}
for r in $(seq "$REPEATS"); do
  "$B" $common --threads 2 --out "$OUT/one$r" >/dev/null 2>&1
  echo "1 process x 2 threads: $(images_per_s "$OUT/one$r" 1) images/s"
  "$B" launch --nproc-per-node 2 --master-port $((29600 + r)) -- $common --threads 1 --out "$OUT/two$r" >/dev/null 2>&1
  echo "2 processes x 1 thread: $(images_per_s "$OUT/two$r" 2) images/s"
  "$B" launch --nproc-per-node 2 --master-port $((29800 + r)) -- $common --threads 1 --no-dist-overlap --out "$OUT/after$r" >/dev/null 2>&1
  echo "2 processes x 1 thread, --no-dist-overlap: $(images_per_s "$OUT/after$r" 2) images/s"
  "$B" launch --nproc-per-node 2 --master-port $((29700 + r)) -- $common --threads 1 --sync-bn --out "$OUT/sync$r" >/dev/null 2>&1
  echo "2 processes x 1 thread, --sync-bn: $(images_per_s "$OUT/sync$r" 2) images/s"
done
