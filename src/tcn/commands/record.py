"""Record demonstrations of the simulated iiwa as rosbag2 bags (one per episode).

Each episode moves the arm from a random start to a random goal configuration
(minimum-jerk, then holding the goal) and renders every view at each control
step. With --task reach, every episode instead goes from one home pose to one of four
fixed target poses, both perturbed by up to 0.2 rad per joint, with the same motion: the
task dataset the classification error is measured on (ARCHITECTURE.md); the targets cycle
through each split, and dataset.yaml names each episode's. The dataset index
`dataset.yaml` keeps the seed, cameras and split. Re-running the same command resumes an
interrupted recording.

The default preset is the scene of the working recipe (96 px, a tool twice the default
size, the camera 1.9 m away at pitch -30 degrees); --preset paper is the first
recordings' (128 px, default tool, 1.5 m, pitch -20).

examples:
  # the recipe's demonstrations: 300 episodes, 280 train / 20 held out
  tcn record --out data/demos --episodes 300 --val-episodes 20 --workers 2
  # the robot's self-observation for the pose reader (train-embedding --pose-data): every
  # frame a new random configuration, same scene and camera
  tcn record --out data/self --episodes 300 --val-episodes 0 --motion babble --workers 2
  # the same in pairs, each second frame a small move of the first (--pair-weight)
  tcn record --out data/pairs --episodes 300 --val-episodes 0 --motion pairs --workers 2
  # the paper's dataset: 200 episodes, 190 train / 10 validation
  tcn record --out data/paper --episodes 200 --val-episodes 10 --preset paper --workers 2
  # small multi-view data for SMAK-Net / multi-view TCN
  tcn record --out data/mv --episodes 20 --views 3
  # the reach task, for the classification error: 190 train / 10 validation, 3 views
  tcn record --out data/reach --episodes 200 --val-episodes 10 --task reach --views 3 \
      --workers 2
  # a quick look
  tcn record --out /tmp/demo --episodes 3 --frames 60 --image-size 64
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "record demonstration episodes as rosbag2 bags"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="dataset directory to write")
    parser.add_argument("--episodes", type=int, default=10, help="number of episodes (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    parser.add_argument("--workers", type=int, default=1, help="parallel worker processes")
    parser.add_argument(
        "--val-episodes",
        type=int,
        default=None,
        help="validation episodes, taken from the end (default: 5%%, at least 1)",
    )
    parser.add_argument(
        "--motion",
        choices=["demonstration", "babble", "pairs"],
        default="demonstration",
        help="start-to-goal demonstrations (default), or babble: an independent random "
        "configuration every frame, self-observation for --pose-data (docs/sim.md), or "
        "pairs: babble where each second frame is a small move of the first",
    )
    parser.add_argument(
        "--task",
        choices=["random", "reach"],
        default="random",
        help="random: a random start to a random goal (default); reach: from one home pose "
        "to one of four fixed target poses, both perturbed by up to 0.2 rad per joint, for "
        "the classification error (docs/data.md)",
    )
    parser.add_argument(
        "--pair-sigma",
        type=float,
        default=0.1,
        help="with --motion pairs, rad per joint of each pair's move (default 0.1)",
    )
    parser.add_argument("--storage", choices=["mcap", "sqlite3"], default="mcap")
    parser.add_argument("--urdf", default=None, help="robot URDF (default: PyBullet's iiwa)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--preset",
        default="default",
        help="preset name or YAML (default: default, the working recipe's scene; paper: the "
        "first recordings')",
    )
    from tcn.presets import add_flags
    from tcn.record import RecordConfig

    add_flags(parser, RecordConfig)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from kuka_sim import DemoConfig, SimConfig
    from kuka_sim.demo import ReachTask
    from tcn.commands.inspect import print_dataset
    from tcn.presets import config_from_args
    from tcn.record import RecordConfig, record_dataset

    if args.task == "reach" and args.motion != "demonstration":
        raise ValueError(
            f"--task reach records demonstrations from home to a target; --motion "
            f"{args.motion} records none (leave --motion at its default with --task reach)"
        )
    config = config_from_args("record", args, RecordConfig)
    sim = SimConfig(
        control_rate=config.control_rate,
        tool_scale=config.tool_scale,
        **({"urdf": args.urdf} if args.urdf else {}),
    )
    cameras = config.cameras()
    with tqdm(total=args.episodes, desc="record", unit="ep", disable=args.no_progress) as bar:
        index = record_dataset(
            args.out,
            args.episodes,
            cameras,
            seed=args.seed,
            sim=sim,
            demo=DemoConfig(
                frames=config.frames,
                joint_timing=config.joint_timing,
                motion=args.motion,
                pair_sigma=args.pair_sigma,
            ),
            val_episodes=args.val_episodes,
            workers=args.workers,
            storage=args.storage,
            task=ReachTask() if args.task == "reach" else None,
            on_episode=lambda name: bar.update(1),
        )
        bar.n = len(index.episodes)
        bar.refresh()
    print_dataset(args.out)
    return 0
