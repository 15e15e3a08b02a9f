"""The hardware bridge: its pure parts (torque guard, velocity estimates, joint order, the
LBR command) and the node on the wire against a fake driver per shipped profile."""

from __future__ import annotations

import os

# DDS must only talk on this machine: set before rclpy is imported or initialised.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"

import subprocess
import sys
import time

import numpy as np
import pytest
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import SetBool

from tcn.hardware import (
    JOINTS,
    LBR_TORQUE,
    TORQUE_LIMITS,
    DriverProfile,
    TorqueGuard,
    VelocityEstimator,
    available_drivers,
    lbr_torque_fields,
    load_driver_profile,
    reorder,
    torque_limits,
)
from tcn.nodes import hardware_bridge
from tcn.nodes.hardware_bridge import HardwareBridge
from tcn.nodes.ros_env import DEFAULT_JOINT_NAMES, header
from tcn.nodes.testing import RELIABLE, RosGraph, wait_for


# --------------------------------------------------------------------------- pure parts
def test_the_guard_clamps_per_joint_and_refuses_bad_commands():
    guard = TorqueGuard(TORQUE_LIMITS["iiwa7"], 0.1)
    torques, reason = guard([100.0, -100.0, 5.0, 0.0, -11.5, 3.9, 4.1])
    np.testing.assert_allclose(torques, [17.6, -17.6, 5.0, 0.0, -11.0, 3.9, 4.0])
    assert reason == "" and guard.clamped == 1
    assert guard([1.0] * 6)[0] is None and guard([np.nan] + [0.0] * 6)[0] is None
    assert "non-finite" in guard([np.inf] * 7)[1] and guard.rejected == 3
    np.testing.assert_allclose(TorqueGuard(TORQUE_LIMITS["iiwa14"], 1.0).bound[:2], 320.0)
    with pytest.raises(ValueError):
        TorqueGuard(TORQUE_LIMITS["iiwa14"], 1.5)


def test_velocities_by_filtered_differences_and_joints_by_name():
    estimate = VelocityEstimator(smoothing=0.5)
    rate = np.arange(1, 8) * 0.1
    for k in range(30):
        velocity = estimate(k * 0.01, rate * k * 0.01)
    np.testing.assert_allclose(velocity, rate, rtol=1e-6)
    names = ["b", "a", "c"]
    np.testing.assert_array_equal(reorder(names, [2.0, 1.0, 3.0], ["a", "b", "c"]), [1, 2, 3])
    assert reorder(names, [], ["a"]) is None and reorder(names, [1.0] * 3, ["z"]) is None


def test_lbr_torque_command_fields():
    fields = lbr_torque_fields(np.arange(7.0), np.full(7, 0.5))
    assert fields == {"torque": list(np.arange(7.0)), "joint_position": [0.5] * 7}
    with pytest.raises(ValueError, match="non-finite"):
        lbr_torque_fields(np.full(7, np.nan), np.zeros(7))


def test_without_a_stated_arm_the_clamp_takes_the_smaller_limits():
    limits, what = torque_limits("")
    np.testing.assert_allclose(limits, TORQUE_LIMITS["iiwa7"])  # iiwa 7 <= iiwa 14 per joint
    assert "smallest" in what
    np.testing.assert_allclose(torque_limits("iiwa14")[0], TORQUE_LIMITS["iiwa14"])
    with pytest.raises(ValueError, match="robot_model"):
        torque_limits("iiwa99")


def test_every_shipped_profile_loads():
    assert set(available_drivers()) >= {"kuka_drivers", "iiwa_ros2", "lbr_fri_ros2_stack"}
    for name in available_drivers():
        profile = load_driver_profile(name)
        assert profile.joint_states_topic.startswith("/")
        assert profile.command_topic.startswith("/") and profile.sources


def test_the_shipped_iiwa_ros2_controllers_drive_the_profiles_topic_and_joints():
    import yaml

    from tcn.paths import share_path

    config = yaml.safe_load(share_path("config/iiwa_ros2_controllers.yaml").read_text())
    profile = load_driver_profile("iiwa_ros2")
    manager = config["controller_manager"]["ros__parameters"]
    # iiwa.launch.py always spawns these two, and the bridge drives the third.
    assert {"joint_state_broadcaster", "ets_state_broadcaster", "effort_controller"} <= set(
        manager
    )
    assert manager["effort_controller"]["type"] == "effort_controllers/JointGroupEffortController"
    assert config["effort_controller"]["ros__parameters"]["joints"] == list(profile.joint_names)
    assert profile.command_topic == "/effort_controller/commands"
    assert profile.driver_settings["controllers_file"] == "iiwa_ros2_controllers.yaml"


# --------------------------------------------------------------------------- on the wire
# A fake driver per shipped profile, as its source behaves (config/drivers/*.yaml): its joint
# names in its own order beside a joint that is not the arm's, velocities measured, NaN or
# missing, a slowly drifting pose (torque mode at zero stiffness), its command topic and type.
# lbr_fri_idl has no wheel, so on the wire the lbr profile's LBRTorqueCommand is stood in for
# by a JointState whose position is the command's joint_position and whose effort its torque;
# the bridge's code path (set point kept, frozen on a hold) is the one it runs with the real
# message, and lbr_torque_fields is tested above.
WATCHDOG = 0.2
SLACK = 0.3  # a timer tick, DDS delivery and a loaded CI machine
CLAMP = np.array(TORQUE_LIMITS["iiwa7"]) * 0.1


