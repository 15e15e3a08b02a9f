"""``kuka_sim_node``: the simulated iiwa behind the ROS 2 interface of ARCHITECTURE.md.

Usage::

    kuka_sim_node
    kuka_sim_node --ros-args -p demo:=data/episode_0000 -p control_mode:=torque
    kuka_sim_node --ros-args -p publish_clock:=true -p real_time_factor:=0.0

Topics (relative names, so a namespace or remap swaps in real hardware):

* publishes ``joint_states`` (sensor_msgs/JointState: names from ``joint_names``,
  position, velocity, effort = the torque overlay applied in the last control period,
  zeros in position mode), ``camera/image_raw`` (rgb8, reliable, depth 10) and
  ``camera/camera_info`` with the image's header (frame ``camera_optical_frame``),
  ``diagnostics`` (1 Hz, counters) and, with ``publish_clock``, ``/clock``.
* subscribes ``effort_controller/commands`` (std_msgs/Float64MultiArray, 7 values in Nm,
  ``joint_names`` order; torque mode) and ``position_controller/commands`` (7 values in
  rad; position mode). A command of the wrong length or with non-finite values is rejected
  (counted in ``rejected``) and the previous command stays; a command for the other mode,
  or during an emergency stop, is ignored (counted in ``ignored``). Torques beyond
  ``max_torques`` are clamped by the sim (``clamped`` joint-periods).
* services ``~/reset`` (std_srvs/Trigger: back to the start pose, commands cleared; an
  emergency stop stays engaged) and ``~/emergency_stop`` (std_srvs/SetBool: true brakes
  the arm in place (position hold) and ignores commands; false releases it, waiting for a
  new command).

Timing: every tick advances the physics by one control period ``1/update_rate``. By
default ticks run on a steady wall-clock timer at ``update_rate`` and stamps are wall
time. With ``publish_clock`` the node publishes ``/clock`` with the simulated time
(``ticks / update_rate``) and stamps with it; it then runs ``real_time_factor`` times
faster than real time (0 = as fast as the CPU allows). Other nodes follow it with
``use_sim_time:=true``; do not set ``use_sim_time`` on this node itself. A camera frame is
rendered in the tick where it is due (``camera_rate`` <= ``update_rate``), so a frame
always shows the state published in the same tick.

Watchdog: when no valid command arrived for ``command_timeout`` seconds (simulated
seconds with ``publish_clock``), the command is dropped (``watchdog_trips`` counts it):
the torque overlay drops to zero (gravity compensation keeps working) or, in position
mode, the arm holds its last target.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock as ClockMsg
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import SetBool, Trigger

from kuka_sim import CameraConfig, ControlMode, KukaSim, SimConfig, make_cameras
from kuka_sim.sim import DEFAULT_URDF, IIWA14_MAX_TORQUES
from tcn.bags import read_episode
from tcn.nodes.ros_env import (
    DEFAULT_JOINT_NAMES,
    camera_info_msg,
    declare,
    header,
    image_msg,
    run_node,
    stamp_from_seconds,
)

CAMERA_FRAME = "camera_optical_frame"
LOG_PERIOD_S = 2.0  # throttle for repeated warnings


class KukaSimNode(Node):
    """One :class:`kuka_sim.KukaSim` stepped on a timer; ``**kwargs`` go to ``rclpy.node.Node``.

    Counters for tests and diagnostics: ``rejected``, ``ignored``, ``watchdog_trips``,
    ``clamped`` (from the sim), ``ticks``, ``frames``.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("kuka_sim_node", **kwargs)
        self.joint_names = list(
            declare(self, "joint_names", DEFAULT_JOINT_NAMES, "published joint names, URDF order")
        )
        urdf = declare(self, "urdf", "", "robot description path; empty = pybullet's iiwa")
        self.update_rate = float(
            declare(self, "update_rate", 20.0, "control rate (Hz): one control period per tick")
        )
        self.camera_rate = float(
            declare(self, "camera_rate", 20.0, "camera frames per (simulated) second")
        )
        image_size = int(declare(self, "image_size", 128, "default camera size (px, square)"))
        demo = declare(
            self,
            "demo",
            "",
            "bag whose camera config and first joint positions are used; "
            "empty = default camera of image_size and the home pose (all zeros)",
        )
        mode = declare(self, "control_mode", "torque", "torque | position")
        gravity = bool(
            declare(self, "gravity_compensation", True, "torque mode: commands are an overlay")
        )
        max_torques = list(
            declare(self, "max_torques", list(IIWA14_MAX_TORQUES), "torque limits (Nm)")
        )
        self.command_timeout = float(
            declare(self, "command_timeout", 0.5, "s without a valid command before holding")
        )
        self.publish_clock = bool(
            declare(self, "publish_clock", False, "publish /clock with simulated time")
        )
        real_time_factor = float(
            declare(
                self,
                "real_time_factor",
                1.0,
                "with publish_clock: simulated/wall speed ratio; 0 = as fast as possible",
            )
        )

        if len(self.joint_names) != 7:
            raise ValueError(f"joint_names: expected 7 names, got {self.joint_names}")
        if mode not in (ControlMode.TORQUE.value, ControlMode.POSITION.value):
            raise ValueError(f"control_mode: expected 'torque' or 'position', got {mode!r}")
        if self.camera_rate <= 0 or self.command_timeout <= 0 or real_time_factor < 0:
            raise ValueError(
                f"camera_rate and command_timeout must be positive and real_time_factor >= 0, "
                f"got {self.camera_rate}, {self.command_timeout}, {real_time_factor}"
            )
        if self.camera_rate > self.update_rate:
            self.get_logger().warning(
                f"camera_rate {self.camera_rate} Hz > update_rate {self.update_rate} Hz: "
                "one frame per tick"
            )
        self.mode = ControlMode(mode)
        config = SimConfig(
            urdf=urdf or DEFAULT_URDF,
            control_rate=self.update_rate,
            control_mode=self.mode,
            gravity_compensation=gravity,
            max_torques=tuple(max_torques),
        )
        self._demo = read_episode(demo) if demo else None
        camera = self._demo_camera(demo) if demo else make_cameras(1, image_size)[0]
        self.camera = camera
        self.sim = KukaSim(config, [camera])
        # A callback in flight when the node is destroyed must not touch a closed simulator.
        self._sim_lock, self._closed = threading.Lock(), False
        self.start_positions = self._demo_start(demo) if demo else np.zeros(7)
        self.sim.reset(self.start_positions)

        self.rejected = 0
        self.ignored = 0
        self.watchdog_trips = 0
        self.ticks = 0
        self.frames = 0
        self.estopped = False
        self._command: np.ndarray | None = None
        self._command_time = 0.0
        self._next_frame_time = 0.0
        self._wall_start = time.monotonic()

        self.joint_pub = self.create_publisher(JointState, "joint_states", 10)
        camera_qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.image_pub = self.create_publisher(Image, "camera/image_raw", camera_qos)
        self.info_pub = self.create_publisher(CameraInfo, "camera/camera_info", camera_qos)
        self.diag_pub = self.create_publisher(DiagnosticArray, "diagnostics", 10)
        self.clock_pub = (
            self.create_publisher(ClockMsg, "/clock", 10) if self.publish_clock else None
        )
        self.create_subscription(
            Float64MultiArray,
            "effort_controller/commands",
            lambda msg: self._on_command(msg, ControlMode.TORQUE),
            10,
        )
        self.create_subscription(
            Float64MultiArray,
            "position_controller/commands",
            lambda msg: self._on_command(msg, ControlMode.POSITION),
            10,
        )
        self.create_service(Trigger, "~/reset", self._on_reset)
        self.create_service(SetBool, "~/emergency_stop", self._on_emergency_stop)

        # Steady clocks: the sim paces itself and never waits for /clock (its own output).
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        period = 1.0 / self.update_rate
        if self.publish_clock:
            period = period / real_time_factor if real_time_factor > 0 else 0.0
        self.create_timer(period, self._tick, clock=steady)
        self.create_timer(1.0, self._publish_diagnostics, clock=steady)
        self.get_logger().info(
            f"{self.mode.value} mode at {self.update_rate} Hz, camera {camera.width}x"
            f"{camera.height} at {self.camera_rate} Hz, "
            f"{'simulated' if self.publish_clock else 'wall'} time"
        )

    # ------------------------------------------------------------------ setup
    def _demo_camera(self, demo: str) -> CameraConfig:
        camera = self._demo.cameras[0]
        if camera is None:
            raise ValueError(
                f"demo {demo}: the bag stores no camera config (recorded outside this stack); "
                "leave 'demo' empty to use the default camera"
            )
        return camera

    def _demo_start(self, demo: str) -> np.ndarray:
        """First joint positions of the demo, in the sim's joint order (matched by name)."""
        names = self._demo.joint_names
        for candidate in (self.sim.joint_names, self.joint_names):
            if set(candidate) <= set(names):
                return self._demo.joint_positions[0, [names.index(n) for n in candidate]]
        raise ValueError(
            f"demo {demo}: joints {names} match neither the URDF's {self.sim.joint_names} "
            f"nor joint_names {self.joint_names}"
        )

    # ------------------------------------------------------------------ state
    @property
    def sim_time(self) -> float:
        """Simulated seconds since start (ticks / update_rate)."""
        return self.ticks / self.update_rate

    @property
    def clamped(self) -> int:
        """Joint-periods in which a torque command was clamped to ``max_torques``."""
        return int(self.sim.clamps.torque.sum())

    @property
    def applied_torques(self) -> np.ndarray:
        """The torque overlay (7,) applied in the last control period."""
        return self.sim.last_torques.copy()

    def _now(self) -> float:
        """Seconds on the clock the watchdog uses: simulated or steady wall time."""
        return self.sim_time if self.publish_clock else time.monotonic() - self._wall_start

    # ------------------------------------------------------------------ callbacks
    def _on_command(self, msg: Float64MultiArray, mode: ControlMode) -> None:
        log = self.get_logger()
        values = np.asarray(msg.data, dtype=np.float64)
        if values.shape != (7,) or not np.all(np.isfinite(values)):
            self.rejected += 1
            log.warning(
                f"rejected {mode.value} command {values.tolist()}: expected 7 finite values "
                f"in joint_names order ({self.rejected} rejected so far)",
                throttle_duration_sec=LOG_PERIOD_S,
            )
            return
        if self.estopped or mode is not self.mode:
            self.ignored += 1
            reason = "emergency stop engaged" if self.estopped else f"node is in {self.mode.value}"
            log.warning(
                f"ignored {mode.value} command: {reason}", throttle_duration_sec=LOG_PERIOD_S
            )
            return
        self._command = values
        self._command_time = self._now()

    def _while_open(self, action: Callable[[], object]) -> bool:
        """Run ``action`` unless the node is destroyed (then False), never while it is."""
        with self._sim_lock:
            if self._closed:
                return False
            action()
            return True

    def _tick(self) -> None:
        self._while_open(self._step)

    def _step(self) -> None:
        if self._command is not None and self._now() - self._command_time > self.command_timeout:
            self._command = None
            self.watchdog_trips += 1
            self.get_logger().warning(
                f"no command for {self.command_timeout} s: holding "
                f"({self.watchdog_trips} watchdog trips)",
                throttle_duration_sec=LOG_PERIOD_S,
            )
        clamped = self.clamped
        if self._command is None or self.estopped:
            self.sim.hold()
        else:
            self.sim.step(self._command)
        if self.clamped > clamped:
            self.get_logger().warning(
                f"torque command {self._command.tolist()} clamped to max_torques "
                f"({self.clamped} clamped joint-periods)",
                throttle_duration_sec=LOG_PERIOD_S,
            )
        self.ticks += 1
        if self.publish_clock:
            stamp = stamp_from_seconds(self.sim_time)
            self.clock_pub.publish(ClockMsg(clock=stamp))
        else:
            stamp = self.get_clock().now().to_msg()
        self._publish_joints(stamp)
        if self.sim_time + 1e-9 >= self._next_frame_time:
            self._next_frame_time = max(
                self._next_frame_time + 1.0 / self.camera_rate, self.sim_time
            )
            self._publish_frame(stamp)

    def _publish_joints(self, stamp) -> None:
        q, qd = self.sim.joint_state()
        self.joint_pub.publish(
            JointState(
                header=header(stamp),
                name=self.joint_names,
                position=q.tolist(),
                velocity=qd.tolist(),
                effort=self.sim.last_torques.tolist(),
            )
        )

    def _publish_frame(self, stamp) -> None:
        msg_header = header(stamp, CAMERA_FRAME)
        self.image_pub.publish(image_msg(self.sim.render(0), msg_header))
        self.info_pub.publish(camera_info_msg(self.camera, msg_header))
        self.frames += 1

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response):
        if not self._while_open(lambda: self.sim.reset(self.start_positions)):
            response.success, response.message = False, "the simulator is shut down"
            return response
        self._command = None
        response.success = True
        response.message = f"reset to {np.round(self.start_positions, 3).tolist()}" + (
            " (emergency stop still engaged)" if self.estopped else ""
        )
        self.get_logger().info(response.message)
        return response

    def _on_emergency_stop(self, request: SetBool.Request, response: SetBool.Response):
        self._command = None
        self.estopped = bool(request.data)
        # Engaged: brake in place with a position hold (a zero torque overlay would coast).
        mode = ControlMode.POSITION if self.estopped else self.mode
        self._while_open(lambda: self.sim.set_control_mode(mode))
        response.success = True
        response.message = (
            "emergency stop engaged: holding, commands ignored"
            if self.estopped
            else "emergency stop released: waiting for a command"
        )
        self.get_logger().warning(response.message)
        return response

    def _publish_diagnostics(self) -> None:
        self._while_open(self._diagnose)

    def _diagnose(self) -> None:
        idle = self._command is None
        level = DiagnosticStatus.WARN if self.estopped or idle else DiagnosticStatus.OK
        status = DiagnosticStatus(
            level=level,
            name=f"{self.get_name()}: simulation",
            message="emergency stop" if self.estopped else ("holding" if idle else "commanded"),
            hardware_id="kuka_sim",
            values=[
                KeyValue(key=key, value=str(value))
                for key, value in (
                    ("rejected", self.rejected),
                    ("ignored", self.ignored),
                    ("clamped", self.clamped),
                    ("watchdog_trips", self.watchdog_trips),
                    ("ticks", self.ticks),
                    ("sim_time", round(self.sim_time, 3)),
                )
            ],
        )
        self.diag_pub.publish(
            DiagnosticArray(header=header(self.get_clock().now().to_msg()), status=[status])
        )

    def destroy_node(self) -> None:
        # First: waits for a callback in flight, and the later ones do nothing, so none
        # publishes through the destroyed publishers or renders through the closed client.
        with self._sim_lock:
            self._closed = True
            self.sim.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(KukaSimNode, "kuka_sim_node", args)


if __name__ == "__main__":
    raise SystemExit(main())
