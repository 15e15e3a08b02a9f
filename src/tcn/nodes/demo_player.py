"""``demo_player``: plays a recorded demonstration's frames on ``demo/image_raw``.

Usage::

    demo_player --ros-args -p demo:=data/episode_0000
    demo_player --ros-args -p demo:=data/episode_0000 -p rate:=10.0 -p loop:=false

Publishes, once per ``1/rate`` seconds, frame ``i`` of the bag's primary view:

* ``demo/frame_index`` (std_msgs/Int32): ``i``, published immediately before the image;
* ``demo/image_raw`` (sensor_msgs/Image, rgb8, reliable, depth 10), frame
  ``camera_optical_frame``, stamped with the node clock.

After the last frame it starts again at 0 when ``loop`` is true, else it stops (the last
frame stays the last message). Service ``~/restart`` (std_srvs/Trigger) starts over at
frame 0. With ``start_paused`` (like ``ros2 bag play --start-paused``) nothing is published
until the first ``~/restart``, so a caller can start the demonstration once the graph is
ready. ``ros2 bag play --remap /camera/image_raw:=/demo/image_raw`` is the alternative
on a full ROS 2 installation (it has no frame index).
"""

from __future__ import annotations

from pathlib import Path

from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Int32
from std_srvs.srv import Trigger

from tcn.bags import read_episode
from tcn.nodes.ros_env import declare, header, image_msg, run_node

CAMERA_FRAME = "camera_optical_frame"


class DemoPlayer(Node):
    """Publishes a demonstration's frames in step; ``**kwargs`` go to ``rclpy.node.Node``.

    ``frames`` is the ``(T, H, W, 3)`` uint8 view being played, ``index`` the next frame,
    ``published`` the number of images sent.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("demo_player", **kwargs)
        demo = declare(self, "demo", "", "path of the demonstration bag (required)")
        self.rate = float(declare(self, "rate", 20.0, "frames per second (Hz)"))
        self.loop = bool(declare(self, "loop", True, "start over after the last frame"))
        self.paused = bool(
            declare(self, "start_paused", False, "publish nothing until the first ~/restart")
        )
        if not demo:
            raise ValueError(
                "parameter 'demo' is required: the path of a rosbag2 episode, e.g. "
                "--ros-args -p demo:=data/episode_0000 (`tcn record` makes them)"
            )
        if self.rate <= 0:
            raise ValueError(f"rate must be positive (Hz), got {self.rate}")
        episode = read_episode(Path(demo), joint_topic=None)
        self.frames = episode.frames[0]
        self.index = 0
        self.published = 0
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.index_pub = self.create_publisher(Int32, "demo/frame_index", qos)
        self.image_pub = self.create_publisher(Image, "demo/image_raw", qos)
        self.create_service(Trigger, "~/restart", self._on_restart)
        self.create_timer(1.0 / self.rate, self._tick)
        self.get_logger().info(
            f"playing {len(self.frames)} frames of {demo} at {self.rate} Hz"
            f"{', looping' if self.loop else ''}"
            f"{'; paused until ~/restart' if self.paused else ''}"
        )

    def _tick(self) -> None:
        if self.paused:
            return
        if self.index >= len(self.frames):
            if not self.loop:
                return
            self.index = 0
        i = self.index
        self.index_pub.publish(Int32(data=i))
        stamp = self.get_clock().now().to_msg()
        self.image_pub.publish(image_msg(self.frames[i], header(stamp, CAMERA_FRAME)))
        self.published += 1
        self.index += 1
        if self.index == len(self.frames) and not self.loop:
            self.get_logger().info("demonstration finished (loop is false)")

    def _on_restart(self, request: Trigger.Request, response: Trigger.Response):
        self.index = 0
        self.paused = False
        response.success = True
        response.message = f"restarted at frame 0 of {len(self.frames)}"
        return response


def main(args: list[str] | None = None) -> int:
    return run_node(DemoPlayer, "demo_player", args)


if __name__ == "__main__":
    raise SystemExit(main())
