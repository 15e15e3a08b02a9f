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
    """Demonstrations of a dataset split with their embeddings, computed once here.

    A bag that stores no camera and no scene (a real robot's ``ros2 bag record``) gets the
    recipe's scene and camera pose (the ``record`` default preset) with the image size and
    field of view of its ``camera_info``; render-and-compare's self-calibration then
    estimates where that camera really is."""
    from imitation_agent import Demonstration
    from tcn.bags import read_episode
    from tcn.dataset import episode_paths
    from tcn.record import RecordConfig

    demos = []
    for path in episode_paths(data, split)[:limit]:
        episode = read_episode(path)
        camera = episode.cameras[0]
        recipe = RecordConfig()
        if camera is None:
            intrinsics = episode.info["camera_info"][0]
            if intrinsics is None:
                raise TcnError(
                    f"{path}: the bag stores no camera configuration and no camera_info beside "
                    f"its images, so the agent cannot render the same view; record "
                    f"demonstrations with `tcn record`, or record the camera's camera_info"
                )
            camera = recipe.cameras()[0].with_intrinsics(
                intrinsics["k"], intrinsics["width"], intrinsics["height"]
            )
            log.info(
                "%s: no stored camera; camera_info's intrinsics (vertical field of view %.1f "
                "degrees) at the recipe's camera pose, to be calibrated",
                path,
                camera.fov,
            )
        sim = SimConfig.from_dict(episode.info["sim"]) if "sim" in episode.info else None
        if sim is None:
            sim = recipe.sim() if episode.cameras[0] is None else SimConfig()
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
