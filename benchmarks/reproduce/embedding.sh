#!/usr/bin/env bash
# The embedding row: single-view triplet accuracy (paper protocol, 1000 triplets on the 10
# validation episodes) of the time-contrastive objective alone on the paper's dataset (200
# episodes, 190/10), the `contrastive` preset (ResNet-18 trunk, triplet loss, 60 epochs):
# TCN (row tcn_resnet) beside SMAK-Net att123 on the same trunk (row resnet), seeds 0 1 2,
# mean ± std -> $OUT/table.md (benchmarks/smak_table.py; docs/smak.md). About 10 minutes a
# TCN run and 12 a SMAK run on 2 cores with PARALLEL=2 (add --extra --threads 1).
# Usage: [SEEDS="0 1 2"] [PARALLEL=1] benchmarks/reproduce/embedding.sh [OUT [FLAGS...]]
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/reproduce/embedding}
shift || true
TCN=${TCN:-.venv/bin/tcn}
PY=${PY:-.venv/bin/python}
SEEDS=${SEEDS:-0 1 2}
PARALLEL=${PARALLEL:-1}
"$TCN" record --out "$OUT/data" --episodes 200 --val-episodes 10 --preset paper --workers 2 \
    --no-progress
# shellcheck disable=SC2086  # SEEDS is a list
"$PY" benchmarks/smak_table.py --data "$OUT/data" --out "$OUT" --rows tcn_resnet resnet \
    --loss triplet --epochs 60 --seeds $SEEDS --parallel "$PARALLEL" "$@"
