"""``tcn_embedding_node``: TCN embeddings of the live and the demonstration camera, and the reward.

Usage::

    tcn_embedding_node --ros-args -p model:=runs/tcn_cpu
    tcn_embedding_node --ros-args -p model:=runs/tcn_cpu/checkpoints/best.pt \\
        -p max_batch:=16 -p publish_picture:=true

Topics (relative names):

* subscribes ``camera/image_raw`` (the agent's view) and ``demo/image_raw`` (the
  demonstration), sensor_msgs/Image in any encoding :mod:`tcn.images` reads, with
  sensor-data QoS (best effort, depth 5);
* publishes ``tcn/embedding`` and ``tcn/demo_embedding`` (std_msgs/Float32MultiArray, one
  ``(D,)`` embedding of norm ``alpha`` per input frame, in arrival order; layout dim
  ``embedding``), ``tcn/reward`` (std_msgs/Float32) and, with ``publish_picture``,
  ``tcn/picture`` (sensor_msgs/Image rgb8: the recent reward history, newest on the right);
* publishes the same outputs stamped, each with the header (stamp and frame_id) of the frame
  it came from, so a consumer pairs them with frames by stamp instead of arrival order:
  ``tcn/embedding_stamped`` and ``tcn/demo_embedding_stamped`` (sensor_msgs/Image,
  encoding ``32FC1``, one row of ``D`` floats; :func:`embedding_from_image` reads it) and
  ``tcn/reward_stamped`` (geometry_msgs/Vector3Stamped: ``x`` the reward, ``y`` the squared
  embedding distance ``d``, ``z`` the demonstration frame's stamp minus the camera frame's,
  in seconds; the header is the camera frame's).

Why these types: the PyPI wheels carry common_interfaces but no toolchain that builds an
interface package into them (a ``tcn_msgs`` needs ament_cmake, rosidl generators and a C
compiler wherever the stack is installed), and common_interfaces has no stamped float array
or stamped scalar. A one-row ``32FC1`` image is the standard stamped dense float array (depth
images use it; rosbag2 records it), and Vector3Stamped is the smallest stamped triple.

Pairing rule: one reward per camera frame, :func:`tcn_embedding.reward.tcn_reward` of the
squared distance between that frame's embedding and the latest demonstration embedding at
the time the frame is embedded. Queued demonstration frames are
embedded first, so a camera frame is paired with every demo frame that arrived before its
batch was processed. Camera frames embedded before any demonstration frame get an embedding
but no reward. For step-exact pairing run ``demo_player`` and the camera at the same rate
(ARCHITECTURE.md: the agent follows ``demo/frame_index``).

Batching: the image callbacks only convert and enqueue. A timer every ``batch_period``
seconds (or the callback, once a stream holds ``max_batch`` frames) embeds all queued frames
of a stream in one forward pass and publishes one message per frame, in order.

A malformed image (unsupported encoding, data that does not match height/width/step) is
logged (throttled), counted in ``dropped`` and skipped; the node keeps running.
"""

from __future__ import annotations

import threading
from collections import deque

import numpy as np
import torch
from geometry_msgs.msg import Vector3, Vector3Stamped
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Float32, Float32MultiArray, Header, MultiArrayDimension

from tcn.embedding_run import load_embedding_model
from tcn.images import ImageFormatError
from tcn.nodes.ros_env import declare, header, image_msg, image_to_rgb, run_node, stamp_ns
from tcn_embedding.reward import RewardConfig, tcn_reward

LOG_PERIOD_S = 2.0  # throttle for repeated warnings
PICTURE_SIZE = (64, 160)  # (H, W) of the reward-history picture
PICTURE_HISTORY = 150  # rewards shown


