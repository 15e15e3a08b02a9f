"""``hardware_bridge``: the stack on a real iiwa driver, with a clamp, a watchdog and an e-stop.

Usage::

    hardware_bridge --ros-args -p driver:=kuka_drivers -p torque_fraction:=0.1

The driver's interface comes from its profile (``driver``: a name of ``config/drivers/`` or
a YAML path; :class:`tcn.hardware.DriverProfile`). Topics:

* subscribes the driver's joint states (the profile's absolute topic) and publishes them
  on ``joint_states`` (relative: the stack's namespace) under the stack's ``joint_names``,
  matched by the profile's names; NaN or missing velocities are filled by filtered finite
  differences (``velocity_smoothing``);
* subscribes ``effort_controller/commands`` (std_msgs/Float64MultiArray, 7 values in Nm,
  the agent's torque commands) and forwards them to the driver's command topic in its type
  (``Float64MultiArray`` for the ros2_control forward controllers,
  ``lbr_fri_idl/LBRTorqueCommand`` for the lbr stack, whose message package is imported when
  it is installed), each joint clamped to ``torque_fraction`` of the robot model's limits
  (:data:`tcn.hardware.TORQUE_LIMITS`, ``robot_model`` or the profile's); a non-finite or
  wrong-length command is dropped and logged;
* a watchdog: while no valid command came for ``watchdog_timeout`` s (default 0.2) the bridge
  *holds*: it sends zero torque every control period (the forward controllers would hold the
  last command forever), so a killed agent leaves zero torque, not its last one;
* ``~/estop`` (std_srvs/SetBool): true holds and ignores commands until false;
* ``diagnostics`` (1 Hz): ``relayed``, ``filled_velocities``, ``forwarded``, ``clamped``,
  ``rejected``, ``watchdog_zeros``, ``estopped``.

What a hold does depends on the driver. The lbr stack's command carries a joint position set
point that the robot's joint impedance (200 Nm/rad) pulls toward: while an agent commands it is
the measured pose, and a hold freezes it at the pose where the hold began, so the arm stays
there. kuka_drivers and iiwa_ros2 run torque mode at zero stiffness: zero torque leaves the arm
gravity-compensated, not falling, but free to drift. If the bridge itself dies, every driver
keeps applying the last command it received (docs/hardware.md: the robot-side stop).

The clamp uses ``robot_model``'s limits; left empty it uses the smaller of the iiwa 7's and
the iiwa 14's per joint, since a profile names the description its driver loads, not the arm.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import SetBool

from tcn.hardware import (
    JOINTS,
    LBR_TORQUE,
    DriverProfile,
    TorqueGuard,
    VelocityEstimator,
    lbr_torque_fields,
    load_driver_profile,
    reorder,
    shared_topics,
    torque_limits,
)
from tcn.nodes.ros_env import DEFAULT_JOINT_NAMES, declare, deliver, header, run_node, stamp_ns

LOG_PERIOD_S = 2.0
WATCHDOG_RATE_HZ = 100.0


def lbr_codec() -> tuple[type, Callable[[dict], Any]] | None:
    """``(LBRTorqueCommand, build)`` from lbr_fri_idl, or None when it is not installed;
    ``build`` makes a message of :func:`tcn.hardware.lbr_torque_fields`' fields."""
    try:
        from lbr_fri_idl.msg import LBRTorqueCommand
    except ImportError:
        return None
    return LBRTorqueCommand, lambda fields: LBRTorqueCommand(**fields)


def command_codec(profile: DriverProfile) -> tuple[type, Callable[[np.ndarray, Any], Any]]:
    """The driver's command type and ``encode(torques, set_point) -> message``."""
    if profile.command_type != LBR_TORQUE:
        return Float64MultiArray, lambda torques, _: Float64MultiArray(data=torques.tolist())
    codec = lbr_codec()
    if codec is None:
        raise ValueError(
            f"driver {profile.driver} takes {LBR_TORQUE}: install lbr_fri_idl "
            f"(the lbr stack's message package) in this environment"
        )
    msg_type, build = codec
    return msg_type, lambda torques, pose: build(lbr_torque_fields(torques, pose))


