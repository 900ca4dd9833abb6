#!/usr/bin/env bash
# A whole `domino search` against the same search written the way the authors' PyTorch
# code runs it (bench/python/search_reference.py: fp32, argsort masks, DataLoader), both
# as whole processes on the same dense checkpoint, alternated, REPEATS times each.
#   bash bench/search_vs_python.sh CHECKPOINT [ITERS] [REPEATS]
# The options keep N_int falling (vote ratio 1e-4) so that masks are on from iteration
# 100, without reaching a decision: both sides do the same work for ITERS iterations.
# Our search then stops at its iteration budget with an error, which is expected here.
set -uo pipefail
cd "$(dirname "$0")/.."
CHECKPOINT=${1:?dense checkpoint}
ITERS=${2:-600}
REPEATS=${3:-3}
B=${BUILD_DIR:-build}/apps/domino/domino
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
common="--checkpoint $CHECKPOINT --target params:0.875 --M 16 --vr 0.0001 --max-iters $ITERS --threads 2 --workers 2"
seconds() {
  local s e
  s=$(date +%s%N)
  "$@" >"$OUT/log" 2>&1
  e=$(date +%s%N)
  printf '%d.%02d' $(((e - s) / 1000000000)) $((((e - s) / 10000000) % 100))
}
for r in $(seq "$REPEATS"); do
  for precision in fp32 bf16; do
    for format in contiguous channels-last; do
      t=$(seconds "$B" search $common --precision $precision --memory-format $format --out "$OUT/s$r$precision$format")
      echo "domino search $precision $format: $t s"
    done
  done
  t=$(seconds /usr/bin/python3 bench/python/search_reference.py --checkpoint "$CHECKPOINT" --iters "$ITERS" --threads 2 --workers 2 --vr 0.0001)
  echo "python reference (fp32, NCHW): $t s   [$(tail -1 "$OUT/log")]"
done
