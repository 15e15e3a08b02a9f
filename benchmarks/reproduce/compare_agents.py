"""Agents of the same quickstart runs side by side: mean and spread over seeds of each one's
held-out success and errors, from its ``eval/metrics.json``.

    python benchmarks/reproduce/compare_agents.py runs/reproduce/demo/seed_* \
        --agents agent agent_read

Prints a table and writes it beside the runs as ``agents_<first>_<second>...json`` (so that
the headline's agent-oracle comparison and the read targets' agent-agent_read one, on the
same runs, both stay); each agent's run must
differ from the first's in its settings only by those of ``--may-differ`` (checked; by
default ``observation.train_reader``, so the comparison is of the targets alone; the
headline's oracle differs by ``reward.kind``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from seeds import spread

from tcn.runs import flat_settings, read_config

KEYS = ("success_rate", "mean_joint_error", "final_joint_error", "final_ee_error")
SAME_BUT = ("observation.train_reader",)
"""Settings the compared agents may differ in, by default."""


def settings(run: Path) -> dict:
    return flat_settings(read_config(run)["agent"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="quickstart output directories")
    parser.add_argument("--agents", nargs="+", default=["agent", "agent_read"])
    parser.add_argument("--may-differ", nargs="+", default=list(SAME_BUT), metavar="SETTING")
    args = parser.parse_args()
    table: dict = {"runs": [str(r) for r in args.runs]}
    for run in args.runs:
        first = settings(run / args.agents[0])
        for name in args.agents[1:]:
            other = settings(run / name)
            differ = {k for k in first.keys() | other.keys() if first.get(k) != other.get(k)}
            if differ - set(args.may_differ):
                raise SystemExit(f"{run}: {name} differs from {args.agents[0]} in {differ}")
    for name in args.agents:
        metrics = [json.loads((r / name / "eval" / "metrics.json").read_text()) for r in args.runs]
        own = settings(args.runs[0] / name)
        table[name] = {
            **{key: own.get(key) for key in args.may_differ},
            **{key: spread([m[key] for m in metrics]) for key in KEYS},
        }
    out = args.runs[0].parent / f"agents_{'_'.join(args.agents)}.json"
    out.write_text(json.dumps(table, indent=2))
    print(f"| agent ({', '.join(args.may_differ)}) | " + " | ".join(KEYS) + " |")
    print("|---" * (len(KEYS) + 1) + "|")
    for name in args.agents:
        row = table[name]
        cells = [f"{row[k]['mean']:.3f} ± {row[k]['std']:.3f}" for k in KEYS]
        differing = ", ".join(str(row[key]) for key in args.may_differ)
        print(f"| {name} ({differing}) | " + " | ".join(cells) + " |")
    print(f"written: {out}")


if __name__ == "__main__":
    main()
