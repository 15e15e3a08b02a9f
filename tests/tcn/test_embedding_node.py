"""tcn_embedding_node over real rclpy + Fast DDS: localhost discovery, one domain id per test.

The node under test and a probe node share one rclpy context (distinct ``ROS_DOMAIN_ID``)
spun by a background executor; every wait has a deadline. Expected embeddings and rewards
come from ``TCN.embed`` and ``tcn_embedding.reward`` on the exact published images.
"""

from __future__ import annotations

import itertools
import os

# DDS must only talk on this machine: set before rclpy is imported or initialised.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"

import threading
import time
from collections.abc import Callable

import numpy as np
import pytest
import rclpy
import torch
from geometry_msgs.msg import Vector3Stamped
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Float32, Float32MultiArray

from tcn.errors import TcnError
from tcn.images import image_to_rgb
from tcn.nodes.ros_env import header, image_msg, stamp_from_seconds
from tcn.nodes.tcn_embedding_node import (
    TcnEmbeddingNode,
    embedding_from_image,
    reward_picture,
)
from tcn_embedding.checkpoint import save_checkpoint
from tcn_embedding.model import TCN, TCNConfig
from tcn_embedding.reward import RewardConfig, embedding_reward, tcn_reward

TIMEOUT = 10.0
RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
_domains = itertools.count()


def fresh_domain_id() -> int:
    """A domain id in 101..200 (test_sim_node uses 1..100) that differs between tests."""
    return 101 + (os.getpid() + next(_domains)) % 100


def wait_for(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def tiny_model() -> TCN:
    torch.manual_seed(0)
    config = TCNConfig(
        backbone="resnet18",
        image_size=32,
        pretrained=None,
        freeze_backbone=False,
        head_channels=(8, 8),
        hidden_units=16,
    )
    return TCN(config).eval()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    model = tiny_model()
    path = save_checkpoint(tmp_path_factory.mktemp("tcn") / "tiny.pt", model.checkpoint_state())
    return path, model


def frames(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)


class Graph:
    """One rclpy context, a background executor, the node under test and a probe node."""

    def __init__(self, model_path, **params) -> None:
        self.context = Context()
        rclpy.init(context=self.context, domain_id=fresh_domain_id())
        self.executor = SingleThreadedExecutor(context=self.context)
        self.probe = Node("probe", context=self.context)
        overrides = [
            Parameter(k, value=v) for k, v in {"model": str(model_path), **params}.items()
        ]
        self.node = TcnEmbeddingNode(context=self.context, parameter_overrides=overrides)
        for node in (self.probe, self.node):
            self.executor.add_node(node)
        self.camera = self.probe.create_publisher(Image, "camera/image_raw", RELIABLE)
        self.demo = self.probe.create_publisher(Image, "demo/image_raw", RELIABLE)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()
        wait_for(
            lambda: self.camera.get_subscription_count() and self.demo.get_subscription_count(),
            "the node to subscribe",
        )

    def collect(self, msg_type, topic: str) -> list:
        messages: list = []
        self.probe.create_subscription(msg_type, topic, messages.append, RELIABLE)
        return messages

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=TIMEOUT)
        self._thread.join(TIMEOUT)
        self.node.destroy_node()
        self.probe.destroy_node()
        rclpy.shutdown(context=self.context)


def publish(pub, rgb: np.ndarray) -> None:
    pub.publish(image_msg(rgb, header(rclpy.clock.Clock().now().to_msg())))


@pytest.fixture
def make_graph(checkpoint):
    graphs: list[Graph] = []

    def make(**params) -> Graph:
        graphs.append(Graph(checkpoint[0], **params))
        return graphs[-1]

    yield make
    for g in graphs:
        g.close()


def as_array(messages: list[Float32MultiArray]) -> np.ndarray:
    return np.array([m.data for m in messages], dtype=np.float32)


