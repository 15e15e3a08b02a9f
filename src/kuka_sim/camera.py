"""Camera configuration: one object that renders demonstrations and agent frames alike.

A :class:`CameraConfig` fully determines what a camera sees (pose, field of view,
image size, clipping planes and renderer). Every recording stores the configs
of its views, and everything that renders frames for comparison with a
recording rebuilds the camera from that stored config, so demonstration and
agent frames can never come from different cameras.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from functools import cached_property
from typing import Any

import numpy as np
import pybullet

RENDERERS = {"tiny": pybullet.ER_TINY_RENDERER, "opengl": pybullet.ER_BULLET_HARDWARE_OPENGL}


@dataclass(frozen=True)
class CameraConfig:
    """A pinhole camera looking at the robot.

    The pose is either orbit-style (``distance``, ``yaw``, ``pitch`` around
    ``target``, PyBullet's convention, z up) or explicit (``eye`` looking at
    ``target``, the image's up towards ``up``, z when None). ``fov`` is the vertical
    field of view in degrees.
    """

    name: str = "camera"
    width: int = 128
    height: int = 128
    fov: float = 60.0
    distance: float = 1.5
    yaw: float = 50.0
    pitch: float = -20.0
    target: tuple[float, float, float] = (0.0, 0.0, 0.6)
    eye: tuple[float, float, float] | None = None
    up: tuple[float, float, float] | None = None
    near: float = 0.05
    far: float = 6.0
    renderer: str = "tiny"

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"camera size must be positive, got {self.width}x{self.height}")
        if not 0.0 < self.fov < 180.0:
            raise ValueError(f"camera fov must be in (0, 180) degrees, got {self.fov}")
        if not 0.0 < self.near < self.far:
            raise ValueError(f"need 0 < near < far, got near={self.near} far={self.far}")
        if self.renderer not in RENDERERS:
            raise ValueError(
                f"unknown renderer {self.renderer!r}; expected one of {sorted(RENDERERS)}"
            )
        # Normalise sequences (e.g. lists from YAML/JSON) so equality and hashing work.
        object.__setattr__(self, "target", tuple(float(v) for v in self.target))
        for name in ("eye", "up"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))
        if self.up is not None and self.eye is None:
            raise ValueError("camera up needs an explicit eye (orbit cameras have z up)")

    @cached_property
    def view_matrix(self) -> tuple[float, ...]:
        """OpenGL view matrix (16 floats, column-major) as PyBullet expects it."""
        if self.eye is not None:
            up = self.up if self.up is not None else (0.0, 0.0, 1.0)
            return tuple(pybullet.computeViewMatrix(self.eye, self.target, up))
        return tuple(
            pybullet.computeViewMatrixFromYawPitchRoll(
                cameraTargetPosition=self.target,
                distance=self.distance,
                yaw=self.yaw,
                pitch=self.pitch,
                roll=0.0,
                upAxisIndex=2,
            )
        )

    @cached_property
    def projection_matrix(self) -> tuple[float, ...]:
        """OpenGL projection matrix (16 floats) for ``fov``, the aspect ratio and clip planes."""
        return tuple(
            pybullet.computeProjectionMatrixFOV(
                fov=self.fov, aspect=self.width / self.height, nearVal=self.near, farVal=self.far
            )
        )

    @property
    def renderer_id(self) -> int:
        return RENDERERS[self.renderer]

    def intrinsics(self) -> np.ndarray:
        """The 3x3 pinhole matrix ``K`` (square pixels, principal point at the centre)."""
        fy = self.height / (2.0 * math.tan(math.radians(self.fov) / 2.0))
        return np.array(
            [[fy, 0.0, self.width / 2.0], [0.0, fy, self.height / 2.0], [0.0, 0.0, 1.0]]
        )

    def project(self, points: np.ndarray) -> np.ndarray:
        """World points ``(N, 3)`` -> image coordinates ``(N, 2)``: x to the right, y down,
        -1 and +1 at the image's edges (pixel column ``(x + 1) / 2 * width``)."""
        points = np.asarray(points, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 3:
            raise ValueError(f"expected points shaped (N, 3), got {points.shape}")
        # PyBullet's matrices are OpenGL's, column-major: reshape then transpose.
        view = np.asarray(self.view_matrix).reshape(4, 4).T
        projection = np.asarray(self.projection_matrix).reshape(4, 4).T
        clip = np.c_[points, np.ones(len(points))] @ (projection @ view).T
        ndc = clip[:, :2] / clip[:, 3:4]
        return np.c_[ndc[:, 0], -ndc[:, 1]]

    def pose(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Where the camera is and how it is turned, whichever form holds it: its position,
        its unit viewing direction and the unit up direction of its image, in the world."""
        view = np.asarray(self.view_matrix).reshape(4, 4).T  # world -> camera (OpenGL)
        rotation, translation = view[:3, :3], view[:3, 3]
        return -rotation.T @ translation, -rotation[2], rotation[1]

    def moved(
        self, offset: np.ndarray, rotation: np.ndarray, fov: float | None = None
    ) -> CameraConfig:
        """This camera moved by ``offset`` (m, world frame) and turned by the rotation
        vector ``rotation`` (rad, world frame, about the camera's own position), as an
        explicit camera (``eye``, ``target`` and ``up``); ``fov`` replaces its field of view.
        Moved by nothing, it is this camera itself."""
        offset, rotation = np.asarray(offset, np.float64), np.asarray(rotation, np.float64)
        if not (offset.any() or rotation.any()):
            return self if fov is None else replace(self, fov=float(fov))
        eye, forward, up = self.pose()
        reach = float(np.linalg.norm(np.asarray(self.target) - eye)) or 1.0
        turn = rotation_matrix(rotation)
        eye = eye + offset
        forward, up = turn @ forward, turn @ up
        return replace(
            self,
            eye=tuple(eye),
            target=tuple(eye + reach * forward),
            up=tuple(up),
            fov=self.fov if fov is None else float(fov),
        )

    def with_intrinsics(self, k: Any, width: int, height: int) -> CameraConfig:
        """This camera's pose with the image size and vertical field of view of the pinhole
        matrix ``k`` (3x3, or its 9 values row by row, as a ``CameraInfo`` holds it; square
        pixels and a centred principal point are assumed, as the renderer has them)."""
        fy = float(np.asarray(k, dtype=np.float64).reshape(3, 3)[1, 1])
        if not fy > 0:
            raise ValueError(f"camera matrix has no focal length: {k!r}")
        fov = math.degrees(2.0 * math.atan(height / (2.0 * fy)))
        return replace(self, width=int(width), height=int(height), fov=fov)

    def with_size(self, width: int, height: int | None = None) -> CameraConfig:
        return replace(self, width=width, height=width if height is None else height)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["target"] = list(self.target)
        data["eye"] = None if self.eye is None else list(self.eye)
        data["up"] = None if self.up is None else list(self.up)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CameraConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(
                f"unknown camera config keys {sorted(unknown)}; known: {sorted(known)}"
            )
        return cls(**data)


DEFAULT_LIGHT_DIRECTION = (-50.0, 30.0, 100.0)
"""PyBullet's TinyRenderer light direction in a z-up world when none is given."""


@dataclass(frozen=True)
class Lighting:
    """The renderer's directional light: where it comes from and its colour (each channel
    in [0, 1]). The defaults are the renderer's own: frames rendered with them are the
    frames rendered without a lighting."""

    direction: tuple[float, float, float] = DEFAULT_LIGHT_DIRECTION
    color: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "direction", tuple(float(v) for v in self.direction))
        object.__setattr__(self, "color", tuple(float(v) for v in self.color))
        if len(self.direction) != 3 or not np.linalg.norm(self.direction) > 0:
            raise ValueError(f"light direction must be a nonzero 3-vector, got {self.direction}")
        if len(self.color) != 3 or not all(0.0 <= c <= 1.0 for c in self.color):
            raise ValueError(f"light color must be 3 values in [0, 1], got {self.color}")

    def to_dict(self) -> dict[str, Any]:
        return {"direction": list(self.direction), "color": list(self.color)}


def perturbed_lighting(
    degrees: float, color_change: float, rng: np.random.Generator, base: Lighting | None = None
) -> Lighting:
    """``base`` (the renderer's default light) turned ``degrees`` about a random axis across
    its direction, each colour channel dimmed by up to ``color_change`` (uniform)."""
    base = base or Lighting()
    direction = np.asarray(base.direction) / np.linalg.norm(base.direction)
    axis = np.cross(direction, rng.normal(size=3))
    axis /= np.linalg.norm(axis)
    turned = rotation_matrix(math.radians(degrees) * axis) @ direction
    color = np.asarray(base.color) * (1.0 - rng.uniform(0.0, color_change, size=3))
    return Lighting(tuple(turned), tuple(np.clip(color, 0.0, 1.0)))


def rotation_matrix(rotation: np.ndarray) -> np.ndarray:
    """The 3x3 rotation of the rotation vector ``rotation`` (axis times angle, rad)."""
    angle = float(np.linalg.norm(rotation))
    if angle == 0.0:
        return np.eye(3)
    x, y, z = np.asarray(rotation) / angle
    cross = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + math.sin(angle) * cross + (1.0 - math.cos(angle)) * cross @ cross


def perturbed_camera(
    camera: CameraConfig, offset: float, degrees: float, rng: np.random.Generator
) -> CameraConfig:
    """``camera`` moved ``offset`` m in a random direction and turned ``degrees`` about a
    random axis (both uniform on the sphere): a camera placed a little off its calibration."""
    direction, axis = rng.normal(size=3), rng.normal(size=3)
    direction, axis = direction / np.linalg.norm(direction), axis / np.linalg.norm(axis)
    return camera.moved(offset * direction, math.radians(degrees) * axis)


@dataclass(frozen=True)
class ViewLayout:
    """How ``n`` views are placed: the first at ``base``, the others ``yaw_step`` degrees apart.

    Multi-view TCN needs views that differ substantially; 75 degrees apart keeps
    the arm visible from all of them while changing its silhouette a lot.
    """

    base: CameraConfig = field(default_factory=CameraConfig)
    yaw_step: float = 75.0

    def cameras(self, n_views: int, image_size: int | None = None) -> list[CameraConfig]:
        if n_views < 1:
            raise ValueError(f"need at least one view, got {n_views}")
        base = self.base if image_size is None else self.base.with_size(image_size)
        return [
            replace(
                base,
                name="camera" if i == 0 else f"camera_{i}",
                yaw=base.yaw + i * self.yaw_step,
            )
            for i in range(n_views)
        ]


def make_cameras(n_views: int = 1, image_size: int = 128) -> list[CameraConfig]:
    """The default camera rig: ``n_views`` square cameras of ``image_size`` pixels."""
    return ViewLayout().cameras(n_views, image_size)
