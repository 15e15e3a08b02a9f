"""The episode: the unit of data every part of the stack exchanges (ARCHITECTURE.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kuka_sim.camera import CameraConfig


@dataclass
class Episode:
    """One recorded episode.

    Attributes:
        frames: one array per view, each ``(T, H, W, 3)`` uint8 RGB.
        joint_positions: ``(T, J)`` radians, aligned to the frames.
        joint_velocities: ``(T, J)`` rad/s, aligned to the frames.
        timestamps: ``(T,)`` seconds of each frame.
        cameras: the configuration that rendered each view; ``None`` for a view
            recorded by a camera we did not model (a real robot's bag).
        joint_names: the ``J`` joint names, in column order.
        joint_efforts: ``(T, J)`` Nm when recorded, else ``None``.
        info: free-form metadata (seed, start and goal configurations, ...).
        start_stamp_ns: header stamp of the first frame (ns) when read from a bag;
            ``timestamps`` count from it.
    """

    frames: list[np.ndarray]
    joint_positions: np.ndarray
    joint_velocities: np.ndarray
    timestamps: np.ndarray
    cameras: list[CameraConfig | None]
    joint_names: list[str]
    joint_efforts: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)
    start_stamp_ns: int = 0

    def __post_init__(self) -> None:
        if not self.frames:
            raise ValueError("an episode needs at least one view of frames")
        n = len(self.timestamps)
        for i, view in enumerate(self.frames):
            if view.ndim != 4 or view.shape[-1] != 3 or view.dtype != np.uint8:
                raise ValueError(
                    f"view {i}: expected frames of shape (T, H, W, 3) uint8, "
                    f"got {view.shape} {view.dtype}"
                )
            if len(view) != n:
                raise ValueError(f"view {i} has {len(view)} frames but {n} timestamps")
        for name in ("joint_positions", "joint_velocities"):
            array = getattr(self, name)
            if array.shape != (n, len(self.joint_names)):
                raise ValueError(
                    f"{name}: expected shape ({n}, {len(self.joint_names)}), got {array.shape}"
                )
        if len(self.cameras) != len(self.frames):
            raise ValueError(f"{len(self.frames)} views but {len(self.cameras)} camera configs")

    def __len__(self) -> int:
        return len(self.timestamps)

    @property
    def num_views(self) -> int:
        return len(self.frames)

    @property
    def image_shape(self) -> tuple[int, int]:
        """``(H, W)`` of the primary view."""
        return self.frames[0].shape[1:3]
