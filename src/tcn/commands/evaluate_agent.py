"""Evaluate an imitation agent on demonstrations it never trained on.

Uses the validation split of --demos (every episode when there is no split) and writes
metrics.json (success_rate: final joint-space error below 0.2 rad; mean_joint_error;
final_joint_error; final_ee_error in metres), side_by_side.gif (demonstration | agent)
and rollout.png (reward and joint error over time). --baseline random|idle|replay|servo
evaluates a reference policy in the same harness (replay reads the demonstration's
joints: it proves the harness, it is not an agent; servo is a proportional law on the
pose features the agent would observe, from the embedding's pose head or, with
--pose-source truth, from the simulator: it shows what the observation allows).

examples:
  tcn evaluate-agent --agent runs/agent --demos data/paper --out runs/agent/eval
  tcn evaluate-agent --baseline random --embedding runs/tcn_cpu --demos data/paper \
      --out eval/random
  tcn evaluate-agent --baseline replay --embedding runs/tcn_cpu --demos data/paper \
      --out eval/replay
  tcn evaluate-agent --baseline servo --embedding runs/tcn_pose --demos data/tool \
      --out eval/servo
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "metrics.json, video and plot of an agent on held-out demonstrations"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--agent", type=Path, default=None, help="agent run directory")
    parser.add_argument(
        "--baseline",
        choices=["random", "idle", "replay", "servo"],
        default=None,
        help="evaluate a reference policy instead of --agent",
    )
    parser.add_argument(
        "--embedding", type=Path, default=None, help="TCN run or checkpoint (default: the agent's)"
    )
    parser.add_argument("--demos", type=Path, required=True, help="dataset directory")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--episodes", type=int, default=None, help="at most this many demos")
    parser.add_argument("--no-video", action="store_true")
    parser.add_argument(
        "--pose-source",
        choices=["head", "truth"],
        default="head",
        help="where the servo baseline reads the pose (default: the embedding's pose head)",
    )
    parser.add_argument(
        "--servo-reference",
        choices=["reading", "joints"],
        default="reading",
        help="what the servo compares the demonstration's reading with: the reading of its "
        "own frame (default) or its measured joints",
    )


def run(args: argparse.Namespace) -> int:
    from tcn.agent_run import evaluate_agent_run

    if (args.agent is None) == (args.baseline is None):
        raise ValueError("give exactly one of --agent or --baseline")
    metrics = evaluate_agent_run(
        args.agent,
        args.demos,
        args.out,
        baseline=args.baseline,
        embedding=args.embedding,
        episodes=args.episodes,
        video=not args.no_video,
        pose_source=args.pose_source,
        servo_reference=args.servo_reference,
    )
    shown = {k: v for k, v in metrics.items() if k not in ("demos", "per_episode")}
    print(json.dumps(shown, indent=2))
    return 0
