"""Record demonstrations of the simulated iiwa as rosbag2 bags (one per episode).

Each episode moves the arm from a random start to a random goal configuration
(minimum-jerk, then holding the goal) and renders every view at each control
step. The dataset index `dataset.yaml` keeps the seed, cameras and split.
Re-running the same command resumes an interrupted recording.

examples:
  # the paper's dataset: 200 episodes, 190 train / 10 validation
  tcn record --out data/paper --episodes 200 --val-episodes 10 --workers 2
  # small multi-view data for SMAK-Net / multi-view TCN
  tcn record --out data/mv --episodes 20 --views 3 --image-size 96
  # the robot's self-observation for self-regression (train-embedding --pose-data):
  # every frame a new random configuration, same camera as data/tool
  tcn record --out data/babble --episodes 300 --image-size 96 --motion babble --workers 2
  # the same in pairs, each second frame a small move of the first (--pair-weight)
  tcn record --out data/pairs --episodes 300 --image-size 96 --motion pairs --workers 2
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
    parser.add_argument(
        "--views", type=int, default=1, help="camera views per episode (default 1)"
    )
    parser.add_argument("--image-size", type=int, default=128, help="square image size in pixels")
    parser.add_argument("--frames", type=int, default=100, help="frames per episode (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    parser.add_argument("--workers", type=int, default=1, help="parallel worker processes")
    parser.add_argument(
        "--val-episodes",
        type=int,
        default=None,
        help="validation episodes, taken from the end (default: 5%%, at least 1)",
    )
    parser.add_argument(
        "--joint-timing",
        choices=["staggered", "synchronous"],
        default="synchronous",
        help="all joints move together (default: the paper's straight line in joint "
        "space) or each in its own random window (docs/sim.md)",
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
        "--pair-sigma",
        type=float,
        default=0.1,
        help="with --motion pairs, rad per joint of each pair's move (default 0.1)",
    )
    parser.add_argument("--control-rate", type=float, default=20.0, help="frames per second (Hz)")
    parser.add_argument("--storage", choices=["mcap", "sqlite3"], default="mcap")
    parser.add_argument("--urdf", default=None, help="robot URDF (default: PyBullet's iiwa)")
    parser.add_argument(
        "--tool-scale",
        type=float,
        default=1.0,
        help="size of the flange tool (default 1; 2 shows A7 turn in 4x the pixels, docs/sim.md)",
    )
    parser.add_argument(
        "--camera-distance",
        type=float,
        default=None,
        help="orbit distance of the cameras (m; default 1.5; 1.9 with --camera-pitch -30 "
        "keeps the whole arm and tool in view, docs/sim.md)",
    )
    parser.add_argument(
        "--camera-pitch", type=float, default=None, help="camera pitch (degrees; default -20)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from tqdm import tqdm

    from kuka_sim import CameraConfig, DemoConfig, SimConfig, ViewLayout
    from tcn.commands.inspect import print_dataset
    from tcn.record import record_dataset

    sim = SimConfig(
        control_rate=args.control_rate,
        tool_scale=args.tool_scale,
        **({"urdf": args.urdf} if args.urdf else {}),
    )
    orbit = {"distance": args.camera_distance, "pitch": args.camera_pitch}
    base = replace(CameraConfig(), **{k: v for k, v in orbit.items() if v is not None})
    cameras = ViewLayout(base=base).cameras(args.views, args.image_size)
    with tqdm(total=args.episodes, desc="record", unit="ep", disable=args.no_progress) as bar:
        index = record_dataset(
            args.out,
            args.episodes,
            cameras,
            seed=args.seed,
            sim=sim,
            demo=DemoConfig(
                frames=args.frames,
                joint_timing=args.joint_timing,
                motion=args.motion,
                pair_sigma=args.pair_sigma,
            ),
            val_episodes=args.val_episodes,
            workers=args.workers,
            storage=args.storage,
            on_episode=lambda name: bar.update(1),
        )
        bar.n = len(index.episodes)
        bar.refresh()
    print_dataset(args.out)
    return 0
