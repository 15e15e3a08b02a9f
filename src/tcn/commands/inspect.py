"""Show what a dataset directory or a single bag holds.

For a dataset: the settings and one line per episode (split, frames, views,
image size, duration, joint travel). For a bag: its topics, types and counts.

examples:
  tcn inspect data/demos
  tcn inspect data/demos/episode_0000
  tcn inspect data/demos --sheet demos.png   # a contact sheet: episodes x time
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

HELP = "summarise a dataset directory or a bag"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, help="dataset directory or bag directory")
    parser.add_argument("--image-topic", action="append", default=None, help="image topic(s)")
    parser.add_argument(
        "--sheet", type=Path, default=None, help="write a PNG: one row per episode and view"
    )
    parser.add_argument("--sheet-frames", type=int, default=6, help="frames per sheet row")
    parser.add_argument("--sheet-episodes", type=int, default=4, help="episodes on the sheet")


def contact_sheet(episodes: list, columns: int) -> np.ndarray:
    """One row per (episode, view): ``columns`` frames evenly spaced in time."""
    rows = []
    for episode in episodes:
        picks = np.linspace(0, len(episode) - 1, columns).round().astype(int)
        for view in episode.frames:
            rows.append(np.concatenate([view[i] for i in picks], axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
    return np.concatenate(rows, axis=0)


def print_dataset(path: Path, image_topics: list[str] | None = None) -> list:
    """Print a summary and return the episodes read."""
    from tcn.bags import bag_topics, read_episode
    from tcn.dataset import episode_paths, is_bag, load_index

    path = Path(path)
    if is_bag(path):
        print(f"bag {path}")
        for topic in bag_topics(path).values():
            print(f"  {topic.name:<28} {topic.msgtype:<30} {topic.count:>6} msgs")
    index = load_index(path) if not is_bag(path) else None
    if index is not None:
        settings = index.settings
        cams = ", ".join(
            f"{c.name} {c.width}x{c.height} yaw {c.yaw:g} pitch {c.pitch:g}" for c in index.cameras
        )
        train, val = len(index.names("train")), len(index.names("val"))
        print(
            f"dataset {path}: {len(index.episodes)}/{settings['episodes']} episodes "
            f"({train} train, {val} val), seed {index.seed}"
        )
        print(f"  cameras: {cams}")
    header = ("episode", "split", "frames", "views", "size", "secs", "travel")
    print("  {:<16}{:<7}{:>7}{:>6}{:>9}{:>7}{:>8}".format(*header))
    episodes = []
    for bag in episode_paths(path):
        episode = read_episode(bag, image_topics)
        episodes.append(episode)
        split = index.episodes.get(bag.name, "-") if index else "-"
        h, w = episode.image_shape
        q = episode.joint_positions
        travel = float(np.linalg.norm(q[-1] - q[0])) if q.size else float("nan")
        print(
            f"  {bag.name:<16}{split:<7}{len(episode):>7}{episode.num_views:>6}"
            f"{f'{w}x{h}':>9}{episode.timestamps[-1]:>7.2f}{travel:>8.2f}"
        )
    return episodes


def run(args: argparse.Namespace) -> int:
    episodes = print_dataset(args.path, args.image_topic)
    if args.sheet is not None:
        import imageio.v3 as iio

        args.sheet.parent.mkdir(parents=True, exist_ok=True)
        iio.imwrite(args.sheet, contact_sheet(episodes[: args.sheet_episodes], args.sheet_frames))
        print(f"wrote {args.sheet}")
    return 0
