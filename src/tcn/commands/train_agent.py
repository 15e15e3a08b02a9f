"""Train the imitation agent with PPO (stable-baselines3) on the TCN reward.

The default preset is the recipe that imitates: position-delta actions; observed, the arm's
own joints and velocities, the demonstration's reading one step ahead (for training
demonstrations their recorded joints, --observation.train-reader) and the time index;
rewarded, the TCN's -a*d - b*sqrt(g + d) between the embeddings of the agent's frame
(rendered with the demonstration's stored camera) and the demonstration's frame. All
environments' frames are embedded in one batched forward pass per step. Other rewards in
the same harness: oracle (joint-space distance, simulator ground truth) and pixels.
--preset paper: the paper's observation (embeddings), torque actions and PPO settings.

examples:
  tcn train-agent --embedding runs/tcn --demos data/demos --out runs/agent
  tcn train-agent --embedding runs/tcn --demos data/demos --out runs/agent --resume
  tcn train-agent --embedding runs/tcn --demos data/demos --out runs/oracle --reward.kind oracle
  tcn train-agent --embedding runs/tcn --demos data/demos --out runs/read \\
      --observation.train-reader render-compare --workers 2
  tcn train-agent --embedding runs/tcn --demos data/demos --out runs/paper --preset paper
  tcn train-agent --embedding runs/tcn --demos data/demos --out /tmp/a --ppo.timesteps 2048 \\
      --ppo.n-envs 2 --policy.net-arch 64 64 --observation.no-time-feature --vec-env dummy
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "train the PPO imitation agent (rewards: tcn, oracle, pixels)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from imitation_agent.env import EnvConfig
    from imitation_agent.train import AgentConfig
    from tcn.commands.read_demos import add_read_settings
    from tcn.presets import add_flags

    parser.add_argument(
        "--embedding", type=Path, required=True, help="TCN run directory or checkpoint"
    )
    parser.add_argument("--demos", type=Path, required=True, help="dataset directory")
    parser.add_argument("--out", type=Path, required=True, help="run directory")
    parser.add_argument(
        "--preset", default="default", help="preset name or YAML (default: default)"
    )
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument("--checkpoint-every", type=int, default=20_000, help="timesteps")
    parser.add_argument("--no-progress", action="store_true")
    add_read_settings(parser)
    add_flags(parser, AgentConfig, EnvConfig)


def run(args: argparse.Namespace) -> int:
    from imitation_agent.train import AgentConfig
    from tcn.agent_run import train_agent_run
    from tcn.commands.read_demos import reader_settings
    from tcn.presets import config_from_args
    from tcn.runs import stored_settings

    stored = stored_settings(args.out, "agent", args.resume)
    config = config_from_args("agent", args, AgentConfig, stored)
    summary = train_agent_run(
        args.embedding,
        args.demos,
        args.out,
        config,
        resume=args.resume,
        checkpoint_every=args.checkpoint_every,
        progress=not args.no_progress,
        reader_settings=reader_settings(args),
        workers=args.workers,
    )
    print(f"trained {args.out}: {summary}")
    return 0
