"""The ROS 2 nodes over real rclpy + Fast DDS: localhost discovery, one domain id per test.

Each test starts its own rclpy context (distinct ``ROS_DOMAIN_ID``), runs the node under
test and a probe node in a ``SingleThreadedExecutor`` spun in a background thread, and
waits on conditions with deadlines, so no test can hang.
"""

from __future__ import annotations

import itertools
import os

# DDS must only talk on this machine: set before rclpy is imported or initialised.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"

import subprocess
import sys
import time

import numpy as np
import pytest
from rosgraph_msgs.msg import Clock as ClockMsg
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64MultiArray, Int32
from std_srvs.srv import SetBool, Trigger

from kuka_sim import DemoConfig, make_cameras, record_demonstration
from tcn.bags import read_episode, write_episode
from tcn.errors import BagError
from tcn.images import image_to_rgb
from tcn.nodes.demo_player import DemoPlayer
from tcn.nodes.kuka_sim_node import KukaSimNode
from tcn.nodes.testing import RosGraph, wait_for

_domains = itertools.count()


def fresh_domain_id() -> int:
    """A domain id in 1..100 that differs between the tests of one run."""
    return 1 + (os.getpid() + next(_domains)) % 100


class Graph(RosGraph):
    """A graph in a fresh domain id that builds the simulator at 32 px unless told."""

    def __init__(self) -> None:
        super().__init__(fresh_domain_id())

    def sim(self, **params) -> KukaSimNode:
        return self.node(KukaSimNode, **{"image_size": 32, **params})


def command(values) -> Float64MultiArray:
    return Float64MultiArray(data=[float(v) for v in values])


def joint1(node: KukaSimNode) -> float:
    return float(node.sim.joint_positions()[0])


@pytest.fixture
def graph():
    g = Graph()
    yield g
    g.close()


@pytest.fixture(scope="module")
def demo_bag(tmp_path_factory):
    episode = record_demonstration(3, make_cameras(1, 32), demo_config=DemoConfig(frames=31))
    return write_episode(tmp_path_factory.mktemp("demo") / "episode_0000", episode)


# --------------------------------------------------------------------------- kuka_sim_node
def test_publishes_joint_states_and_camera(graph):
    names = [f"arm_joint_{i}" for i in range(1, 8)]
    graph.sim(joint_names=names, camera_rate=10.0)
    joints = graph.collect(JointState, "joint_states")
    images = graph.collect(Image, "camera/image_raw")
    infos = graph.collect(CameraInfo, "camera/camera_info")
    wait_for(lambda: len(images) >= 3 and len(infos) >= 3 and len(joints) >= 3, "sensor data")

    state = joints[-1]
    assert list(state.name) == names
    assert len(state.position) == len(state.velocity) == len(state.effort) == 7
    image = images[0]
    assert (image.encoding, image.height, image.width) == ("rgb8", 32, 32)
    assert image_to_rgb(image).shape == (32, 32, 3)
    assert image.header.frame_id == "camera_optical_frame"
    stamps = {(m.header.stamp.sec, m.header.stamp.nanosec) for m in images}
    info = infos[0]
    assert (info.header.stamp.sec, info.header.stamp.nanosec) in stamps
    assert info.header.frame_id == "camera_optical_frame"
    assert (info.width, info.height) == (32, 32)
    # camera_rate 10 Hz against 20 Hz control: about one frame per two joint states.
    assert len(images) < len(joints)


def test_torque_command_on_joint_1_moves_joint_1(graph):
    node = graph.sim(camera_rate=5.0)
    joints = graph.collect(JointState, "joint_states")
    wait_for(lambda: joints, "a joint state")
    before = np.array(joints[-1].position)
    pub = graph.probe.create_publisher(Float64MultiArray, "effort_controller/commands", 10)
    torque = [20.0, 0, 0, 0, 0, 0, 0]

    def moved() -> bool:
        pub.publish(command(torque))
        return abs(joints[-1].position[0] - before[0]) > 0.1

    wait_for(moved, "joint 1 to move")
    after = np.array(joints[-1].position)
    assert after[0] - before[0] > 0.1  # in the direction of the torque
    assert joints[-1].effort[0] == pytest.approx(20.0)
    assert node.rejected == 0


