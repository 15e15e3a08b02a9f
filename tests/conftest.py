"""Shared fixtures: small demonstrations made by the tests themselves."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

# DDS must only ever talk on this machine (tests that start ROS nodes also pick a domain id).
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")


@pytest.fixture(scope="session")
def small_demo():
    """A 2-view, 40-frame, 48 px demonstration (seconds to make, shared by many tests)."""
    from kuka_sim import DemoConfig, episode_seed, make_cameras, record_demonstration

    return record_demonstration(
        episode_seed(7, 0), make_cameras(2, 48), demo_config=DemoConfig(frames=40)
    )


ROBOT_JOINTS = [f"lbr_A{i}" for i in range(1, 8)]


def write_robot_bag(
    path: Path, frames: np.ndarray, *, encoding: str = "bgr8", storage="sqlite3", pad: int = 4
) -> np.ndarray:
    """A bag like `ros2 bag record` on a real robot: other topics, rates, joint order, encoding.

    Returns the joint positions the reader should find at the frames' stamps.
    """
    from rosbags.rosbag2 import StoragePlugin, Writer

    from tcn.bags import TYPESTORE

    T = TYPESTORE.types
    n, h, w, _ = frames.shape
    plugin = StoragePlugin.SQLITE3 if storage == "sqlite3" else StoragePlugin.MCAP
    image_stamps = 5_000_000_000 + np.arange(n) * 100_000_000  # 10 Hz
    joint_stamps = 4_990_000_000 + np.arange(n * 10 + 5) * 10_000_000  # 100 Hz, starts earlier
    order = [3, 0, 6, 1, 5, 2, 4]  # the driver's order differs from ours
    with Writer(path, version=8 if storage == "sqlite3" else 9, storage_plugin=plugin) as writer:
        cam = writer.add_connection(
            "/wrist_cam/color/image_raw", "sensor_msgs/msg/Image", typestore=TYPESTORE
        )
        js = writer.add_connection(
            "/lbr/joint_states", "sensor_msgs/msg/JointState", typestore=TYPESTORE
        )
        for ns in joint_stamps:
            t = ns / 1e9
            q = np.array([0.1 * (j + 1) * t for j in range(7)])  # linear in time
            names = [ROBOT_JOINTS[j] for j in order] + ["gripper_finger"]
            msg = T["sensor_msgs/msg/JointState"](
                header=T["std_msgs/msg/Header"](
                    stamp=T["builtin_interfaces/msg/Time"](
                        sec=int(ns // 10**9), nanosec=int(ns % 10**9)
                    ),
                    frame_id="",
                ),
                name=names,
                position=np.append(q[order], 0.02),
                velocity=np.append(np.array([0.1 * (j + 1) for j in range(7)])[order], 0.0),
                effort=np.zeros(0),
            )
            writer.write(js, int(ns), TYPESTORE.serialize_cdr(msg, js.msgtype))
        channels = {"bgr8": 3, "rgb8": 3, "mono8": 1, "rgba8": 4, "bgra8": 4}[encoding]
        for k, ns in enumerate(image_stamps):
            rgb = frames[k]
            pixels = {
                "bgr8": rgb[..., ::-1],
                "rgb8": rgb,
                "mono8": rgb[..., :1],
                "rgba8": np.concatenate([rgb, np.full((h, w, 1), 255, np.uint8)], 2),
                "bgra8": np.concatenate([rgb[..., ::-1], np.full((h, w, 1), 255, np.uint8)], 2),
            }[encoding]
            step = w * channels + pad
            padded = np.zeros((h, step), np.uint8)
            padded[:, : w * channels] = pixels.reshape(h, -1)
            msg = T["sensor_msgs/msg/Image"](
                header=T["std_msgs/msg/Header"](
                    stamp=T["builtin_interfaces/msg/Time"](
                        sec=int(ns // 10**9), nanosec=int(ns % 10**9)
                    ),
                    frame_id="wrist_cam_optical",
                ),
                height=h,
                width=w,
                encoding=encoding,
                is_bigendian=0,
                step=step,
                data=padded.reshape(-1),
            )
            # Received a little after capture: the reader must use header stamps.
            writer.write(cam, int(ns) + 7_000_000, TYPESTORE.serialize_cdr(msg, cam.msgtype))
    t = image_stamps / 1e9
    return np.stack([0.1 * (j + 1) * t for j in range(7)], axis=1)


@pytest.fixture
def robot_bag():
    """:func:`write_robot_bag`: a bag that this project's writer did not make."""
    return write_robot_bag


@pytest.fixture
def ros_domain_id() -> Iterator[int]:
    """A ROS domain id held exclusively (an ``fcntl`` lock on its file) for the test's whole
    life, so a concurrent run waits for a free id instead of sharing one."""
    from tcn.nodes.ros_env import reserved_domain_id

    with reserved_domain_id() as domain:
        yield domain
