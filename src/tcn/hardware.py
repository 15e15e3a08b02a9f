"""Between the stack and a real iiwa driver: driver profiles, torque safety, velocities.

Pure functions and small classes, no ROS: :mod:`tcn.nodes.hardware_bridge` wraps them.

* :class:`DriverProfile`: what a driver publishes and takes (``config/drivers/<name>.yaml``,
  read from the drivers' sources; docs/hardware.md cites them): its joint names in A1..A7
  order, its joint-state topic and whether it gives velocities, its command topic and
  message type, its rate, the robot model it assumes.
* :class:`TorqueGuard`: a per-joint clamp at a fraction of the robot model's torque limits
  (:data:`TORQUE_LIMITS`, :func:`torque_limits`); it rejects non-finite or wrong-length
  commands.
* :class:`VelocityEstimator`: joint velocities by filtered finite differences, for drivers
  whose ``joint_states`` carry NaN or no velocities.
* :func:`reorder` (joints matched by name) and :func:`lbr_torque_fields` (the lbr stack's
  ``LBRTorqueCommand``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tcn.errors import TcnError

JOINTS = 7
TORQUE_LIMITS: dict[str, tuple[float, ...]] = {
    "iiwa7": (176.0, 176.0, 110.0, 110.0, 110.0, 40.0, 40.0),
    "iiwa14": (320.0, 320.0, 176.0, 176.0, 110.0, 40.0, 40.0),
}
"""Nm per joint A1..A7: LBR iiwa 7 R800 and LBR iiwa 14 R820 (KUKA's specifications)."""
VELOCITY_KINDS = ("measured", "nan", "missing")
FLOAT_ARRAY = "std_msgs/msg/Float64MultiArray"
LBR_TORQUE = "lbr_fri_idl/msg/LBRTorqueCommand"
COMMAND_TYPES = (FLOAT_ARRAY, LBR_TORQUE)
DRIVERS_DIR = "config/drivers"


@dataclass(frozen=True)
class DriverProfile:
    """One driver's interface, as its source defines it (``config/drivers/<driver>.yaml``).

    Attributes:
        driver: the profile's name (``kuka_drivers``, ``iiwa_ros2``, ``lbr_fri_ros2_stack``).
        robot_model: ``iiwa7`` or ``iiwa14`` (:data:`TORQUE_LIMITS`).
        joint_names: the driver's joint names, in A1..A7 order.
        joint_states_topic: absolute topic of its ``sensor_msgs/JointState``.
        velocities: what its joint states carry: ``measured``, ``nan`` or ``missing``.
        command_topic: absolute topic its torque commands go to.
        command_type: :data:`FLOAT_ARRAY` (ros2_control forward controllers) or
            :data:`LBR_TORQUE`.
        rate_hz: the driver's control rate.
        namespace: the driver's namespace.
        driver_settings: what the driver needs set for torque control (documentation).
        start: commands that start it (documentation).
        sources: the files and commits this profile was read from.
    """

    driver: str
    robot_model: str
    joint_names: tuple[str, ...]
    joint_states_topic: str
    velocities: str
    command_topic: str
    command_type: str
    rate_hz: float
    namespace: str = ""
    driver_settings: Mapping[str, Any] = field(default_factory=dict)
    start: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        problems = []
        if len(self.joint_names) != JOINTS:
            problems.append(f"joint_names: expected {JOINTS}, got {list(self.joint_names)}")
        if self.robot_model not in TORQUE_LIMITS:
            problems.append(f"robot_model {self.robot_model!r} not in {sorted(TORQUE_LIMITS)}")
        if self.velocities not in VELOCITY_KINDS:
            problems.append(f"velocities {self.velocities!r} not in {VELOCITY_KINDS}")
        if self.command_type not in COMMAND_TYPES:
            problems.append(f"command type {self.command_type!r} not in {COMMAND_TYPES}")
        if not self.rate_hz > 0:
            problems.append(f"rate_hz must be positive, got {self.rate_hz!r}")
        if problems:
            raise ValueError(f"driver profile {self.driver}: " + "; ".join(problems))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriverProfile:
        try:
            return cls(
                driver=str(data["driver"]),
                robot_model=str(data["robot_model"]),
                joint_names=tuple(str(n) for n in data["joint_names"]),
                joint_states_topic=str(data["joint_states"]["topic"]),
                velocities=str(data["joint_states"]["velocities"]),
                command_topic=str(data["command"]["topic"]),
                command_type=str(data["command"]["type"]),
                rate_hz=float(data["rate_hz"]),
                namespace=str(data.get("namespace") or ""),
                driver_settings=dict(data.get("driver_settings") or {}),
                start=tuple(str(s) for s in data.get("start") or ()),
                sources=tuple(str(s) for s in data.get("sources") or ()),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"driver profile {data.get('driver', '?')}: missing {exc}") from exc


def available_drivers() -> list[str]:
    """The profiles shipped in ``config/drivers/``."""
    from tcn.paths import share_path

    directory = share_path(DRIVERS_DIR)
    return sorted(p.stem for p in directory.glob("*.yaml")) if directory else []


def load_driver_profile(name_or_path: str | Path) -> DriverProfile:
    """A shipped profile by name, or a profile YAML by path; ``TcnError`` naming the known
    ones when there is no such profile."""
    import yaml

    from tcn.paths import share_path

    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        found = share_path(f"{DRIVERS_DIR}/{name_or_path}.yaml")
        if found is None:
            raise TcnError(
                f"unknown driver {name_or_path!r}; profiles: {', '.join(available_drivers())}"
            )
        path = found
    if not path.is_file():
        raise TcnError(f"driver profile {path} not found")
    try:
        return DriverProfile.from_dict(yaml.safe_load(path.read_text()) or {})
    except ValueError as exc:
        raise TcnError(f"{path}: {exc}") from exc


class TorqueGuard:
    """Clamp torque commands per joint to ``fraction`` of ``limits``; refuse bad ones.

    Counters: ``clamped`` (commands with a value beyond the clamp), ``rejected``."""

    def __init__(self, limits: Sequence[float], fraction: float) -> None:
        if not 0 < fraction <= 1:
            raise ValueError(f"torque fraction must be in (0, 1], got {fraction!r}")
        limits = np.asarray(limits, dtype=np.float64)
        if limits.shape != (JOINTS,) or not np.all(limits > 0):
            raise ValueError(f"torque limits: expected {JOINTS} positive values, got {limits}")
        self.bound = limits * fraction
        self.clamped = 0
        self.rejected = 0

    def __call__(self, command: Sequence[float]) -> tuple[np.ndarray | None, str]:
        """``(torques, "")`` clamped, or ``(None, reason)`` for a command to drop."""
        values = np.asarray(command, dtype=np.float64).reshape(-1)
        if values.shape != (JOINTS,):
            self.rejected += 1
            return None, f"expected {JOINTS} torques, got {values.size}"
        if not np.all(np.isfinite(values)):
            self.rejected += 1
            return None, f"non-finite torque command {values.tolist()}"
        clamped = np.clip(values, -self.bound, self.bound)
        if np.any(clamped != values):
            self.clamped += 1
        return clamped, ""


class VelocityEstimator:
    """Joint velocities from positions: finite differences over the stamps, smoothed by an
    exponential filter (``smoothing`` of the previous estimate kept each sample)."""

    def __init__(self, smoothing: float = 0.5) -> None:
        if not 0 <= smoothing < 1:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing!r}")
        self.smoothing = smoothing
        self._last: tuple[float, np.ndarray] | None = None
        self._velocity = np.zeros(JOINTS)

    def __call__(self, stamp: float, positions: np.ndarray) -> np.ndarray:
        positions = np.asarray(positions, dtype=np.float64)
        if self._last is not None:
            dt = stamp - self._last[0]
            if dt > 0:
                raw = (positions - self._last[1]) / dt
                self._velocity = self.smoothing * self._velocity + (1 - self.smoothing) * raw
        self._last = (stamp, positions)
        return self._velocity.copy()


