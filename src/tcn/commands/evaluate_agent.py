"""Evaluate an imitation agent on demonstrations it never trained on.

Uses the validation split of --demos (every episode when there is no split) and writes
metrics.json (success_rate: final joint-space error below 0.2 rad; mean_joint_error;
final_joint_error; final_ee_error in metres), side_by_side.gif (demonstration | agent)
and rollout.png (reward and joint error over time). --baseline random|idle|replay|servo
evaluates a reference policy in the same harness (replay reads the demonstration's
joints: it proves the harness, it is not an agent; servo is a proportional law on the
pose features the agent would observe, from the embedding's pose head, with
--pose-source truth from the simulator, or with --pose-source imagined from the
demonstration read by imagining oneself in the embedding (imitation_agent.imagine,
1-2 minutes of a core per demonstration the first time, then cached): it shows what the
observation allows).

examples:
  tcn evaluate-agent --agent runs/agent --demos data/paper --out runs/agent/eval
  tcn evaluate-agent --baseline random --embedding runs/tcn_cpu --demos data/paper \
      --out eval/random
  tcn evaluate-agent --baseline replay --embedding runs/tcn_cpu --demos data/paper \
      --out eval/replay
  tcn evaluate-agent --baseline servo --embedding runs/tcn_pose --demos data/tool \
      --out eval/servo
  tcn evaluate-agent --baseline servo --pose-source imagined --embedding runs/tcn_pose \
      --demos data/tool --out eval/servo_imagined
  tcn evaluate-agent --agent runs/agent_truth --pose-source imagined --demos data/tool \
      --out runs/agent_truth/eval_imagined
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
        choices=["head", "truth", "imagined"],
        default=None,
        help="where the pose features come from: the embedding's pose head (the servo's "
        "default), the simulator, or the demonstration read by imagining (cached beside the "
        "embedding); for --agent it replaces the source it was trained with",
    )
    add_imagine_argument(parser)
    parser.add_argument(
        "--servo-reference",
        choices=["reading", "joints"],
        default="reading",
        help="what the servo compares the demonstration's reading with: the reading of its "
        "own frame (default) or its measured joints",
    )


def add_imagine_argument(parser: argparse.ArgumentParser) -> None:
    """``--imagine SETTING=VALUE ...``, the search settings of ``--pose-source imagined``."""
    from dataclasses import fields

    from imitation_agent.imagine import ImagineConfig

    parser.add_argument(
        "--imagine",
        nargs="+",
        metavar="SETTING=VALUE",
        default=None,
        help="search settings of --pose-source imagined (imitation_agent.imagine."
        f"ImagineConfig: {', '.join(f.name for f in fields(ImagineConfig))}), "
        "e.g. --imagine every=5 iterations=30",
    )


def imagine_config(settings: list[str] | None):
    """``SETTING=VALUE`` strings as an :class:`~imitation_agent.imagine.ImagineConfig`
    (None for none given); unknown settings and bad values raise ``ValueError``."""
    if settings is None:
        return None
    from dataclasses import fields

    from imitation_agent.imagine import ImagineConfig

    kinds = {f.name: type(getattr(ImagineConfig(), f.name)) for f in fields(ImagineConfig)}
    values = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or key not in kinds:
            raise ValueError(
                f"--imagine {item!r}: expected SETTING=VALUE with SETTING one of {sorted(kinds)}"
            )
        try:
            values[key] = kinds[key](value)
        except ValueError as exc:
            raise ValueError(f"--imagine {item!r}: {exc}") from exc
    return ImagineConfig.from_dict(values)


def run(args: argparse.Namespace) -> int:
    from tcn.agent_run import evaluate_agent_run

    if (args.agent is None) == (args.baseline is None):
        raise ValueError("give exactly one of --agent or --baseline")
    imagine = imagine_config(args.imagine)
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
        imagine=imagine,
    )
    shown = {k: v for k, v in metrics.items() if k not in ("demos", "per_episode")}
    print(json.dumps(shown, indent=2))
    return 0
