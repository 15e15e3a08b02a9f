"""Mean and spread over seeds of the numbers ``tcn quickstart`` writes to summary.json.

    python benchmarks/reproduce/seeds.py runs/reproduce/demo/seed_*

Prints, and writes beside the runs as ``seeds.json``, the agent's success rate, the
reading's share of final poses within 0.2 rad and each baseline's success rate: mean,
standard deviation (over seeds, ddof 1), and every seed's value.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def spread(values: list[float]) -> dict:
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "values": values,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="quickstart output directories")
    args = parser.parse_args()
    summaries = [json.loads((run / "summary.json").read_text()) for run in args.runs]
    table = {
        "runs": [str(r) for r in args.runs],
        "agent_success_rate": spread([s["success_rate"] for s in summaries]),
        "reading_final_success_rate": spread(
            [s["reading"]["final_success_rate"] for s in summaries]
        ),
        "minutes": spread([sum(s["seconds"].values()) / 60 for s in summaries]),
    }
    for name in summaries[0]["baselines"]:
        table[f"{name}_success_rate"] = spread(
            [s["baselines"][name]["success_rate"] for s in summaries]
        )
    out = args.runs[0].parent / "seeds.json"
    out.write_text(json.dumps(table, indent=2))
    for key, value in table.items():
        if key != "runs":
            print(f"{key:32s} {value['mean']:.3f} +- {value['std']:.3f}  {value['values']}")
    print(f"written: {out}")


if __name__ == "__main__":
    main()
