#!/usr/bin/env bash
# The headline row: the recipe at the headline's sizes (`tcn quickstart --preset full`: 300
# demonstrations, 20 held out, a 6000-step pose reader, 500k PPO steps) over 3 seeds, and the
# oracle-reward agent in the same harness on seed 0's embedding. Hours a seed on 2 cores.
# Usage: benchmarks/reproduce/headline.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/reproduce/headline}
TCN=${TCN:-.venv/bin/tcn}
PY=${PY:-.venv/bin/python}
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
for seed in 0 1 2; do
    "$TCN" quickstart --preset full --out "$OUT/seed_$seed" --seed "$seed" --no-progress
done
"$PY" benchmarks/reproduce/seeds.py "$OUT"/seed_*
S0="$OUT/seed_0"
[ -f "$OUT/oracle/checkpoints/last.zip" ] && RESUME=--resume || RESUME=
"$TCN" train-agent --embedding "$S0/embedding" --demos "$S0/demos" --out "$OUT/oracle" \
    --reward.kind oracle --ppo.timesteps 100000 --no-progress $RESUME
"$TCN" evaluate-agent --agent "$OUT/oracle" --demos "$S0/demos" --out "$OUT/oracle/eval" \
    --workers 2 --no-video
