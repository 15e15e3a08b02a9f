"""Embed the frames of bags with a trained TCN: one (T, D) float32 .npy per episode.

--data takes a bag or a dataset directory (MCAP or sqlite3, any image topic);
--model a run directory (its latest checkpoint) or a checkpoint file.

examples:
  tcn embed --model runs/tcn_cpu --data data/paper --out embeddings/
  tcn embed --model runs/tcn_cpu/checkpoints/best.pt --data robot_bag --out robot.npy \\
      --image-topic /wrist_cam/color/image_raw --joint-topic none
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "write TCN embeddings of bags as .npy"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, required=True, help="run directory or checkpoint")
    parser.add_argument("--data", type=Path, required=True, help="bag or dataset directory")
    parser.add_argument(
        "--out", type=Path, required=True, help="output directory, or a .npy file for a single bag"
    )
    parser.add_argument(
        "--image-topic", default=None, help="image topic (default /camera/image_raw)"
    )
    parser.add_argument(
        "--joint-topic",
        default="/joint_states",
        help="JointState topic, or 'none' for bags without joints",
    )
    parser.add_argument("--batch-size", type=int, default=64)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from tcn.bags import image_topic, read_episode
    from tcn.dataset import episode_paths
    from tcn.embedding_run import load_embedding_model

    model = load_embedding_model(args.model)
    paths = episode_paths(args.data)
    single_file = args.out.suffix == ".npy"
    if single_file and len(paths) != 1:
        raise ValueError(f"--out {args.out} is a file but --data holds {len(paths)} bags")
    if not single_file:
        args.out.mkdir(parents=True, exist_ok=True)
    joints = None if args.joint_topic.lower() == "none" else args.joint_topic
    topic = args.image_topic or image_topic(0)
    for path in paths:
        episode = read_episode(path, topic, joint_topic=joints)
        embeddings = model.embed(episode.frames[0], batch_size=args.batch_size).numpy()
        target = args.out if single_file else args.out / f"{path.name}.npy"
        np.save(target, embeddings.astype(np.float32))
        print(f"{path.name}: {embeddings.shape} -> {target}")
    return 0
