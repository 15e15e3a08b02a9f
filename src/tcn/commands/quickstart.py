"""The working recipe end to end: record, train the embedding, read, train PPO, evaluate.

Records demonstrations (OUT/demos) and the robot's self-observation (OUT/self), trains the
embedding (OUT/embedding: a pose-reader stage, then triplets plus self-regression), reads
the held-out demonstrations from their frames by render-and-compare (cached beside the
embedding), trains PPO on the TCN reward (OUT/agent), evaluates it on the held-out
demonstrations as read, beside random, idle, replay and servo baselines (OUT/baselines),
and writes OUT/report.md and OUT/summary.json. Every stage resumes when run again with the
same --out. Sizes come from a preset: default (make demo, about 20 minutes on 2 cores),
headline (the same training sizes with 20 demonstrations held out: the README's headline
row) or full (300 demonstrations and a long embedding schedule, hours); each can be
overridden by its flag.

examples:
  tcn quickstart --out runs/quickstart
  tcn quickstart --out runs/headline --preset headline --seed 1
  tcn quickstart --out /tmp/qs --episodes 3 --val-episodes 1 --self-episodes 2 --frames 30 \\
      --pose-steps 2 --embedding-epochs 1 --agent-steps 64 --n-envs 1 --workers 1
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "run the working recipe at a small size (or --preset headline|full) and write a report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tcn.presets import add_flags
    from tcn.quickstart import QuickstartConfig

    parser.add_argument("--out", type=Path, required=True, help="directory for everything")
    parser.add_argument(
        "--preset",
        default="default",
        help="sizes: default (make demo), headline, full, or a YAML path",
    )
    parser.add_argument("--no-progress", action="store_true")
    add_flags(parser, QuickstartConfig)


def run(args: argparse.Namespace) -> int:
    from tcn.presets import config_from_args
    from tcn.quickstart import QuickstartConfig, quickstart

    config = config_from_args("quickstart", args, QuickstartConfig)
    report = quickstart(args.out, config, progress=not args.no_progress)
    print(report.read_text())
    print(f"report: {report}")
    return 0