class FakeDriver(Node):
    def __init__(self, profile: DriverProfile, msg_type, context) -> None:
        super().__init__("fake_driver", context=context)
        self.profile = profile
        self.pose = np.linspace(0.1, 0.7, JOINTS)
        self.received: list[tuple[float, np.ndarray, np.ndarray | None]] = []
        self.states = self.create_publisher(JointState, profile.joint_states_topic, 10)
        self.create_subscription(msg_type, profile.command_topic, self._on_command, RELIABLE)
        self.create_timer(0.02, self._publish)

    def _publish(self) -> None:
        self.pose = self.pose + 0.001  # 0.05 rad/s
        order = [3, 0, 6, 1, 5, 2, 4]
        kinds = {"measured": [0.05] * JOINTS, "nan": [np.nan] * JOINTS, "missing": []}
        velocities = (
            [kinds[self.profile.velocities][j] for j in order]
            if kinds[self.profile.velocities]
            else []
        )
        self.states.publish(
            JointState(
                header=header(self.get_clock().now().to_msg()),
                name=[self.profile.joint_names[j] for j in order] + ["gripper"],
                position=[*self.pose[order].tolist(), 0.0],
                velocity=velocities + ([0.0] if velocities else []),
                effort=[0.0] * (JOINTS + 1),
            )
        )

    def _on_command(self, msg) -> None:
        if isinstance(msg, JointState):  # the LBRTorqueCommand stand-in
            torques, pose = np.array(msg.effort), np.array(msg.position)
        else:
            torques, pose = np.array(msg.data), None
        self.received.append((time.monotonic(), torques, pose))

    def after(self, t: float) -> list[tuple[float, np.ndarray, np.ndarray | None]]:
        return [r for r in list(self.received) if r[0] > t]


def stand_in_lbr_codec():
    return JointState, lambda f: JointState(position=f["joint_position"], effort=f["torque"])


@pytest.fixture(params=["kuka_drivers", "iiwa_ros2", "lbr_fri_ros2_stack"])
def wire(request, ros_domain_id, monkeypatch):
    """A graph in namespace /bridge_test: the fake driver (root namespace, the profile's
    absolute topics) and the bridge on it with a 0.2 s watchdog."""
    profile = load_driver_profile(request.param)
    if profile.command_type == LBR_TORQUE:
        monkeypatch.setattr(hardware_bridge, "lbr_codec", stand_in_lbr_codec)
        msg_type = JointState
    else:
        msg_type = Float64MultiArray
    with RosGraph(ros_domain_id, namespace="/bridge_test") as graph:
        driver = graph.add(FakeDriver(profile, msg_type, graph.context))
        bridge = graph.node(HardwareBridge, driver=request.param, watchdog_timeout=WATCHDOG)
        graph.domain = ros_domain_id
        yield graph, driver, bridge


def test_joint_states_are_relayed_under_the_stacks_names_with_finite_velocities(wire):
    graph, driver, bridge = wire
    states = graph.collect(JointState, "joint_states")
    wait_for(lambda: len(states) >= 15, "relayed joint states")
    last = states[-1]
    assert list(last.name) == DEFAULT_JOINT_NAMES
    np.testing.assert_allclose(last.position, driver.pose, atol=0.01)  # A1..A7 again
    np.testing.assert_allclose(last.velocity, 0.05, atol=0.01)  # measured or estimated
    filled = bridge.filled_velocities > 0
    assert filled == (driver.profile.velocities != "measured")


def test_commands_arrive_clamped_and_a_nan_never_arrives(wire):
    graph, driver, bridge = wire
    wait_for(lambda: bridge.positions is not None, "a measured pose")
    agent = graph.probe.create_publisher(Float64MultiArray, "effort_controller/commands", 10)
    wanted = [100.0, -100.0, 5.0, 0.0, -50.0, 3.0, 50.0]
    start = time.monotonic()

    def publish(data) -> bool:
        agent.publish(Float64MultiArray(data=data))
        return True

    def forwarded() -> bool:
        return any(np.any(t) for _, t, _ in driver.after(start))

    wait_for(lambda: publish([np.nan, *wanted[1:]]) and bridge.guard.rejected, "a rejection")
    assert not forwarded()  # nothing but the watchdog's zeros so far
    wait_for(lambda: publish(wanted) and forwarded(), "a forwarded command")
    sent = [(t, pose) for _, t, pose in driver.after(start) if np.any(t)]
    np.testing.assert_allclose(sent[0][0], np.clip(wanted, -CLAMP, CLAMP))
    assert bridge.guard.clamped >= 1
    for _, torques, _ in driver.after(start):
        assert np.all(np.isfinite(torques)) and np.all(np.abs(torques) <= CLAMP + 1e-9)
    if sent[0][1] is not None:  # the lbr set point: the measured pose while commanding
        np.testing.assert_allclose(sent[0][1], driver.pose, atol=0.02)
    agent.publish(Float64MultiArray(data=wanted[:6]))  # wrong length: dropped
    wait_for(lambda: bridge.guard.rejected >= 2, "a wrong-length command rejected")


