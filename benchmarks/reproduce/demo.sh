#!/usr/bin/env bash
# The make demo row: `tcn quickstart` (the default preset) over 3 seeds, then mean and spread.
# About 20 minutes a seed on 2 cores. Usage: benchmarks/reproduce/demo.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/reproduce/demo}
TCN=${TCN:-.venv/bin/tcn}
PY=${PY:-.venv/bin/python}
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
for seed in 0 1 2; do
    "$TCN" quickstart --out "$OUT/seed_$seed" --seed "$seed" --no-progress
done
"$PY" benchmarks/reproduce/seeds.py "$OUT"/seed_*
