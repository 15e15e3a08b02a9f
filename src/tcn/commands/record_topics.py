"""Record live ROS 2 topics into an MCAP bag, as `ros2 bag record` does (no rosbag2 needed).

The bag reads like any recording: `tcn train-embedding --data DIR` trains on a directory
of such bags (use --image-topic for other camera topics). Stops after --duration seconds
or on Ctrl-C, closing the bag properly either way.

examples:
  tcn record-topics --out bags/take_01 /camera/image_raw /camera/camera_info /joint_states
  tcn record-topics --out bags/robot_01 --duration 30 /lbr/joint_states /wrist_cam/image_raw
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path

HELP = "record live topics into a rosbag2 (MCAP) bag"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("topics", nargs="+", help="topics to record")
    parser.add_argument("--out", type=Path, required=True, help="bag directory to create")
    parser.add_argument("--duration", type=float, default=None, help="seconds (default: Ctrl-C)")
    parser.add_argument("--wait", type=float, default=10.0, help="seconds to wait for publishers")


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node

    from tcn.topic_recorder import TopicRecorder, discover

    rclpy.init()
    node = Node("tcn_topic_recorder")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    recorder = None
    try:
        recorder = TopicRecorder(node, args.out, discover(node, args.topics, args.wait))
        print(f"recording {', '.join(args.topics)} into {args.out} (Ctrl-C to stop)")
        end = None if args.duration is None else time.monotonic() + args.duration
        while end is None or time.monotonic() < end:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        if recorder is not None:
            recorder.close()
            print("recorded " + ", ".join(f"{t}: {n}" for t, n in recorder.counts.items()))
        executor.shutdown(timeout_sec=2)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
