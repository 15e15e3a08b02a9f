"""Evaluate an imitation agent on demonstrations it never trained on.

Uses the validation split of --demos (every episode when there is no split) and writes
metrics.json (success_rate: final joint-space error below 0.2 rad; mean_joint_error;
final_joint_error; final_ee_error in metres; with a reader, how well the demonstrations
were read), side_by_side.gif (demonstration | agent) and rollout.png (reward and joint
error over time). Each held-out demonstration is read from its frames by --reader (default
render-compare; cached, see tcn read-demos). --baseline random|idle|replay|servo evaluates
a reference policy in the same harness: replay follows the demonstration's recorded joints
(it proves the harness, it is not an agent); servo is a proportional law on the same
observation as the agent (the reading minus the measured joints): what the reading allows.

examples:
  tcn evaluate-agent --agent runs/agent --demos data/demos --out runs/agent/eval
  tcn evaluate-agent --agent runs/agent --demos data/demos --out runs/agent/eval_recorded \\
      --reader recorded
  tcn evaluate-agent --baseline servo --embedding runs/tcn --demos data/demos --out eval/servo
  tcn evaluate-agent --baseline random --embedding runs/tcn --demos data/demos \\
      --out eval/random
  tcn evaluate-agent --baseline replay --embedding runs/tcn --demos data/demos \\
      --out eval/replay
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "metrics.json, video and plot of an agent on held-out demonstrations"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tcn.commands.read_demos import add_reader_arguments

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
    add_reader_arguments(
        parser,
        "what reads each held-out demonstration (default render-compare; recorded: the bag's "
        "joints, a privileged reference)",
    )
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument(
        "--servo-reference",
        choices=["reading", "joints"],
        default="reading",
        help="what the servo compares the demonstration's reading with: the reading of its "
        "own frame (default) or its measured joints",
    )


def run(args: argparse.Namespace) -> int:
    from tcn.agent_eval import evaluate_agent_run
    from tcn.commands.read_demos import reader_settings

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
        reader=args.reader,
        reader_settings=reader_settings(args),
        workers=args.workers,
        servo_reference=args.servo_reference,
        progress=not args.no_progress,
    )
    shown = {k: v for k, v in metrics.items() if k not in ("demos", "per_episode")}
    print(json.dumps(shown, indent=2))
    return 0
