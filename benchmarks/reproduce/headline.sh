#!/usr/bin/env bash
# The headline row: `tcn quickstart --preset headline` (the recipe at make demo's training
# sizes, 20 demonstrations held out and read from their frames) over seeds 0, 1, 2, then an
# agent on the oracle reward (the joint-space distance to the demonstration's recorded pose)
# in the same harness on each seed, everything else as the recipe's agent. About 30 minutes a
# seed on 2 cores. Usage: [SEEDS="0 1 2"] benchmarks/reproduce/headline.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/reproduce/headline}
TCN=${TCN:-.venv/bin/tcn}
PY=${PY:-.venv/bin/python}
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
SEEDS=${SEEDS:-0 1 2}
for seed in $SEEDS; do
    S="$OUT/seed_$seed"
    "$TCN" quickstart --preset headline --out "$S" --seed "$seed" --no-progress
    [ -f "$S/oracle/checkpoints/last.zip" ] && RESUME=--resume || RESUME=
    "$TCN" train-agent --embedding "$S/embedding" --demos "$S/demos" --out "$S/oracle" \
        --reward.kind oracle --ppo.timesteps 30000 --seed "$seed" --no-progress $RESUME
    "$TCN" evaluate-agent --agent "$S/oracle" --demos "$S/demos" --out "$S/oracle/eval" \
        --workers 2 --no-video --no-progress
done
RUNS=(); for seed in $SEEDS; do RUNS+=("$OUT/seed_$seed"); done
"$PY" benchmarks/reproduce/seeds.py "${RUNS[@]}"
"$PY" benchmarks/reproduce/compare_agents.py "${RUNS[@]}" --agents agent oracle \
    --may-differ reward.kind
