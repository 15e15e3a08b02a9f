"""A simulated KUKA LBR iiwa in PyBullet (DIRECT mode, no display).

Usage::

    from kuka_sim import KukaSim, SimConfig, make_cameras

    with KukaSim(SimConfig(control_mode="torque"), make_cameras(1, 64)) as sim:
        sim.reset(np.zeros(7))
        sim.step(np.array([0, 40.0, 0, 0, 0, 0, 0]))   # Nm, on top of gravity compensation
        rgb = sim.render()                             # (64, 64, 3) uint8

Control modes (one control period = ``physics_hz / control_rate`` physics steps):

* ``torque``: the default motor servos are switched off (``VELOCITY_CONTROL``
  with force 0) so commanded torques move the arm; optional gravity
  compensation makes the command an overlay, as on a real iiwa with FRI.
* ``position``: joint position targets tracked by PyBullet's motor with the
  iiwa's torque limits.
* ``position_delta``: targets relative to the measured joint positions.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import pybullet
import pybullet_data
from pybullet_utils.bullet_client import BulletClient

from kuka_sim.camera import CameraConfig, Lighting

log = logging.getLogger(__name__)

DEFAULT_URDF = "kuka_iiwa/model.urdf"
# KUKA LBR iiwa 14 R820 data sheet: maximum joint torques (Nm).
IIWA14_MAX_TORQUES = (320.0, 320.0, 176.0, 176.0, 110.0, 40.0, 40.0)
# Same data sheet: maximum joint speeds (85, 85, 100, 75, 130, 135, 135 deg/s) in rad/s.
IIWA14_MAX_VELOCITIES = (1.48, 1.48, 1.75, 1.31, 2.27, 2.36, 2.36)


# The iiwa's shoulder, elbow and wrist, as (middle, outer, outer) joint indices (0-based): with
# the middle joint at 0 the outer two turn about one axis, and only their sum moves anything
# beyond the housing between them (experiments/pose_visibility.py measures how little of the
# difference a camera sees).
IIWA_COUPLED_JOINTS = ((1, 0, 2), (3, 2, 4), (5, 4, 6))

# The tool drawn on the flange (SimConfig.tool): (offset in the flange frame (m), box half
# extents (m), RGBA). A dark palm and two fingers of different colours, so a turn of A7 and
# its sign are both visible.
HIDDEN = (1.0, 1.0, 1.0, 0.0)
SHOWN = (1.0, 1.0, 1.0, 1.0)
"""The ground plane's colour while the scene's frame is composited, and its own (its texture
is kept)."""
BACKGROUNDS_KEPT = 32
"""Frames of the plane alone (one per camera and light) a simulator keeps for compositing."""

TOOL_PARTS = (
    ((0.0, 0.0, 0.055), (0.06, 0.02, 0.012), (0.2, 0.2, 0.2, 1.0)),
    ((0.045, 0.0, 0.10), (0.015, 0.018, 0.04), (0.9, 0.1, 0.1, 1.0)),
    ((-0.045, 0.0, 0.10), (0.015, 0.018, 0.04), (0.1, 0.8, 0.1, 1.0)),
)


class ControlMode(str, Enum):
    TORQUE = "torque"
    POSITION = "position"
    POSITION_DELTA = "position_delta"


@dataclass(frozen=True)
class SimConfig:
    """Physics and control settings of :class:`KukaSim`.

    Attributes:
        urdf: robot description; a path, or a path inside ``pybullet_data``.
        physics_hz: physics steps per second (1/240 s steps, PyBullet's default).
        control_rate: control periods per second; must divide ``physics_hz``.
        control_mode: ``torque``, ``position`` or ``position_delta``.
        gravity_compensation: in torque mode, add the gravity torques of the
            measured pose to the command (FRI-style overlay).
        max_torques: per-joint torque limits (Nm); torque commands are clamped
            to them and position motors use them as their force limit.
        max_velocities: per-joint speed limits (rad/s) enforced by the physics.
        max_position_delta: per-step limit (rad) of ``position_delta`` commands;
            deltas accumulate on the previous target, as a forward position
            controller integrates them, starting from the pose at reset.
        limit_margin: joint-limit guard (rad): in torque mode a torque pushing a
            joint further into a limit within this margin is cut, and a stiff
            spring pushes back a joint past it (PyBullet's own limit is soft).
        ground_plane: load PyBullet's plane under the robot.
        tool: render a two-finger tool on the flange, one finger red and one green. The
            iiwa's last link is a plain cylinder, so without it a camera cannot see joint 7
            (A7) turn at all; the tool is visual only (no mass, no collision). Recordings
            made before it existed have no ``tool`` key and load with ``tool=False``.
        tool_scale: size of the tool (its offsets and extents) relative to
            :data:`TOOL_PARTS`; a larger tool makes the wrist joints more visible at a given
            image size (``experiments/pose_visibility.py``). Recordings made before it load
            with 1.
    """

    urdf: str = DEFAULT_URDF
    physics_hz: int = 240
    control_rate: float = 20.0
    control_mode: ControlMode = ControlMode.POSITION
    gravity_compensation: bool = True
    max_torques: tuple[float, ...] = IIWA14_MAX_TORQUES
    max_velocities: tuple[float, ...] = IIWA14_MAX_VELOCITIES
    max_position_delta: float = 0.1
    limit_margin: float = 0.01
    ground_plane: bool = True
    tool: bool = True
    tool_scale: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "control_mode", ControlMode(self.control_mode))
        object.__setattr__(self, "max_torques", tuple(float(t) for t in self.max_torques))
        object.__setattr__(self, "max_velocities", tuple(float(v) for v in self.max_velocities))
        if self.control_rate <= 0 or self.physics_hz <= 0:
            raise ValueError(
                f"rates must be positive, got physics_hz={self.physics_hz} "
                f"control_rate={self.control_rate}"
            )
        ratio = self.physics_hz / self.control_rate
        if abs(ratio - round(ratio)) > 1e-9:
            raise ValueError(
                f"control_rate={self.control_rate} must divide physics_hz={self.physics_hz} "
                f"(e.g. 10, 20, 30, 40, 60, 120, 240)"
            )
        for name in ("max_torques", "max_velocities"):
            values = getattr(self, name)
            if len(values) != 7 or any(v <= 0 for v in values):
                raise ValueError(f"{name} needs 7 positive values, got {values}")
        if self.max_position_delta <= 0:
            raise ValueError(f"max_position_delta must be positive, got {self.max_position_delta}")
        if not (math.isfinite(self.tool_scale) and self.tool_scale > 0):
            raise ValueError(f"tool_scale must be positive and finite, got {self.tool_scale}")

    @property
    def substeps(self) -> int:
        """Physics steps per control period."""
        return round(self.physics_hz / self.control_rate)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["control_mode"] = self.control_mode.value
        data["max_torques"] = list(self.max_torques)
        data["max_velocities"] = list(self.max_velocities)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SimConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown sim config keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(**{"tool": False, **data})


@dataclass
class ClampCounter:
    """How often commands were clamped, per joint (reported by nodes as diagnostics)."""

    torque: np.ndarray = field(default_factory=lambda: np.zeros(7, dtype=np.int64))
    position_delta: np.ndarray = field(default_factory=lambda: np.zeros(7, dtype=np.int64))


def resolve_urdf(urdf: str) -> str:
    """A path to the URDF: as given if it exists, else inside ``pybullet_data``."""
    if Path(urdf).is_file():
        return str(Path(urdf).resolve())
    bundled = Path(pybullet_data.getDataPath()) / urdf
    if bundled.is_file():
        return str(bundled)
    raise FileNotFoundError(
        f"robot description {urdf!r} not found as a file nor inside pybullet_data "
        f"({pybullet_data.getDataPath()}); pass an existing URDF path"
    )


def joint_limits(config: SimConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(lower, upper)`` joint position limits (rad) of ``config``'s URDF, as KukaSim clamps
    position targets to them."""
    with KukaSim(config) as sim:
        return sim.lower_limits.copy(), sim.upper_limits.copy()


class KukaSim:
    """One PyBullet physics client with a fixed-base iiwa and a set of cameras."""

    def __init__(
        self, config: SimConfig | None = None, cameras: list[CameraConfig] | None = None
    ) -> None:
        self.config = config or SimConfig()
        self.cameras: list[CameraConfig] = list(cameras or [])
        self._client = BulletClient(connection_mode=pybullet.DIRECT)
        c = self._client
        c.setAdditionalSearchPath(pybullet_data.getDataPath())
        c.setPhysicsEngineParameter(deterministicOverlappingPairs=1)
        c.setGravity(0.0, 0.0, -9.81)
        c.setTimeStep(1.0 / self.config.physics_hz)
        # The plane is drawn by compositing (render): hidden here, its frame rendered once
        # per camera and light in a client of its own.
        self._plane: int | None = None
        self._scenery: BulletClient | None = None
        self._backgrounds: OrderedDict[tuple, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        if self.config.ground_plane:
            self._plane = c.loadURDF("plane.urdf")
            c.changeVisualShape(self._plane, -1, rgbaColor=HIDDEN)
        self.robot = c.loadURDF(
            resolve_urdf(self.config.urdf),
            useFixedBase=True,
            flags=pybullet.URDF_USE_INERTIA_FROM_FILE
            | pybullet.URDF_USE_SELF_COLLISION
            | pybullet.URDF_USE_SELF_COLLISION_EXCLUDE_PARENT,
        )
        revolute = [
            j
            for j in range(c.getNumJoints(self.robot))
            if c.getJointInfo(self.robot, j)[2] == pybullet.JOINT_REVOLUTE
        ]
        if len(revolute) != 7:
            raise ValueError(
                f"{self.config.urdf}: expected a 7-DoF arm, found {len(revolute)} revolute joints"
            )
        self.joint_indices = revolute
        for j, speed in zip(revolute, self.config.max_velocities, strict=True):
            c.changeDynamics(self.robot, j, maxJointVelocity=speed)
        infos = [c.getJointInfo(self.robot, j) for j in revolute]
        self.joint_names = [info[1].decode() for info in infos]
        self.lower_limits = np.array([info[8] for info in infos])
        self.upper_limits = np.array([info[9] for info in infos])
        self.ee_link = revolute[-1]
        self.max_torques = np.array(self.config.max_torques)
        self.clamps = ClampCounter()
        self.last_torques = np.zeros(7)
        self._mode: ControlMode | None = None
        self.set_control_mode(self.config.control_mode)
        self._tool: list[tuple[int, tuple[float, float, float]]] = []
        if self.config.tool:
            k = self.config.tool_scale
            for offset, half_extents, rgba in TOOL_PARTS:
                shape = c.createVisualShape(
                    pybullet.GEOM_BOX, halfExtents=[k * h for h in half_extents], rgbaColor=rgba
                )
                self._tool.append(
                    (c.createMultiBody(0.0, -1, shape), tuple(k * o for o in offset))
                )

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client = None
        if self._scenery is not None:
            self._scenery.disconnect()
            self._scenery = None

    def __enter__(self) -> KukaSim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    # ------------------------------------------------------------------ state
    @property
    def control_mode(self) -> ControlMode:
        assert self._mode is not None
        return self._mode

    def set_control_mode(self, mode: ControlMode | str) -> None:
        """Switch control mode; torque mode switches the default motor servos off."""
        mode = ControlMode(mode)
        if mode is ControlMode.TORQUE:
            # PyBullet drives every joint with a velocity motor by default; its force
            # must be zero or commanded torques are fought and nothing moves.
            self._client.setJointMotorControlArray(
                self.robot, self.joint_indices, pybullet.VELOCITY_CONTROL, forces=[0.0] * 7
            )
        self._mode = mode
        self._hold_target = self.joint_positions()

    @property
    def position_target(self) -> np.ndarray:
        """The current position target (7,): deltas accumulate on it; holds aim at it."""
        return self._hold_target.copy()

    def reset(self, positions: np.ndarray, velocities: np.ndarray | None = None) -> None:
        """Teleport the arm to ``positions`` (7,) rad, at rest unless ``velocities`` given."""
        positions = self._check_vector(positions, "positions")
        if np.any(positions < self.lower_limits) or np.any(positions > self.upper_limits):
            raise ValueError(
                f"reset positions {np.round(positions, 3).tolist()} outside joint limits "
                f"[{np.round(self.lower_limits, 3).tolist()}, "
                f"{np.round(self.upper_limits, 3).tolist()}]"
            )
        velocities = (
            np.zeros(7) if velocities is None else self._check_vector(velocities, "velocities")
        )
        for j, q, qd in zip(self.joint_indices, positions, velocities, strict=True):
            self._client.resetJointState(self.robot, j, float(q), float(qd))
        self.last_torques = np.zeros(7)
        self.set_control_mode(self._mode or self.config.control_mode)

    def joint_positions(self) -> np.ndarray:
        return np.array(
            [s[0] for s in self._client.getJointStates(self.robot, self.joint_indices)]
        )

    def joint_velocities(self) -> np.ndarray:
        return np.array(
            [s[1] for s in self._client.getJointStates(self.robot, self.joint_indices)]
        )

    def joint_state(self) -> tuple[np.ndarray, np.ndarray]:
        """Positions and velocities (7,) each, read in one call."""
        states = self._client.getJointStates(self.robot, self.joint_indices)
        return np.array([s[0] for s in states]), np.array([s[1] for s in states])

    def ee_position(self) -> np.ndarray:
        """World position (3,) of the flange link."""
        return np.array(self._client.getLinkState(self.robot, self.ee_link)[4])

    def keypoints(self) -> np.ndarray:
        """World positions ``(K, 3)`` of points on the arm: the origins of the seven links,
        then the centres of the tool's parts (palm, red and green finger) when the tool is
        drawn. Where the robot knows it appears in a calibrated camera's image
        (:meth:`CameraConfig.project`) from its joints and its model, no demonstration labels.
        One view's image positions need not fix the pose (a link tilted towards the camera
        and one tilted away can project alike); the frame's shading and occlusion tell them
        apart."""
        c = self._client
        links = [
            c.getLinkState(self.robot, j, computeForwardKinematics=True)
            for j in self.joint_indices
        ]
        points = [state[4] for state in links]
        if self._tool:
            flange = links[-1]
            points += [
                c.multiplyTransforms(flange[4], flange[5], offset, (0.0, 0.0, 0.0, 1.0))[0]
                for _, offset in self._tool
            ]
        return np.array(points)

    def keypoint_images(self, joints: np.ndarray, camera: CameraConfig) -> np.ndarray:
        """Image positions ``(T, K, 2)`` (:meth:`CameraConfig.project`) of the
        :meth:`keypoints` at each of the joint positions ``(T, 7)``; leaves the arm at the
        last of them."""
        images = []
        for q in joints:
            self.reset(q)
            images.append(camera.project(self.keypoints()))
        return np.array(images)

    def link_heights(self) -> np.ndarray:
        """World z of each arm link origin (7,)."""
        return np.array(
            [self._client.getLinkState(self.robot, j)[4][2] for j in self.joint_indices]
        )

    def in_collision(self) -> bool:
        """Whether the arm touches itself or the ground at the current state."""
        self._client.performCollisionDetection()
        return bool(self._client.getContactPoints(bodyA=self.robot))

    def gravity_torques(self, positions: np.ndarray) -> np.ndarray:
        """Torques (7,) that hold the arm still at ``positions`` (inverse dynamics)."""
        zeros = [0.0] * 7
        return np.array(
            self._client.calculateInverseDynamics(self.robot, list(positions), zeros, zeros)
        )

    # ------------------------------------------------------------------ control
    def step(self, action: np.ndarray) -> None:
        """Apply one command for one control period (``config.substeps`` physics steps).

        ``action`` (7,) is Nm in torque mode, rad in position mode, rad relative
        to the measured positions in position-delta mode. Non-finite commands are
        rejected with ``ValueError`` before anything is applied.
        """
        action = self._check_vector(action, "action")
        mode = self.control_mode
        if mode is ControlMode.TORQUE:
            self._step_torque(action)
            return
        if mode is ControlMode.POSITION_DELTA:
            limit = self.config.max_position_delta
            limited = np.clip(action, -limit, limit)
            self.clamps.position_delta += limited != action
            target = self._hold_target + limited
        else:
            target = action
        self._step_position(np.clip(target, self.lower_limits, self.upper_limits))

    def hold(self) -> None:
        """One control period holding the pose at which holding began (watchdog, e-stop)."""
        if self.control_mode is ControlMode.TORQUE:
            self._step_torque(np.zeros(7))
        else:
            self._step_position(self._hold_target)

    def _step_position(self, target: np.ndarray) -> None:
        self._hold_target = target
        c = self._client
        c.setJointMotorControlArray(
            self.robot,
            self.joint_indices,
            pybullet.POSITION_CONTROL,
            targetPositions=target.tolist(),
            forces=self.max_torques.tolist(),
        )
        for _ in range(self.config.substeps):
            c.stepSimulation()

    def _step_torque(self, torques: np.ndarray) -> None:
        clipped = np.clip(torques, -self.max_torques, self.max_torques)
        self.clamps.torque += clipped != torques
        c = self._client
        margin = self.config.limit_margin
        dt = 1.0 / self.config.physics_hz
        for _ in range(self.config.substeps):
            q, qd = self.joint_state()
            overlay = clipped.copy()
            # Joint-limit guard, looking one physics step ahead: no pushing into a
            # limit, and a stiff spring-damper back from beyond it (PyBullet's limit
            # constraint alone lets strong torques overshoot by several centi-radians).
            ahead = q + qd * dt
            high = ahead > self.upper_limits - margin
            low = ahead < self.lower_limits + margin
            overlay[high & (overlay > 0)] = 0.0
            overlay[low & (overlay < 0)] = 0.0
            over = np.maximum(q - (self.upper_limits - margin), 0.0)
            under = np.minimum(q - (self.lower_limits + margin), 0.0)
            overlay -= 2000.0 * (over + under) + 20.0 * qd * (high | low)
            tau = overlay + (self.gravity_torques(q) if self.config.gravity_compensation else 0.0)
            c.setJointMotorControlArray(
                self.robot, self.joint_indices, pybullet.TORQUE_CONTROL, forces=tau.tolist()
            )
            c.stepSimulation()
        self.last_torques = clipped

    # ------------------------------------------------------------------ cameras
    def render(self, view: int | CameraConfig = 0, light: Lighting | None = None) -> np.ndarray:
        """RGB frame ``(H, W, 3)`` uint8 from camera ``view`` (an index or a config), lit by
        ``light`` (None: the renderer's default light).

        With the ground plane, the arm and tool are rendered alone and composited by depth
        over the plane's frame, which is rendered once per camera and light
        (:data:`BACKGROUNDS_KEPT` of them are kept): the frame the whole scene renders, pixel
        for pixel, in some 60% of the time (TinyRenderer fills every pixel of the plane)."""
        camera = self.cameras[view] if isinstance(view, int) else view
        self._place_tool()
        # Always given: PyBullet keeps the last light it was given for the calls without one.
        light = light or Lighting()
        if self._plane is None:
            return self._camera_image(self._client, camera, light)[0]
        if camera.renderer != "tiny":  # another renderer may blend a hidden body: draw it
            self._client.changeVisualShape(self._plane, -1, rgbaColor=SHOWN)
            try:
                return self._camera_image(self._client, camera, light)[0]
            finally:
                self._client.changeVisualShape(self._plane, -1, rgbaColor=HIDDEN)
        background, background_depth = self._background(camera, light)
        rgb, depth = self._camera_image(self._client, camera, light)
        return np.where((depth < background_depth)[..., None], rgb, background)

    def _background(self, camera: CameraConfig, light: Lighting) -> tuple[np.ndarray, np.ndarray]:
        """The plane alone through ``camera`` in ``light``: its frame and depth buffer."""
        key = (camera.width, camera.height, camera.view_matrix, camera.projection_matrix, light)
        if key in self._backgrounds:
            self._backgrounds.move_to_end(key)
            return self._backgrounds[key]
        if self._scenery is None:
            self._scenery = BulletClient(connection_mode=pybullet.DIRECT)
            self._scenery.setAdditionalSearchPath(pybullet_data.getDataPath())
            self._scenery.loadURDF("plane.urdf")
        self._backgrounds[key] = self._camera_image(self._scenery, camera, light)
        if len(self._backgrounds) > BACKGROUNDS_KEPT:
            self._backgrounds.popitem(last=False)
        return self._backgrounds[key]

    @staticmethod
    def _camera_image(
        client: BulletClient, camera: CameraConfig, light: Lighting
    ) -> tuple[np.ndarray, np.ndarray]:
        """What ``client`` renders through ``camera`` in ``light``: RGB ``(H, W, 3)`` uint8
        and the depth buffer ``(H, W)``."""
        _, _, rgba, depth, _ = client.getCameraImage(
            camera.width,
            camera.height,
            viewMatrix=camera.view_matrix,
            projectionMatrix=camera.projection_matrix,
            renderer=camera.renderer_id,
            flags=pybullet.ER_NO_SEGMENTATION_MASK,
            lightDirection=light.direction,
            lightColor=light.color,
        )
        shape = (camera.height, camera.width)
        rgb = np.asarray(rgba, dtype=np.uint8).reshape(*shape, 4)[..., :3]
        return rgb, np.asarray(depth, dtype=np.float32).reshape(shape)

    def render_all(self) -> list[np.ndarray]:
        """One frame per configured camera."""
        return [self.render(i) for i in range(len(self.cameras))]

    def _place_tool(self) -> None:
        """Move the (visual-only) tool bodies onto the flange's current pose."""
        if not self._tool:
            return
        c = self._client
        state = c.getLinkState(self.robot, self.ee_link, computeForwardKinematics=True)
        for body, offset in self._tool:
            position, orientation = c.multiplyTransforms(
                state[4], state[5], offset, (0.0, 0.0, 0.0, 1.0)
            )
            c.resetBasePositionAndOrientation(body, position, orientation)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _check_vector(values: np.ndarray, name: str) -> np.ndarray:
        array = np.asarray(values, dtype=np.float64).reshape(-1)
        if array.shape != (7,):
            raise ValueError(f"{name}: expected 7 values (one per joint), got {array.shape[0]}")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name}: non-finite values rejected: {array.tolist()}")
        return array
