"""Small helpers every node shares: parameters, stamps, Image/CameraInfo <-> numpy.

Images convert with :mod:`tcn.images` (the same code that reads bags), so a live
``sensor_msgs/Image`` and a recorded one decode identically; cv_bridge is not used
(it does not load with NumPy 2).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
import rclpy.logging
from builtin_interfaces.msg import Time
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from kuka_sim import CameraConfig
from tcn.bags import camera_info_fields
from tcn.errors import TcnError
from tcn.images import image_to_rgb, rgb_image_fields

__all__ = [
    "DEFAULT_JOINT_NAMES",
    "LOCKED_DOMAIN_IDS",
    "camera_info_msg",
    "declare",
    "deliver",
    "header",
    "image_msg",
    "image_to_rgb",
    "keep_discovery_local",
    "reserved_domain_id",
    "run_node",
    "stamp_from_seconds",
    "stamp_ns",
]

DEFAULT_JOINT_NAMES = [f"lbr_iiwa_joint_{i}" for i in range(1, 8)]
"""The stack's joint names (the simulator's URDF), A1..A7."""
LOCKED_DOMAIN_IDS = (231, 232)
"""Domain ids no test file counts through (test_sim_node 1..100, test_embedding_node
101..200, test_launch 201..230; Fast DDS accepts at most 232): the tests and
benchmarks/bench_ros_graph.py take them through :func:`reserved_domain_id`."""


@contextlib.contextmanager
def reserved_domain_id(ids: Sequence[int] = LOCKED_DOMAIN_IDS) -> Iterator[int]:
    """An id of ``ids`` held exclusively (an ``fcntl`` lock on its file) until the block
    ends, so a concurrent run waits for a free id instead of sharing one."""
    while True:
        for domain in ids:
            path = Path(tempfile.gettempdir()) / f"tcn_ros_domain_{domain}.lock"
            with open(path, "w") as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                try:
                    yield domain
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
                return
        time.sleep(0.2)


def keep_discovery_local() -> None:
    """Default DDS discovery to this machine unless the environment already chose a range.

    Call before ``rclpy.init``. A real robot on another host sets
    ``ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET`` explicitly, which this leaves alone.
    """
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")


def declare(node: Node, name: str, default: Any, description: str) -> Any:
    """Declare parameter ``name`` with ``default`` and a described descriptor; return its value."""
    descriptor = ParameterDescriptor(name=name, description=description)
    return node.declare_parameter(name, default, descriptor).value


def stamp_from_seconds(seconds: float) -> Time:
    """A ``builtin_interfaces/Time`` for ``seconds`` (non-negative)."""
    ns = int(round(seconds * 1e9))
    return Time(sec=ns // 10**9, nanosec=ns % 10**9)


def stamp_ns(stamp: Time) -> int:
    """Nanoseconds of a ``builtin_interfaces/Time``."""
    return int(stamp.sec) * 10**9 + int(stamp.nanosec)


def header(stamp: Time, frame_id: str = "") -> Header:
    return Header(stamp=stamp, frame_id=frame_id)


def image_msg(rgb: np.ndarray, msg_header: Header) -> Image:
    """An ``rgb8`` Image for a ``(H, W, 3)`` uint8 array."""
    msg = Image(header=msg_header)
    for key, value in rgb_image_fields(rgb).items():
        setattr(msg, key, value.tobytes() if key == "data" else value)
    return msg


def camera_info_msg(camera: CameraConfig, msg_header: Header) -> CameraInfo:
    """The CameraInfo (plumb-bob, no distortion) of a modelled camera, as bags record it."""
    msg = CameraInfo(header=msg_header)
    for key, value in camera_info_fields(camera).items():
        setattr(msg, key, value.tolist() if isinstance(value, np.ndarray) else value)
    return msg


def deliver(publisher, timeout_s: float = 0.5) -> bool:
    """Keep ``publisher`` alive until every reliable subscriber acknowledged what it sent, at
    most ``timeout_s``: a node's last command on shutdown must not be dropped with its
    publisher, which DDS does to samples still queued on busy cores. False on timeout, which
    says little: Fast DDS acknowledges on its heartbeat, often after the sample arrived."""
    from rclpy.duration import Duration

    return publisher.wait_for_all_acked(Duration(seconds=timeout_s))


def run_node(factory: Callable[[], Node], name: str, args: list[str] | None = None) -> int:
    """Console-script body: init rclpy, build the node, spin until Ctrl-C or SIGTERM, then
    destroy the node while its context is still valid, so a node's last word on shutdown
    (zero torque, a held target) is published; rclpy's own SIGINT handler would invalidate
    the context first, so rclpy installs none here.

    A node whose parameters are invalid raises ``ValueError`` or :class:`TcnError` in
    ``__init__``; its message is logged as fatal and the exit status is 1.
    """
    import signal

    from rclpy.signals import SignalHandlerOptions

    keep_discovery_local()
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        node = factory()
    except (ValueError, TcnError) as exc:
        rclpy.logging.get_logger(name).fatal(str(exc))
        rclpy.try_shutdown()
        return 1
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        # A second Ctrl-C (a terminal's and then launch's own) must not cut the safe stop short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
