"""Demonstrations recorded from the live graph's topics (as `ros2 bag record` would) train
the embedding with `tcn train-embedding` unchanged."""

from __future__ import annotations

import os

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"  # before rclpy initialises

import threading
import time

import numpy as np
import pytest
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import Float64MultiArray

from tcn.bags import read_episode
from tcn.cli import main
from tcn.errors import TcnError
from tcn.nodes.kuka_sim_node import KukaSimNode
from tcn.topic_recorder import TopicRecorder, discover

TOPICS = ["/camera/image_raw", "/camera/camera_info", "/joint_states"]


def record_live_episode(path, torque: float, frames: int = 45) -> None:
    """Run the sim node faster than real time, push joint 1, record its topics into ``path``."""
    context = Context()
    rclpy.init(context=context, domain_id=231 + os.getpid() % 2)  # ids no other test file uses
    executor = SingleThreadedExecutor(context=context)
    params = {
        "image_size": 32,
        "publish_clock": True,
        "real_time_factor": 4.0,
        "command_timeout": 5.0,
    }
    sim = KukaSimNode(
        context=context, parameter_overrides=[Parameter(k, value=v) for k, v in params.items()]
    )
    probe = Node("recorder", context=context)
    commands = probe.create_publisher(Float64MultiArray, "effort_controller/commands", 10)
    for node in (sim, probe):
        executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    try:
        recorder = TopicRecorder(probe, path, discover(probe, TOPICS))
        deadline = time.monotonic() + 30
        while recorder.counts["/camera/image_raw"] < frames and time.monotonic() < deadline:
            commands.publish(Float64MultiArray(data=[torque, 0, 0, 0, 0, 0, 0]))
            time.sleep(0.02)
        recorder.close()
        assert recorder.counts["/camera/image_raw"] >= frames
    finally:
        executor.shutdown(timeout_sec=5)
        for node in (sim, probe):
            node.destroy_node()
        rclpy.shutdown(context=context)
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def live_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("live")
    for i, torque in enumerate((25.0, -25.0)):
        record_live_episode(root / f"live_{i}", torque)
    return root


def test_recorded_bag_reads_as_an_episode(live_dataset):
    episode = read_episode(live_dataset / "live_0")
    assert len(episode) >= 45 and episode.frames[0].shape[1:] == (32, 32, 3)
    assert episode.joint_names[0] == "lbr_iiwa_joint_1"
    travel = episode.joint_positions[-1, 0] - episode.joint_positions[0, 0]
    assert travel > 0.1  # the arm turned under the recorded torque commands
    assert np.abs(episode.frames[0][-1].astype(int) - episode.frames[0][0]).mean() > 0.5


def test_live_recordings_train_the_embedding_unchanged(live_dataset, tmp_path):
    run = tmp_path / "run"
    assert (
        main(
            [
                "train-embedding",
                "--data",
                str(live_dataset),
                "--out",
                str(run),
                "--preset",
                "default",
                "--schedule.pose-steps",
                "0",
                "--objectives.self-regression",
                "0",
                "--schedule.epochs",
                "1",
                "--model.image-size",
                "32",
                "--model.head-channels",
                "8",
                "8",
                "--model.hidden-units",
                "16",
                "--schedule.batch-size",
                "6",
                "--schedule.videos-per-epoch",
                "2",
                "--schedule.triplets-per-video",
                "6",
                "--schedule.eval-every",
                "1",
                "--schedule.eval-triplets",
                "20",
                "--no-progress",
            ]
        )
        == 0
    )
    assert (run / "checkpoints" / "last.pt").is_file()


def test_discover_names_the_topics_present():
    context = Context()
    rclpy.init(context=context, domain_id=231 + os.getpid() % 2)
    node = Node("lonely", context=context)
    try:
        with pytest.raises(TcnError, match="no publisher appeared on .*/nothing"):
            discover(node, ["/nothing"], timeout=0.3)
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)