def test_embeddings_and_rewards_match_the_core(make_graph, checkpoint):
    _, model = checkpoint
    g = make_graph(reward_alpha=2.0, reward_beta=0.5, reward_gamma=0.01)
    embeddings = g.collect(Float32MultiArray, "tcn/embedding")
    demo_embeddings = g.collect(Float32MultiArray, "tcn/demo_embedding")
    rewards = g.collect(Float32, "tcn/reward")
    demo, camera = frames(1, 1), frames(3, 2)
    wait_for(lambda: g.probe.count_subscribers("tcn/reward") >= 1, "probe subscriptions")
    publish(g.camera, camera[0])  # before any demo frame: an embedding but no reward
    wait_for(lambda: len(embeddings) == 1, "the first camera embedding")
    assert rewards == []
    publish(g.demo, demo[0])
    wait_for(lambda: len(demo_embeddings) == 1, "the demo embedding")
    for rgb in camera[1:]:
        publish(g.camera, rgb)
    wait_for(lambda: len(rewards) == 2 and len(embeddings) == 3, "two rewards")

    expected_camera = model.embed(camera).numpy()
    expected_demo = model.embed(demo).numpy()
    got = as_array(embeddings)
    np.testing.assert_allclose(got, expected_camera, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(as_array(demo_embeddings), expected_demo, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 10.0, rtol=1e-5)
    assert embeddings[0].layout.dim[0].label == "embedding"
    assert embeddings[0].layout.dim[0].size == 32
    config = RewardConfig(alpha=2.0, beta=0.5, gamma=0.01)
    expected = embedding_reward(expected_camera[1:], np.repeat(expected_demo, 2, 0), config)
    np.testing.assert_allclose([m.data for m in rewards], expected, rtol=1e-4, atol=1e-3)
    assert g.node.dropped == 0


def test_stamped_outputs_carry_the_stamp_of_the_frame_they_came_from(make_graph, checkpoint):
    _, model = checkpoint
    g = make_graph()
    embeddings = g.collect(Image, "tcn/embedding_stamped")
    demo_embeddings = g.collect(Image, "tcn/demo_embedding_stamped")
    rewards = g.collect(Vector3Stamped, "tcn/reward_stamped")
    wait_for(lambda: g.probe.count_subscribers("tcn/reward_stamped") >= 1, "subscriptions")
    demo, camera = frames(1, 1), frames(4, 2)
    g.demo.publish(image_msg(demo[0], header(stamp_from_seconds(1000.25), "demo_cam")))
    wait_for(lambda: demo_embeddings, "the demo embedding")
    # Out-of-order stamps: pairing must follow the header, not the arrival.
    stamps = [7.5, 3.0, 9.125, 5.0]
    for rgb, t in zip(camera, stamps, strict=True):
        g.camera.publish(image_msg(rgb, header(stamp_from_seconds(t), "wrist_cam")))
    wait_for(lambda: len(rewards) == 4 and len(embeddings) == 4, "four stamped rewards")

    def seconds(msg) -> float:
        return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9

    assert [seconds(m) for m in embeddings] == stamps
    assert [seconds(m) for m in rewards] == stamps
    assert {m.header.frame_id for m in embeddings} == {"wrist_cam"}
    by_stamp = dict(zip(stamps, model.embed(camera).numpy(), strict=True))
    expected_demo = model.embed(demo).numpy()[0]
    for msg, reward in zip(embeddings, rewards, strict=True):
        w = embedding_from_image(msg)
        np.testing.assert_allclose(w, by_stamp[seconds(msg)], rtol=1e-4, atol=1e-4)
        d = float(((by_stamp[seconds(msg)] - expected_demo) ** 2).sum())
        assert reward.vector.y == pytest.approx(d, rel=1e-3)
        assert reward.vector.x == pytest.approx(float(tcn_reward(d)), rel=1e-3)
        assert reward.vector.z == pytest.approx(1000.25 - seconds(msg), abs=1e-6)
    np.testing.assert_allclose(embedding_from_image(demo_embeddings[0]), expected_demo, atol=1e-4)
    with pytest.raises(ValueError, match="not a stamped embedding"):
        embedding_from_image(image_msg(camera[0], header(stamp_from_seconds(1.0))))


def test_frames_published_quickly_are_batched_in_order(make_graph, checkpoint):
    _, model = checkpoint
    g = make_graph(batch_period=0.5, max_batch=4)
    embeddings = g.collect(Float32MultiArray, "tcn/embedding")
    wait_for(lambda: g.probe.count_subscribers("tcn/embedding") >= 1, "probe subscription")
    camera = frames(4, 3)  # fewer than the sensor-data QoS depth (5)
    for rgb in camera:
        publish(g.camera, rgb)
    wait_for(lambda: len(embeddings) == 4, "four embeddings")
    np.testing.assert_allclose(
        as_array(embeddings), model.embed(camera).numpy(), rtol=1e-4, atol=1e-4
    )
    assert max(g.node.batch_sizes) > 1  # several frames in one forward pass
    assert len(g.node.batch_sizes) < 4
    assert g.node.embedded["camera"] == 4


def test_malformed_images_are_dropped_and_counted(make_graph, checkpoint):
    _, model = checkpoint
    g = make_graph()
    embeddings = g.collect(Float32MultiArray, "tcn/embedding")
    wait_for(lambda: g.probe.count_subscribers("tcn/embedding") >= 1, "probe subscription")
    good = frames(1, 4)[0]
    wrong_step = image_msg(good, header(rclpy.clock.Clock().now().to_msg()))
    wrong_step.step = 100  # 32 px rgb8 needs 96 bytes per row; data holds 96 * 32
    unsupported = image_msg(good, header(rclpy.clock.Clock().now().to_msg()))
    unsupported.encoding = "16UC1"
    g.camera.publish(wrong_step)
    g.demo.publish(unsupported)
    wait_for(lambda: g.node.dropped == 2, "two dropped images")
    publish(g.camera, good)
    wait_for(lambda: len(embeddings) == 1, "the next good frame")
    np.testing.assert_allclose(
        as_array(embeddings), model.embed(good[None]).numpy(), rtol=1e-4, atol=1e-4
    )


def test_picture_shows_the_reward_history(make_graph):
    g = make_graph(publish_picture=True)
    pictures = g.collect(Image, "tcn/picture")
    wait_for(lambda: g.probe.count_subscribers("tcn/picture") >= 1, "probe subscription")
    publish(g.demo, frames(1, 5)[0])
    wait_for(lambda: g.node.latest_demo is not None, "the demo embedding")
    for rgb in frames(3, 6):
        publish(g.camera, rgb)
    wait_for(lambda: g.node.rewards == 3 and pictures, "a picture")
    picture = image_to_rgb(pictures[-1])
    assert picture.shape == (64, 160, 3) and pictures[-1].encoding == "rgb8"
    assert (picture == (60, 220, 90)).all(axis=2).any()  # the green reward line


def test_reward_picture_draws_with_numpy():
    picture = reward_picture(np.array([-3.0, -1.0, -2.0]), (20, 30))
    line = (picture == (60, 220, 90)).all(axis=2)
    assert line[0].any() and line[-1].any()  # max at the top, min at the bottom
    assert reward_picture(np.array([]), (5, 5)).shape == (5, 5, 3)


def test_node_needs_a_model(tmp_path):
    context = Context()
    rclpy.init(context=context, domain_id=fresh_domain_id())
    try:
        with pytest.raises(ValueError, match="'model' is required"):
            TcnEmbeddingNode(context=context)
        with pytest.raises((TcnError, FileNotFoundError)):
            overrides = [Parameter("model", value=str(tmp_path / "missing.pt"))]
            TcnEmbeddingNode(context=context, parameter_overrides=overrides)
    finally:
        rclpy.shutdown(context=context)
