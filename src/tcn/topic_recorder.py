"""Record live ROS 2 topics into a rosbag2 bag, as ``ros2 bag record`` does, with rosbags.

rclpy hands each message over still serialized (``raw=True``); the CDR bytes are
written unchanged into an MCAP bag (metadata version 9) under the Kilted type
definitions and hashes, stamped with the receive time. The result is what
``ros2 bag record`` writes, and ``tcn train-embedding`` and ``tcn.bags.read_episode``
read it like any other bag. For ROS 2 machines without rosbag2, and for tests.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosbags.rosbag2 import StoragePlugin, Writer

from tcn.bags import TYPESTORE
from tcn.errors import TcnError


def message_class(msgtype: str) -> type:
    """``sensor_msgs/msg/Image`` -> the rclpy message class."""
    package, kind, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{package}.{kind}"), name)


def discover(node: Node, topics: Sequence[str], timeout: float = 10.0) -> dict[str, str]:
    """The type of each topic, waiting for publishers to appear on the graph."""
    deadline = time.monotonic() + timeout
    while True:
        found = {name: types[0] for name, types in node.get_topic_names_and_types()}
        missing = [t for t in topics if t not in found]
        if not missing:
            return {t: found[t] for t in topics}
        if time.monotonic() > deadline:
            raise TcnError(
                f"no publisher appeared on {missing} within {timeout} s; topics on the graph: "
                f"{', '.join(sorted(found)) or 'none'}"
            )
        time.sleep(0.1)


class TopicRecorder:
    """Writes every message of ``topics`` into the bag at ``path`` until :meth:`close`.

    Subscribes reliably with a deep queue, as ``ros2 bag record`` does by default.
    """

    def __init__(self, node: Node, path: Path | str, topics: dict[str, str]) -> None:
        self.node = node
        self.path = Path(path)
        self.counts = dict.fromkeys(topics, 0)
        self._lock = threading.Lock()
        self._writer = Writer(self.path, version=9, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        qos = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
        self._subscriptions = []
        for topic, msgtype in topics.items():
            connection = self._writer.add_connection(topic, msgtype, typestore=TYPESTORE)
            self._subscriptions.append(
                node.create_subscription(
                    message_class(msgtype),
                    topic,
                    self._writer_for(topic, connection),
                    qos,
                    raw=True,
                )
            )

    def _writer_for(self, topic: str, connection):
        def write(data: bytes) -> None:
            with self._lock:
                if self._writer is None:
                    return
                self._writer.write(connection, self.node.get_clock().now().nanoseconds, data)
                self.counts[topic] += 1

        return write

    def close(self) -> None:
        with self._lock:
            for subscription in self._subscriptions:
                self.node.destroy_subscription(subscription)
            if self._writer is not None:
                self._writer.close()
                self._writer = None
