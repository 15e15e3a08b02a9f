#!/usr/bin/env bash
# The embedding row: triplet accuracy (paper protocol, 1000 triplets) of the time-contrastive
# objective alone on the paper's dataset (200 episodes, 190/10), the `contrastive` preset.
# About half an hour of training on 2 cores. Usage: benchmarks/reproduce/embedding.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/reproduce/embedding}
TCN=${TCN:-.venv/bin/tcn}
"$TCN" record --out "$OUT/data" --episodes 200 --val-episodes 10 --preset paper --workers 2 \
    --no-progress
[ -f "$OUT/tcn/checkpoints/last.pt" ] && RESUME=--resume || RESUME=
"$TCN" train-embedding --data "$OUT/data" --out "$OUT/tcn" --preset contrastive --no-progress \
    $RESUME
"$TCN" evaluate-embedding --model "$OUT/tcn" --data "$OUT/data" --out "$OUT/tcn/eval"