STACK_TOPICS = ("joint_states", "effort_controller/commands")
"""The bridge's stack-side topics, relative to the stack's namespace."""


def shared_topics(profile: DriverProfile, namespace: str) -> list[str]:
    """The driver's topics that the stack's :data:`STACK_TOPICS` would be in ``namespace``:
    where the bridge would read its own output as the driver's. Empty when they are apart."""
    prefix = "/" + namespace.strip("/") if namespace.strip("/") else ""
    ours = {f"{prefix}/{topic}" for topic in STACK_TOPICS}
    return sorted(ours & {profile.joint_states_topic, profile.command_topic})


def torque_limits(robot_model: str = "") -> tuple[np.ndarray, str]:
    """The limits to clamp against and what they are: the named model's, or, when the arm's
    model is not stated, the smallest of every model's per joint, since a driver's profile
    says only which description the driver loads, not which arm is bolted down."""
    if robot_model:
        if robot_model not in TORQUE_LIMITS:
            raise ValueError(
                f"robot_model must be one of {sorted(TORQUE_LIMITS)}, got {robot_model!r}"
            )
        return np.asarray(TORQUE_LIMITS[robot_model], dtype=np.float64), robot_model
    smallest = np.min(np.asarray(list(TORQUE_LIMITS.values()), dtype=np.float64), axis=0)
    return smallest, "smallest of " + "/".join(sorted(TORQUE_LIMITS))


def reorder(
    names: Sequence[str], values: Sequence[float], wanted: Sequence[str]
) -> np.ndarray | None:
    """``values`` (one per ``names``) in the order of ``wanted``; None when one is missing or
    the values do not match the names one to one (a JointState may leave velocities empty)."""
    if len(values) != len(names):
        return None
    index = {name: i for i, name in enumerate(names)}
    if any(name not in index for name in wanted):
        return None
    return np.array([float(values[index[name]]) for name in wanted])


def lbr_torque_fields(torques: np.ndarray, positions: np.ndarray) -> dict[str, list[float]]:
    """The fields of an ``lbr_fri_idl/LBRTorqueCommand``: the torques (Nm, A1..A7) and the
    joint position set point. In FRI's torque mode the robot adds the torques to a joint
    impedance spring toward that set point (LBRServer: 200 Nm/rad), so the set point must be
    a real pose: the measured one while an agent commands (torque only, no spring toward
    another pose), a frozen one while the bridge holds (the spring keeps the arm there)."""
    torques = np.asarray(torques, dtype=np.float64)
    positions = np.asarray(positions, dtype=np.float64)
    if torques.shape != (JOINTS,) or positions.shape != (JOINTS,):
        raise ValueError(
            f"need {JOINTS} torques and positions, got {torques.shape}, {positions.shape}"
        )
    if not (np.all(np.isfinite(torques)) and np.all(np.isfinite(positions))):
        raise ValueError("non-finite torque or position in an LBR torque command")
    return {"joint_position": positions.tolist(), "torque": torques.tolist()}
