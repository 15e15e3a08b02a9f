#!/usr/bin/env bash
# The imitation-on-the-graph row: the make demo agent of each seed deployed by tcn launch's
# nodes on 5 new held-out demonstrations, against offline evaluation (about 10 minutes a seed
# on 2 cores). Needs benchmarks/reproduce/demo.sh's runs. Usage: benchmarks/reproduce/graph.sh [DEMO_OUT]
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/reproduce/demo}
PY=${PY:-.venv/bin/python}
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
for seed in 0 1 2; do
    "$PY" benchmarks/graph_imitation.py --run "$OUT/seed_$seed"
done
"$PY" - "$OUT" <<'PY'
import json, statistics, sys
from pathlib import Path
runs = sorted(Path(sys.argv[1]).glob("seed_*/graph_imitation.json"))
for key in ("graph_success_rate", "offline_success_rate"):
    values = [json.loads(r.read_text())[key] for r in runs]
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    print(f"{key:24s} {statistics.fmean(values):.3f} +- {spread:.3f}  {values}")
PY