def test_bad_commands_are_rejected_and_the_previous_one_stays(graph):
    node = graph.sim(camera_rate=5.0, command_timeout=5.0)
    pub = graph.probe.create_publisher(Float64MultiArray, "effort_controller/commands", 10)
    first = np.array([3.0, 0, 0, 0, 0, 0, 0])
    wait_for(lambda: pub.get_subscription_count() > 0, "the sim to subscribe")
    pub.publish(command(first))
    wait_for(lambda: np.array_equal(node.applied_torques, first), "the first command")

    pub.publish(command([np.nan, 0, 0, 0, 0, 0, 0]))
    pub.publish(command([1.0] * 6))
    wait_for(lambda: node.rejected == 2, "two rejections")
    ticks = node.ticks
    wait_for(lambda: node.ticks > ticks + 2, "the node to keep stepping")
    np.testing.assert_array_equal(node.applied_torques, first)

    second = np.array([0, 0, 0, 0, 0, 0, 2.0])
    pub.publish(command(second))
    wait_for(lambda: np.array_equal(node.applied_torques, second), "the next valid command")
    assert node.rejected == 2

    pub.publish(command([1000.0, 0, 0, 0, 0, 0, 0]))  # beyond the 320 Nm limit: clamped
    wait_for(lambda: node.clamped > 0, "a clamp")
    assert node.applied_torques[0] == pytest.approx(320.0)


def test_watchdog_drops_the_command(graph):
    node = graph.sim(camera_rate=5.0, command_timeout=0.3)
    joints = graph.collect(JointState, "joint_states")
    pub = graph.probe.create_publisher(Float64MultiArray, "effort_controller/commands", 10)
    wait_for(lambda: pub.get_subscription_count() > 0, "the sim to subscribe")
    pub.publish(command([0, 0, 0, 0, 0, 0, 4.0]))
    wait_for(lambda: node.applied_torques[6] == 4.0, "the command to apply")
    assert node.watchdog_trips == 0
    wait_for(lambda: node.watchdog_trips == 1, "the watchdog")
    wait_for(lambda: joints and not any(joints[-1].effort), "zero effort on joint_states")
    np.testing.assert_array_equal(node.applied_torques, np.zeros(7))


def test_reset_and_emergency_stop(graph):
    node = graph.sim(camera_rate=5.0)
    pub = graph.probe.create_publisher(Float64MultiArray, "effort_controller/commands", 10)

    def push_until_moved(start: float) -> None:
        def moved() -> bool:
            pub.publish(command([20.0, 0, 0, 0, 0, 0, 0]))
            return abs(joint1(node) - start) > 0.1

        wait_for(moved, "joint 1 to move")

    push_until_moved(0.0)
    reply = graph.call(Trigger, "kuka_sim_node/reset", Trigger.Request())
    assert reply.success, reply.message
    np.testing.assert_allclose(node.sim.joint_positions(), node.start_positions, atol=0.02)
    np.testing.assert_array_equal(node.start_positions, np.zeros(7))

    reply = graph.call(SetBool, "kuka_sim_node/emergency_stop", SetBool.Request(data=True))
    assert reply.success and node.estopped
    held = joint1(node)
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        pub.publish(command([20.0, 0, 0, 0, 0, 0, 0]))
        time.sleep(0.05)
    assert node.ignored > 0
    assert abs(joint1(node) - held) < 0.01

    reply = graph.call(SetBool, "kuka_sim_node/emergency_stop", SetBool.Request(data=False))
    assert reply.success and not node.estopped
    push_until_moved(joint1(node))


def test_sim_takes_camera_and_start_pose_from_a_demo(graph, demo_bag):
    episode = read_episode(demo_bag)
    node = graph.sim(demo=str(demo_bag), image_size=64, camera_rate=5.0)
    assert node.camera == episode.cameras[0]  # the demo's 32 px camera, not image_size
    np.testing.assert_allclose(node.start_positions, episode.joint_positions[0])
    reply = graph.call(Trigger, "kuka_sim_node/reset", Trigger.Request())
    assert reply.success
    np.testing.assert_allclose(node.sim.joint_positions(), episode.joint_positions[0], atol=0.02)


# --------------------------------------------------------------------------- demo_player
def player(graph: Graph, demo: str, **params) -> DemoPlayer:
    return graph.node(DemoPlayer, demo=demo, **params)


