"""Train the imitation agent with PPO (stable-baselines3) on the TCN reward.

Observations: joint positions and velocities, the TCN embedding of the agent's own
frame (rendered with the demonstration's stored camera), the demonstration's embedding
at the same step, and by default a one-step look-ahead embedding and the time index.
All environments' frames are embedded in one batched forward pass per step. Rewards:
tcn (the paper's -a*d - b*sqrt(g + d)), oracle (joint-space distance, simulator ground
truth) and pixels, in the same harness. Presets: cpu (tuned defaults) and paper.

examples:
  tcn train-agent --embedding runs/tcn_cpu --demos data/paper --out runs/agent
  tcn train-agent --embedding runs/tcn_cpu --demos data/paper --out runs/agent --resume
  tcn train-agent --embedding runs/tcn_cpu --demos data/paper --out runs/oracle --reward oracle
  tcn train-agent --embedding runs/tcn_cpu --demos data/paper --out runs/paper --preset paper
  tcn train-agent --embedding runs/tcn_cpu --demos data/paper --out /tmp/a --timesteps 2048 \\
      --n-envs 2 --vec-env dummy
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "train the PPO imitation agent (rewards: tcn, oracle, pixels)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from imitation_agent.train import AgentConfig
    from tcn.commands.evaluate_agent import add_imagine_argument
    from tcn.presets import add_flags

    parser.add_argument(
        "--embedding", type=Path, required=True, help="TCN run directory or checkpoint"
    )
    parser.add_argument("--demos", type=Path, required=True, help="dataset directory")
    parser.add_argument("--out", type=Path, required=True, help="run directory")
    parser.add_argument("--preset", default="cpu", help="preset name or YAML (default cpu)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument("--checkpoint-every", type=int, default=20_000, help="timesteps")
    parser.add_argument("--no-progress", action="store_true")
    add_imagine_argument(parser)
    add_flags(parser, AgentConfig)


def run(args: argparse.Namespace) -> int:
    from imitation_agent.train import AgentConfig
    from tcn.agent_run import train_agent_run
    from tcn.commands.evaluate_agent import imagine_config
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
        imagine=imagine_config(args.imagine),
    )
    print(f"trained {args.out}: {summary}")
    return 0