def test_the_estop_holds_zero_until_released(wire):
    graph, driver, bridge = wire
    agent = graph.probe.create_publisher(Float64MultiArray, "effort_controller/commands", 10)
    graph.probe.create_timer(0.02, lambda: agent.publish(Float64MultiArray(data=[1.0] * 7)))
    wait_for(lambda: any(np.any(t) for _, t, _ in driver.received[-5:]), "agent torques")
    assert graph.call(SetBool, "hardware_bridge/estop", SetBool.Request(data=True)).success
    engaged = time.monotonic()
    time.sleep(0.6)
    held = driver.after(engaged + 0.1)
    assert len(held) >= 10 and not any(np.any(t) for _, t, _ in held)
    if held[0][2] is not None:  # the lbr set point is frozen while the arm drifts on
        assert all(np.array_equal(pose, held[0][2]) for _, _, pose in held)
        assert np.all(driver.pose - held[0][2] > 0.005)
    graph.call(SetBool, "hardware_bridge/estop", SetBool.Request(data=False))
    released = time.monotonic()
    wait_for(lambda: any(np.any(t) for _, t, _ in driver.after(released)), "torques again")


AGENT = """
import sys, time
import rclpy
from rclpy.node import Node
from std_msgs.msg import Float64MultiArray
rclpy.init(domain_id=int(sys.argv[1]))
node = Node("doomed_agent", namespace=sys.argv[2])
pub = node.create_publisher(Float64MultiArray, "effort_controller/commands", 10)
while True:
    pub.publish(Float64MultiArray(data=[2.0] * 7))
    time.sleep(0.02)
"""


def test_sigkill_of_the_agent_leaves_zero_torque_within_the_watchdog_period(wire):
    graph, driver, _ = wire
    env = {**os.environ, "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    agent = subprocess.Popen(
        [sys.executable, "-c", AGENT, str(graph.domain), graph.namespace], env=env
    )
    try:
        wait_for(lambda: any(np.any(t) for _, t, _ in driver.received[-3:]), "agent torques", 30)
    finally:
        agent.kill()  # SIGKILL: no shutdown hook runs
        agent.wait(10)
    killed = time.monotonic()
    wait_for(lambda: any(not np.any(t) for _, t, _ in driver.after(killed)), "zero torque")
    last_torque = max(r[0] for r in driver.received if np.any(r[1]))
    first_zero = min(r[0] for r in driver.after(last_torque) if not np.any(r[1]))
    assert first_zero - last_torque <= WATCHDOG + SLACK
    time.sleep(0.3)
    assert not any(np.any(t) for _, t, _ in driver.after(first_zero))  # and it stays zero


def test_the_lbr_profile_needs_its_message_package(ros_domain_id, monkeypatch):
    monkeypatch.setattr(hardware_bridge, "lbr_codec", lambda: None)
    with RosGraph(ros_domain_id, namespace="/bridge_test") as graph:
        with pytest.raises(ValueError, match="install lbr_fri_idl"):
            graph.node(HardwareBridge, driver="lbr_fri_ros2_stack")


def test_ctrl_c_of_the_bridge_leaves_zero_torque_as_its_last_command(ros_domain_id):
    """The bridge's process, interrupted as launch interrupts it: its last command to the
    driver is zero torque (published before rclpy's context goes), and it exits 0."""
    import signal

    profile = load_driver_profile("kuka_drivers")
    with RosGraph(ros_domain_id, namespace="/tcn") as graph:
        driver = graph.add(FakeDriver(profile, Float64MultiArray, graph.context))
        env = {**os.environ, "ROS_DOMAIN_ID": str(ros_domain_id)}
        command = [sys.executable, "-m", "tcn.nodes.hardware_bridge", "--ros-args"]
        command += ["-p", "driver:=kuka_drivers", "-r", "__ns:=/tcn"]
        bridge = subprocess.Popen(command, env=env)
        try:
            agent = graph.probe.create_publisher(
                Float64MultiArray, "effort_controller/commands", 10
            )
            graph.probe.create_timer(
                0.02, lambda: agent.publish(Float64MultiArray(data=[3.0] * 7))
            )
            wait_for(lambda: any(np.any(t) for _, t, _ in driver.received[-3:]), "torques", 30)
            bridge.send_signal(signal.SIGINT)
            assert bridge.wait(15) == 0
        finally:
            if bridge.poll() is None:
                bridge.kill()
        time.sleep(0.3)
        assert not np.any(driver.received[-1][1]), driver.received[-3:]


def test_the_bridge_refuses_to_share_the_drivers_topics(ros_domain_id):
    with RosGraph(ros_domain_id) as graph:  # the root namespace: /joint_states is the driver's
        with pytest.raises(ValueError, match="its own namespace"):
            graph.node(HardwareBridge, driver="kuka_drivers")