class TcnEmbeddingNode(Node):
    """Embeds camera and demo frames with a TCN and publishes the imitation reward.

    Counters for tests and diagnostics: ``dropped`` (malformed images), ``embedded``
    (frames per stream), ``batch_sizes`` (frames per forward pass, most recent last),
    ``rewards`` (number published).
    """

    STREAMS = ("camera", "demo")

    def __init__(self, **kwargs) -> None:
        super().__init__("tcn_embedding_node", **kwargs)
        defaults = RewardConfig()
        model = declare(
            self,
            "model",
            "",
            "TCN run directory or checkpoint file (required; `tcn train-embedding`)",
        )
        alpha = float(declare(self, "reward_alpha", defaults.alpha, "weight of d = ||w - v||^2"))
        beta = float(declare(self, "reward_beta", defaults.beta, "weight of sqrt(gamma + d)"))
        gamma = float(declare(self, "reward_gamma", defaults.gamma, "offset inside the sqrt"))
        self.max_batch = int(declare(self, "max_batch", 8, "most frames per forward pass"))
        batch_period = float(
            declare(self, "batch_period", 0.05, "s between flushes of the frame queues")
        )
        self.publish_picture = bool(
            declare(self, "publish_picture", False, "publish tcn/picture (reward history)")
        )
        device = declare(self, "device", "cpu", "torch device of the model, e.g. cpu, cuda")
        threads = int(
            declare(self, "threads", 1, "torch CPU threads (0 = torch's default: all cores)")
        )
        if not model:
            raise ValueError(
                "parameter 'model' is required: a TCN run directory or checkpoint, e.g. "
                "--ros-args -p model:=runs/tcn_cpu (`tcn train-embedding` makes them)"
            )
        if self.max_batch < 1 or batch_period <= 0:
            raise ValueError(
                f"max_batch must be >= 1 and batch_period > 0, got {self.max_batch}, "
                f"{batch_period}"
            )
        self.reward_config = RewardConfig(alpha=alpha, beta=beta, gamma=gamma)
        if threads > 0:
            # One thread: small batches gain little from more, and OpenMP threads that spin
            # while the sim and other nodes hold the cores slow every forward pass down.
            torch.set_num_threads(threads)
        self.model = load_embedding_model(model).to(device)

        self.dropped = 0
        self.rewards = 0
        self.embedded = dict.fromkeys(self.STREAMS, 0)
        self.batch_sizes: deque[int] = deque(maxlen=1000)
        self.latest_agent: np.ndarray | None = None
        self.latest_demo: np.ndarray | None = None
        self.latest_demo_header: Header | None = None
        self.reward_history: deque[float] = deque(maxlen=PICTURE_HISTORY)
        self._queues: dict[str, list[tuple[np.ndarray, Header]]] = {s: [] for s in self.STREAMS}
        self._lock = threading.Lock()  # guards the queues if callbacks ever run in parallel

        self.embedding_pub = self.create_publisher(Float32MultiArray, "tcn/embedding", 10)
        self.demo_embedding_pub = self.create_publisher(
            Float32MultiArray, "tcn/demo_embedding", 10
        )
        self.reward_pub = self.create_publisher(Float32, "tcn/reward", 10)
        self.stamped_pubs = {
            "camera": self.create_publisher(Image, "tcn/embedding_stamped", 10),
            "demo": self.create_publisher(Image, "tcn/demo_embedding_stamped", 10),
        }
        self.stamped_reward_pub = self.create_publisher(Vector3Stamped, "tcn/reward_stamped", 10)
        self.picture_pub = (
            self.create_publisher(Image, "tcn/picture", 1) if self.publish_picture else None
        )
        for stream, topic in (("camera", "camera/image_raw"), ("demo", "demo/image_raw")):
            self.create_subscription(
                Image,
                topic,
                lambda msg, s=stream: self._on_image(s, msg),
                qos_profile_sensor_data,
            )
        self.create_timer(batch_period, self._flush_all)
        cfg = self.model.config
        self.get_logger().info(
            f"TCN {cfg.backbone} {cfg.image_size} px -> {cfg.embedding_dim}-d from {model} on "
            f"{device}; reward alpha={alpha} beta={beta} gamma={gamma}, max_batch "
            f"{self.max_batch}"
        )

    # ------------------------------------------------------------------ callbacks
    def _on_image(self, stream: str, msg: Image) -> None:
        try:
            rgb = image_to_rgb(msg)
        except ImageFormatError as exc:
            self.dropped += 1
            self.get_logger().warning(
                f"dropped a {stream} image ({self.dropped} so far): {exc}",
                throttle_duration_sec=LOG_PERIOD_S,
            )
            return
        with self._lock:
            self._queues[stream].append((rgb, msg.header))
            full = len(self._queues[stream]) >= self.max_batch
        if full:
            self._flush_all()

    def _flush_all(self) -> None:
        """Embed the queued demo frames, then the queued camera frames (see pairing rule)."""
        with self._lock:
            for stream in ("demo", "camera"):
                queue, self._queues[stream] = self._queues[stream], []
                while queue:
                    batch = _same_shape_prefix(queue[: self.max_batch])
                    queue = queue[len(batch) :]
                    frames, headers = zip(*batch, strict=True)
                    self._publish(stream, self._embed(list(frames)), list(headers))

    # ------------------------------------------------------------------ work
    def _embed(self, frames: list[np.ndarray]) -> np.ndarray:
        """``(N, D)`` float32 embeddings of ``N`` frames of one shape, in one forward pass."""
        self.batch_sizes.append(len(frames))
        return self.model.embed(np.stack(frames), batch_size=len(frames)).numpy()

    def _publish(self, stream: str, embeddings: np.ndarray, headers: list[Header]) -> None:
        self.embedded[stream] += len(embeddings)
        unstamped = self.demo_embedding_pub if stream == "demo" else self.embedding_pub
        for e, frame_header in zip(embeddings, headers, strict=True):
            unstamped.publish(embedding_msg(e))
            self.stamped_pubs[stream].publish(embedding_image(e, frame_header))
            if stream == "demo":
                continue
            self.latest_agent = e
            if self.latest_demo is not None:
                self._publish_reward(e, frame_header)
        if stream == "demo":
            self.latest_demo, self.latest_demo_header = embeddings[-1], headers[-1]
            return
        if self.picture_pub is not None and self.reward_history:
            stamp = self.get_clock().now().to_msg()
            picture = reward_picture(np.asarray(self.reward_history), PICTURE_SIZE)
            self.picture_pub.publish(image_msg(picture, header(stamp)))

    def _publish_reward(self, e: np.ndarray, frame_header: Header) -> None:
        """The reward of camera embedding ``e`` against the latest demo embedding, plain and
        stamped with the camera frame's header (``d`` computed once for both)."""
        c = self.reward_config
        d = float(((e - self.latest_demo) ** 2).sum())
        reward = float(tcn_reward(d, c.alpha, c.beta, c.gamma))
        self.reward_pub.publish(Float32(data=reward))
        offset = (stamp_ns(self.latest_demo_header.stamp) - stamp_ns(frame_header.stamp)) * 1e-9
        self.stamped_reward_pub.publish(
            Vector3Stamped(header=frame_header, vector=Vector3(x=reward, y=d, z=offset))
        )
        self.rewards += 1
        self.reward_history.append(reward)


