"""The demonstration stage: a dataset's bags as :class:`imitation_agent.Demonstration` s
with their embeddings, and the embedding's pieces an agent observes through (the embedder,
the pose head)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from kuka_sim import SimConfig
from tcn.dataset import load_index
from tcn.errors import TcnError

log = logging.getLogger(__name__)


def load_demonstrations(
    data: Path | str,
    split: str | None,
    model: Any,
    keep_frames: bool = False,
    limit: int | None = None,
) -> list:
    """Demonstrations of a dataset split with their embeddings, computed once here."""
    from imitation_agent import Demonstration
    from tcn.bags import read_episode
    from tcn.dataset import episode_paths

    demos = []
    for path in episode_paths(data, split)[:limit]:
        episode = read_episode(path)
        camera = episode.cameras[0]
        if camera is None:
            raise TcnError(
                f"{path}: the bag stores no camera configuration, so the agent cannot render "
                f"the same view; record demonstrations with `tcn record`"
            )
        sim = SimConfig.from_dict(episode.info["sim"]) if "sim" in episode.info else SimConfig()
        demos.append(
            Demonstration(
                name=path.name,
                joint_positions=episode.joint_positions,
                embeddings=model.embed(episode.frames[0]).numpy(),
                camera=camera,
                sim=sim,
                frames=episode.frames[0] if keep_frames else None,
            )
        )
    return demos


def train_val_splits(data: Path) -> tuple[str | None, str | None]:
    """``("train", "val")`` for a dataset with a validation split, else ``(None, None)``
    (every episode for both, with a warning)."""
    index = load_index(data) if Path(data).is_dir() else None
    if index is not None and index.names("val"):
        return "train", "val"
    log.warning("%s has no validation split: training and evaluating on every episode", data)
    return None, None


def embedder_of(model: Any):
    """``frames (N, H, W, 3) uint8 -> (N, D)`` numpy embeddings with ``model``."""

    def embed(frames: np.ndarray) -> np.ndarray:
        return model.embed(frames).numpy()

    return embed


def pose_decoder_of(model: Any):
    """The embedding's pose head as an :class:`imitation_agent.PoseDecoder` (None without)."""
    from imitation_agent import PoseDecoder

    head = model.pose_decoder()
    return None if head is None else PoseDecoder(*head)


def pose_decoder_for(model: Any, config: Any, checkpoint: Path | str):
    """The pose decoder an agent of ``config`` observes through (None unless its pose
    features come from the head); a ``TcnError`` when it needs one the embedding lacks."""
    if not config.env_config().pose_from_head:
        return None
    decoder = pose_decoder_of(model)
    if decoder is None:
        raise TcnError(
            f"--pose-features needs an embedding with a pose head; {checkpoint} has none "
            f"(train it with tcn train-embedding --objectives.self-regression WEIGHT)"
        )
    return decoder
