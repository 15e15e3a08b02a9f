"""A live graph for tests and benchmarks: one rclpy context, a background executor, a probe.

The nodes' tests share it (the way ``launch_testing`` ships its helpers beside launch)::

    with reserved_domain_id() as domain, RosGraph(domain, namespace="/t") as graph:
        sim = graph.node(KukaSimNode, image_size=32)
        states = graph.collect(JointState, "joint_states")
        wait_for(lambda: states, "a joint state")
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy

from tcn.nodes.ros_env import keep_discovery_local

TIMEOUT = 15.0
RELIABLE = QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE)


def wait_for(condition: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> None:
    """Poll ``condition`` until it is truthy; ``AssertionError`` naming ``what`` after
    ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


class RosGraph:
    """Nodes in their own context and domain, spun by one background thread.

    ``namespace`` (default the root) is given to every node built with :meth:`node` and to the
    probe, so a test's topics do not meet another test's."""

    def __init__(self, domain: int, namespace: str = "") -> None:
        keep_discovery_local()
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.namespace = namespace
        self.executor = SingleThreadedExecutor(context=self.context)
        self.nodes: list[Node] = []
        self.probe = self.add(Node("probe", namespace=namespace, context=self.context))
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def __enter__(self) -> RosGraph:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def add(self, node: Node) -> Node:
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def node(self, cls: type[Node], **params) -> Node:
        """``cls`` built in this graph's context and namespace with ``params`` overridden."""
        overrides = [Parameter(k, value=v) for k, v in params.items()]
        return self.add(
            cls(context=self.context, namespace=self.namespace, parameter_overrides=overrides)
        )

    def remove(self, node: Node) -> None:
        self.executor.remove_node(node)
        self.nodes.remove(node)
        node.destroy_node()

    def collect(self, msg_type, topic: str, stamped: bool = False) -> list:
        """Every message on ``topic`` from now on (reliable); ``(monotonic time, message)``
        pairs when ``stamped``."""
        messages: list = []
        append = (lambda m: messages.append((time.monotonic(), m))) if stamped else None
        self.probe.create_subscription(msg_type, topic, append or messages.append, RELIABLE)
        return messages

    def call(self, srv_type, name: str, request, timeout: float = TIMEOUT):
        """Call service ``name`` from the probe and wait for the reply."""
        client = self.probe.create_client(srv_type, name)
        assert client.wait_for_service(timeout_sec=timeout), f"service {name} not available"
        future = client.call_async(request)
        wait_for(future.done, f"reply from {name}", timeout)
        return future.result()

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=5.0)
        self._thread.join(5.0)
        for node in self.nodes:
            node.destroy_node()
        rclpy.shutdown(context=self.context)