def _same_shape_prefix(
    queue: list[tuple[np.ndarray, Header]],
) -> list[tuple[np.ndarray, Header]]:
    """The longest prefix of ``queue`` whose frames share the first frame's shape."""
    n = 1
    while n < len(queue) and queue[n][0].shape == queue[0][0].shape:
        n += 1
    return queue[:n]


def embedding_image(embedding: np.ndarray, msg_header: Header) -> Image:
    """One ``(D,)`` embedding as a stamped one-row ``32FC1`` Image with ``msg_header``."""
    values = np.ascontiguousarray(embedding, dtype="<f4").reshape(-1)
    return Image(
        header=msg_header,
        height=1,
        width=values.size,
        encoding="32FC1",
        is_bigendian=0,
        step=4 * values.size,
        data=values.tobytes(),
    )


def embedding_from_image(msg: Image) -> np.ndarray:
    """The ``(D,)`` float32 embedding of a ``tcn/*embedding_stamped`` message."""
    if msg.encoding != "32FC1" or msg.height != 1 or msg.step != 4 * msg.width:
        raise ValueError(
            f"not a stamped embedding: {msg.encoding} {msg.height}x{msg.width}, step {msg.step}"
        )
    dtype = ">f4" if msg.is_bigendian else "<f4"
    return np.frombuffer(bytes(msg.data), dtype=dtype, count=msg.width).astype(np.float32)


def embedding_msg(embedding: np.ndarray) -> Float32MultiArray:
    """A Float32MultiArray holding one ``(D,)`` embedding (layout dim ``embedding``)."""
    msg = Float32MultiArray()
    size = int(embedding.shape[0])
    msg.layout.dim = [MultiArrayDimension(label="embedding", size=size, stride=size)]
    msg.data = embedding.astype(np.float32).tolist()
    return msg


def reward_picture(rewards: np.ndarray, size: tuple[int, int] = PICTURE_SIZE) -> np.ndarray:
    """A ``(H, W, 3)`` uint8 line plot of ``rewards`` (oldest left), drawn with numpy only.

    Dark background, a grey line at the mean, the history in green scaled to its own
    min..max (a flat history sits in the middle).
    """
    height, width = size
    picture = np.full((height, width, 3), 24, dtype=np.uint8)
    values = np.asarray(rewards, dtype=np.float64)[-width:]
    if values.size == 0:
        return picture
    low, high = float(values.min()), float(values.max())
    span = high - low if high > low else 1.0

    def row(v: np.ndarray | float) -> np.ndarray:
        scaled = 0.5 if high == low else (np.asarray(v) - low) / span
        return np.clip(np.round((1.0 - scaled) * (height - 1)), 0, height - 1).astype(int)

    picture[row(float(values.mean())), :] = (80, 80, 80)
    xs = np.round(np.linspace(0, width - 1, values.size)).astype(int)
    ys = row(values)
    for i in range(values.size):  # vertical segments join consecutive points
        x0, x1 = xs[i - 1] if i else xs[i], xs[i]
        y0, y1 = sorted((ys[i - 1] if i else ys[i], ys[i]))
        picture[y0 : y1 + 1, x0 : x1 + 1] = (60, 220, 90)
    return picture


def main(args: list[str] | None = None) -> int:
    return run_node(TcnEmbeddingNode, "tcn_embedding_node", args)


if __name__ == "__main__":
    raise SystemExit(main())
