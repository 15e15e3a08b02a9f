"""Load a dataset split into memory once: frames per view, joints, names.

Training and evaluation read every bag of a split a single time and keep the
decoded uint8 frames, so the model, not bag decoding, sets the pace.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kuka_sim import CameraConfig
from tcn.bags import read_episode
from tcn.dataset import episode_paths


@dataclass
class Split:
    """A split in memory: ``frames[e][v]`` is ``(T, H, W, 3)`` uint8, ``joints[e]`` ``(T, J)``."""

    names: list[str]
    frames: list[list[np.ndarray]]
    joints: list[np.ndarray]
    cameras: list[list[CameraConfig | None]]

    def __len__(self) -> int:
        return len(self.names)

    @property
    def num_views(self) -> int:
        return len(self.frames[0]) if self.frames else 0


def load_split(
    data: Path | str,
    split: str | None,
    image_topics: str | Sequence[str] | None = None,
    limit: int | None = None,
    on_episode: Callable[[str], None] | None = None,
) -> Split:
    """Read the episodes of ``split`` (``train``, ``val``, or None for all) of ``data``."""
    paths = episode_paths(data, split)[:limit]
    names, frames, joints, cameras = [], [], [], []
    for path in paths:
        episode = read_episode(path, image_topics)
        names.append(path.name)
        frames.append(episode.frames)
        joints.append(episode.joint_positions)
        cameras.append(episode.cameras)
        if on_episode is not None:
            on_episode(path.name)
    return Split(names, frames, joints, cameras)
