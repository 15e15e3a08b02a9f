#!/usr/bin/env bash
# The multi-view row: the seed's ablation (multi-view TCN, SMAK-Net variants) on 200
# three-view episodes, n-pairs, the `contrastive` preset, 3 seeds (docs/smak.md). Many hours
# on 2 cores; on a GPU add --extra --device cuda. Usage: benchmarks/reproduce/smak.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/reproduce/smak}
TCN=${TCN:-.venv/bin/tcn}
PY=${PY:-.venv/bin/python}
"$TCN" record --out "$OUT/data" --episodes 200 --val-episodes 10 --views 3 --preset paper \
    --image-size 96 --joint-timing staggered --workers 2 --no-progress
"$PY" benchmarks/smak_table.py --data "$OUT/data" --out "$OUT/runs" --epochs 120 --seeds 0 1 2
