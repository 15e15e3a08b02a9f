#!/usr/bin/env bash
# The read-targets row: the recipe's agent trained on its training demonstrations as read
# from their frames (`--observation.train-reader render-compare`) instead of their recorded
# joints, everything else as `tcn quickstart`'s agent (the default preset, 30k steps), then
# both on the same held-out readings, over seeds 0, 1, 2. Needs the quickstart runs of
# benchmarks/reproduce/headline.sh (20 held-out demonstrations a seed; the default) or of
# benchmarks/reproduce/demo.sh (4); about 15 minutes a seed on 2 cores, most of it reading
# the 40 training demonstrations (cached in each embedding run).
# Usage: [SEEDS="0 1 2"] benchmarks/reproduce/read_targets.sh [QUICKSTART_RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/reproduce/headline}
TCN=${TCN:-.venv/bin/tcn}
PY=${PY:-.venv/bin/python}
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
SEEDS=${SEEDS:-0 1 2}
for seed in $SEEDS; do
    S="$OUT/seed_$seed"
    [ -f "$S/agent_read/checkpoints/last.zip" ] && RESUME=--resume || RESUME=
    "$TCN" train-agent --embedding "$S/embedding" --demos "$S/demos" --out "$S/agent_read" \
        --observation.train-reader render-compare --ppo.timesteps 30000 --seed "$seed" \
        --workers 2 --no-progress $RESUME
    "$TCN" evaluate-agent --agent "$S/agent_read" --demos "$S/demos" --out "$S/agent_read/eval" \
        --workers 2 --no-video --no-progress
done
RUNS=(); for seed in $SEEDS; do RUNS+=("$OUT/seed_$seed"); done
"$PY" benchmarks/reproduce/compare_agents.py "${RUNS[@]}" --agents agent agent_read
