"""The whole pipeline on a small default: record, train the embedding, train the agent, evaluate.

Writes OUT/demos (the dataset), OUT/embedding (TCN run + eval), OUT/agent (PPO run +
eval on held-out demonstrations), OUT/baselines (random and replay policies in the same
harness) and OUT/report.md with the numbers and pictures. The default sizes take about
10 minutes on 2 CPU cores; every stage resumes when run again with the same --out.

examples:
  tcn quickstart --out runs/quickstart
  tcn quickstart --out runs/qs_big --episodes 100 --embedding-epochs 60 --agent-steps 200000
  tcn quickstart --out /tmp/qs --episodes 4 --frames 40 --embedding-epochs 1 --agent-steps 256
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "run the whole pipeline on a small default and write a report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="directory for everything")
    parser.add_argument("--episodes", type=int, default=40, help="demonstrations to record")
    parser.add_argument("--val-episodes", type=int, default=4, help="held out for evaluation")
    parser.add_argument("--frames", type=int, default=100, help="frames per demonstration")
    parser.add_argument("--image-size", type=int, default=128, help="camera size (px)")
    parser.add_argument("--embedding-epochs", type=int, default=30)
    parser.add_argument("--agent-steps", type=int, default=40_000)
    parser.add_argument("--n-envs", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="recording processes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from tcn.quickstart import quickstart

    report = quickstart(
        args.out,
        episodes=args.episodes,
        val_episodes=args.val_episodes,
        frames=args.frames,
        image_size=args.image_size,
        embedding_epochs=args.embedding_epochs,
        agent_steps=args.agent_steps,
        n_envs=args.n_envs,
        workers=args.workers,
        seed=args.seed,
        progress=not args.no_progress,
    )
    print(report.read_text())
    print(f"report: {report}")
    return 0