class HardwareBridge(Node):
    """See the module docstring. Counters are attributes for tests and diagnostics."""

    def __init__(self, **kwargs) -> None:
        super().__init__("hardware_bridge", **kwargs)
        driver = declare(self, "driver", "", "driver profile: config/drivers name or YAML path")
        model = declare(
            self, "robot_model", "", "iiwa7 | iiwa14, the arm; empty = the smaller limits of both"
        )
        fraction = float(
            declare(self, "torque_fraction", 0.1, "clamp: fraction of the torque limits")
        )
        self.watchdog_timeout = float(
            declare(self, "watchdog_timeout", 0.2, "s without a valid command: zero torque")
        )
        smoothing = float(
            declare(self, "velocity_smoothing", 0.5, "filter of estimated velocities, [0, 1)")
        )
        self.joint_names = list(
            declare(self, "joint_names", DEFAULT_JOINT_NAMES, "the stack's joint names")
        )
        if not driver:
            raise ValueError(
                "parameter 'driver' is required: kuka_drivers, iiwa_ros2, lbr_fri_ros2_stack "
                "or a profile YAML (config/drivers/)"
            )
        if len(self.joint_names) != JOINTS:
            raise ValueError(f"joint_names: expected {JOINTS} names, got {self.joint_names}")
        if self.watchdog_timeout <= 0:
            raise ValueError(f"watchdog_timeout must be positive, got {self.watchdog_timeout}")
        self.profile = load_driver_profile(driver)
        limits, self.robot_model = torque_limits(model)
        if model and model != self.profile.robot_model:
            self.get_logger().warning(
                f"robot_model {model} but {self.profile.driver}'s profile loads "
                f"{self.profile.robot_model}: launch the driver for the same arm"
            )
        self.guard = TorqueGuard(limits, fraction)
        self.velocities = VelocityEstimator(smoothing)
        command_type, self._encode = command_codec(self.profile)
        shared = shared_topics(self.profile, self.get_namespace())
        if shared:
            raise ValueError(
                f"the stack's topics are the driver's {', '.join(shared)}: run the bridge in "
                f"its own namespace (tcn launch --driver does: /tcn), or it hears its own output"
            )
        # Only the lbr stack's command holds a pose: it needs one measured before it sends.
        self.needs_pose = self.profile.command_type == LBR_TORQUE

        self.relayed = 0
        self.filled_velocities = 0
        self.forwarded = 0
        self.watchdog_zeros = 0
        self.estopped = False
        self.positions: np.ndarray | None = None  # the driver's latest, A1..A7
        self.hold_pose: np.ndarray | None = None  # the set point frozen while holding
        self._last_valid = -np.inf  # monotonic time of the last valid command

        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.joint_pub = self.create_publisher(JointState, "joint_states", 10)
        self.command_pub = self.create_publisher(
            command_type, self.profile.command_topic, reliable
        )
        self.diag_pub = self.create_publisher(DiagnosticArray, "diagnostics", 10)
        self.create_subscription(
            JointState, self.profile.joint_states_topic, self._on_driver_joints, 10
        )
        self.create_subscription(
            Float64MultiArray, "effort_controller/commands", self._on_command, 10
        )
        self.create_service(SetBool, "~/estop", self._on_estop)
        # The forward controllers hold a command, so the watchdog need not match a 1 kHz loop.
        self.create_timer(1.0 / min(self.profile.rate_hz, WATCHDOG_RATE_HZ), self._watchdog)
        self.create_timer(1.0, self._publish_diagnostics)
        bound = ", ".join(f"{b:.0f}" for b in self.guard.bound)
        self.get_logger().info(
            f"bridging {self.profile.driver} ({self.robot_model}): joints "
            f"{self.profile.joint_states_topic} -> joint_states, effort_controller/commands -> "
            f"{self.profile.command_topic} ({self.profile.command_type}), clamp [{bound}] Nm, "
            f"watchdog {self.watchdog_timeout} s"
        )

    # ------------------------------------------------------------------ joint states
    def _on_driver_joints(self, msg: JointState) -> None:
        positions = reorder(msg.name, msg.position, self.profile.joint_names)
        if positions is None or not np.all(np.isfinite(positions)):
            self.get_logger().warning(
                f"driver joint state lacks {self.profile.joint_names} or is non-finite: dropped",
                throttle_duration_sec=LOG_PERIOD_S,
            )
            return
        stamp = stamp_ns(msg.header.stamp) * 1e-9
        estimate = self.velocities(stamp if stamp > 0 else time.monotonic(), positions)
        velocities = reorder(msg.name, msg.velocity, self.profile.joint_names)
        if velocities is None or not np.all(np.isfinite(velocities)):
            velocities = estimate
            self.filled_velocities += 1
        self.positions = positions
        out = JointState(
            header=msg.header,
            name=self.joint_names,
            position=positions.tolist(),
            velocity=velocities.tolist(),
        )
        efforts = reorder(msg.name, msg.effort, self.profile.joint_names)
        if efforts is not None and np.all(np.isfinite(efforts)):
            out.effort = efforts.tolist()
        self.joint_pub.publish(out)
        self.relayed += 1

    # ------------------------------------------------------------------ commands
    def _on_command(self, msg: Float64MultiArray) -> None:
        if self.estopped:
            return
        torques, reason = self.guard(msg.data)
        if torques is None:
            self.get_logger().error(
                f"dropped command: {reason}", throttle_duration_sec=LOG_PERIOD_S
            )
            return
        self.hold_pose = None
        if self._send(torques, self.positions):
            self._last_valid = time.monotonic()
            self.forwarded += 1

    def _send(self, torques: np.ndarray, pose: np.ndarray | None) -> bool:
        if self.needs_pose and pose is None:
            return False  # the LBR command holds a position too: none measured yet
        self.command_pub.publish(self._encode(torques, pose))
        return True

    def _hold(self) -> bool:
        """Zero torque, and for the lbr stack the set point frozen where the hold began."""
        if self.hold_pose is None and self.positions is not None:
            self.hold_pose = self.positions.copy()
        return self._send(np.zeros(JOINTS), self.hold_pose)

    def _watchdog(self) -> None:
        if self.estopped or time.monotonic() - self._last_valid > self.watchdog_timeout:
            if self._hold():
                self.watchdog_zeros += 1

    def _on_estop(self, request: SetBool.Request, response: SetBool.Response):
        self.estopped = bool(request.data)
        if self.estopped:
            self._hold()
        else:
            self._last_valid = -np.inf  # released: hold until a new command
        response.success = True
        response.message = "e-stop engaged: holding" if self.estopped else "e-stop released"
        self.get_logger().warning(response.message)
        return response

    def _publish_diagnostics(self) -> None:
        level = DiagnosticStatus.WARN if self.estopped else DiagnosticStatus.OK
        values = (
            ("relayed", self.relayed),
            ("filled_velocities", self.filled_velocities),
            ("forwarded", self.forwarded),
            ("clamped", self.guard.clamped),
            ("rejected", self.guard.rejected),
            ("watchdog_zeros", self.watchdog_zeros),
            ("estopped", self.estopped),
        )
        status = DiagnosticStatus(
            level=level,
            name=f"{self.get_name()}: {self.profile.driver}",
            message="e-stop" if self.estopped else "bridging",
            hardware_id=self.robot_model,
            values=[KeyValue(key=k, value=str(v)) for k, v in values],
        )
        self.diag_pub.publish(
            DiagnosticArray(header=header(self.get_clock().now().to_msg()), status=[status])
        )

    def destroy_node(self) -> None:
        if hasattr(self, "command_pub"):  # not when __init__ refused the parameters
            self._hold()  # a clean shutdown leaves zero torque too
            if not deliver(self.command_pub):  # Fast DDS acks on its heartbeat, often later
                self.get_logger().debug("final zero torque sent, not yet acknowledged")
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(HardwareBridge, "hardware_bridge", args)


if __name__ == "__main__":
    raise SystemExit(main())
