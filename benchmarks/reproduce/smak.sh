#!/usr/bin/env bash
# The multi-view row: the seed's ablation (multi-view TCN, SMAK-Net variants; docs/smak.md),
# n-pairs, the `contrastive` preset, seeds 0 1 2, mean ± std, on two datasets of 200
# three-view episodes (190 train / 10 validation), 96 px:
# - random: random start-to-goal motion, the first recordings' scene (--preset paper, as
#   data/mv3s of docs/smak.md), staggered joints; alignment error only -> $OUT/random/table.md
# - reach: the reach task in the recipe's scene (the default preset, where docs/embedding.md
#   measured its floors); alignment error and the classification error beside its two
#   floors -> $OUT/reach/table.md
# (SMAK's single-view triplet accuracy, beside TCN's: benchmarks/reproduce/embedding.sh.)
# EPOCHS (default 120 = 3840 steps) sets every run's budget, ROWS their rows (default
# smak_table.py's: the seed's eight), SEEDS the seeds, PARALLEL the runs trained at once.
# Many hours on 2 cores at 120 epochs (EPOCHS=40 with PARALLEL=2 and --extra --threads 1:
# about 9 minutes a reach run, 6 a random one, two at a time). Further arguments go to
# smak_table.py; on a GPU: benchmarks/reproduce/smak.sh runs/reproduce/smak --extra --device cuda
# Usage: [EPOCHS=120] [ROWS="tcn att12 ..."] [SEEDS="0 1 2"] [PARALLEL=1]
#        benchmarks/reproduce/smak.sh [OUT [FLAGS...]]
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/reproduce/smak}
shift || true
TCN=${TCN:-.venv/bin/tcn}
PY=${PY:-.venv/bin/python}
EPOCHS=${EPOCHS:-120}
ROWS=${ROWS:-}
SEEDS=${SEEDS:-0 1 2}
PARALLEL=${PARALLEL:-1}
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
"$TCN" record --out "$OUT/data/random" --episodes 200 --val-episodes 10 --views 3 \
    --preset paper --image-size 96 --joint-timing staggered --workers 2 --no-progress
"$TCN" record --out "$OUT/data/reach" --episodes 200 --val-episodes 10 --views 3 \
    --task reach --image-size 96 --workers 2 --no-progress
for data in random reach; do
    # shellcheck disable=SC2086  # ROWS and SEEDS are lists
    "$PY" benchmarks/smak_table.py --data "$OUT/data/$data" --out "$OUT/$data" \
        ${ROWS:+--rows $ROWS} --epochs "$EPOCHS" --seeds $SEEDS --parallel "$PARALLEL" "$@"
done