def test_demo_player_publishes_the_bag_frames_and_restarts(graph, demo_bag):
    frames = read_episode(demo_bag).frames[0]
    images = graph.collect(Image, "demo/image_raw")
    indices = graph.collect(Int32, "demo/frame_index")
    node = player(graph, str(demo_bag), rate=50.0, loop=False)
    n = len(frames)
    wait_for(lambda: len(images) >= n and len(indices) >= n, "one pass of the demo")
    time.sleep(0.1)
    assert node.published == n  # no looping
    assert [m.data for m in indices] == list(range(n))
    for i, msg in zip(indices, images, strict=True):
        assert msg.encoding == "rgb8"
        np.testing.assert_array_equal(image_to_rgb(msg), frames[i.data])

    reply = graph.call(Trigger, "demo_player/restart", Trigger.Request())
    assert reply.success
    wait_for(lambda: len(images) >= 2 * n and len(indices) >= 2 * n, "a second pass")
    assert [m.data for m in indices[n:]] == list(range(n))
    np.testing.assert_array_equal(image_to_rgb(images[-1]), frames[-1])


def test_demo_player_can_start_paused_until_restarted(graph, demo_bag):
    indices = graph.collect(Int32, "demo/frame_index")
    node = player(graph, str(demo_bag), rate=50.0, loop=False, start_paused=True)
    time.sleep(0.3)
    assert indices == [] and node.published == 0
    assert graph.call(Trigger, "demo_player/restart", Trigger.Request()).success
    n = len(node.frames)
    wait_for(lambda: len(indices) == n, "the whole demonstration after the restart")
    assert [m.data for m in indices] == list(range(n))


def test_demo_player_loops(graph, demo_bag):
    indices = graph.collect(Int32, "demo/frame_index")
    player(graph, str(demo_bag), rate=100.0)
    wait_for(lambda: 30 in [m.data for m in indices[:-1]], "the last frame and one after it")
    values = [m.data for m in indices]
    assert values[values.index(30) + 1] == 0


def test_demo_player_needs_a_readable_demo(graph, tmp_path):
    with pytest.raises(ValueError, match="'demo' is required"):
        player(graph, "")
    with pytest.raises(BagError, match="no such bag"):
        player(graph, str(tmp_path / "missing"))


def test_publish_clock_steps_in_simulated_time(graph):
    node = graph.sim(publish_clock=True, real_time_factor=0.0, camera_rate=5.0)
    clock = graph.collect(ClockMsg, "/clock")
    joints = graph.collect(JointState, "joint_states")
    wait_for(lambda: len(clock) >= 5 and len(joints) >= 5, "clock ticks")
    seconds = [m.clock.sec + m.clock.nanosec * 1e-9 for m in clock[:5]]
    np.testing.assert_allclose(np.diff(seconds), 0.05, atol=1e-9)
    stamp = joints[0].header.stamp
    assert stamp.sec + stamp.nanosec * 1e-9 == pytest.approx(seconds[0])
    # As fast as possible: far more than 20 ticks per wall second.
    start, ticks = time.monotonic(), node.ticks
    time.sleep(0.5)
    assert (node.ticks - ticks) / (time.monotonic() - start) > 40


def test_a_tick_in_flight_after_the_node_is_destroyed_leaves_the_closed_sim_alone(graph):
    node = graph.sim()
    wait_for(lambda: node.ticks >= 2, "ticks")
    node.destroy_node()  # the executor may still be running this node's timer callback
    ticks = node.ticks
    node._tick()  # what such a callback does once the simulator is closed
    assert node.ticks == ticks
    response = node._on_reset(Trigger.Request(), Trigger.Response())
    assert not response.success and "shut down" in response.message


def test_console_script_reports_a_missing_demo():
    env = {**os.environ, "ROS_DOMAIN_ID": str(fresh_domain_id())}
    result = subprocess.run(
        [sys.executable, "-m", "tcn.nodes.demo_player"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert result.returncode == 1
    assert "'demo' is required" in result.stderr


def test_position_mode_tracks_targets_and_ignores_torques(graph):
    node = graph.sim(control_mode="position", camera_rate=5.0)
    positions = graph.probe.create_publisher(Float64MultiArray, "position_controller/commands", 10)
    efforts = graph.probe.create_publisher(Float64MultiArray, "effort_controller/commands", 10)
    wait_for(lambda: positions.get_subscription_count() > 0, "the sim to subscribe")
    efforts.publish(command([50.0] + [0] * 6))
    wait_for(lambda: node.ignored == 1, "the torque command to be ignored")

    def tracked() -> bool:
        positions.publish(command([0.3] + [0] * 6))
        return abs(joint1(node) - 0.3) < 0.02

    wait_for(tracked, "joint 1 to reach 0.3 rad")
