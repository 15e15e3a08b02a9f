"""Latency and rates of the live ROS 2 graph: camera frame -> reward -> next command.

For each image size the script records a tiny dataset, makes a random tiny TCN (resnet18
trunk, input size = the camera's) and a torque agent on joints and embeddings (64 PPO
steps), then runs the full graph with ``tcn launch``'s runner (one process per node:
kuka_sim_node, demo_player, tcn_embedding_node, imitation_agent_node; config/imitation.yaml:
20 Hz everywhere) for ``--duration`` seconds and listens with a probe node.

Measured (the probe's wall clock; every node stamps with the same system clock):

* frame -> reward: each ``tcn/reward_stamped`` (geometry_msgs/Vector3Stamped) carries the
  header of the camera frame it was computed from, so latency = its arrival - that stamp (the
  sim's render tick). The table counts the camera frames in the window and the rewards whose
  frame lies in it; a frame whose reward was lost shows as a difference.
* frame -> command: the first command on ``effort_controller/commands`` that arrives
  after the frame's reward; latency = its arrival - the frame's stamp.
* rates: messages per second of every topic over the measuring window.

The reference is the camera period (1/20 Hz = 50 ms): a reward later than that lags the
frame after it. Usage::

    python benchmarks/bench_ros_graph.py                     # 64 and 128 px, 20 s each
    python benchmarks/bench_ros_graph.py --sizes 64 --duration 10
"""

from __future__ import annotations

import os

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

import argparse
import bisect
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import rclpy
from geometry_msgs.msg import Vector3Stamped
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float32, Float32MultiArray, Float64MultiArray

from tcn.nodes.ros_env import stamp_ns

WARMUP_S = 3.0

TOPICS = {
    "joint_states": (JointState, 10),
    "camera/image_raw": (Image, qos_profile_sensor_data),
    "demo/image_raw": (Image, qos_profile_sensor_data),
    "tcn/embedding": (Float32MultiArray, 10),
    "tcn/demo_embedding": (Float32MultiArray, 10),
    "tcn/reward": (Float32, 10),
    "tcn/reward_stamped": (Vector3Stamped, 10),
    "effort_controller/commands": (Float64MultiArray, 10),
}


def prepare(root: Path, size: int) -> dict[str, str]:
    """Dataset, random TCN and a 64-step torque agent on joints and embeddings for ``size`` px."""
    from tcn.cli import main
    from tcn_embedding.checkpoint import save_checkpoint
    from tcn_embedding.model import TCN, TCNConfig

    data = root / "demos"
    record = ["record", "--out", str(data), "--episodes", "2", "--val-episodes", "1"]
    assert main([*record, "--frames", "41", "--image-size", str(size), "--no-progress"]) == 0
    model = TCN(
        TCNConfig(
            backbone="resnet18",
            image_size=size,
            pretrained=None,
            freeze_backbone=False,
            head_channels=(8, 8),
            hidden_units=16,
        )
    )
    tcn = save_checkpoint(root / "tcn.pt", model.checkpoint_state())
    run = root / "agent"
    train = ["train-agent", "--embedding", str(tcn), "--demos", str(data), "--out", str(run)]
    train += [
        "--ppo.timesteps",
        "64",
        "--env.action",
        "torque",
        "--vec-env",
        "dummy",
        "--ppo.n-envs",
        "1",
    ]
    train += [
        "--ppo.n-steps",
        "32",
        "--ppo.batch-size",
        "32",
        "--ppo.n-epochs",
        "1",
        "--policy.net-arch",
        "16",
    ]
    # The paper's observation (joints and embeddings): the command then depends on the
    # frame's embedding, the path measured here, and the node needs no reading at start.
    assert (
        main(
            [
                *train,
                "--observation.no-pose-features",
                "--observation.embedding-obs",
                "--no-progress",
            ]
        )
        == 0
    )
    demo = sorted(p for p in data.iterdir() if p.name.startswith("episode_"))[0]
    return {"demo": str(demo), "embedding": str(tcn), "agent": str(run)}


class Probe:
    """Records (arrival wall time, message) per topic."""

    def __init__(self, domain: int) -> None:
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = Node("bench_probe", context=self.context)
        self.arrivals: dict[str, list[tuple[float, object]]] = {t: [] for t in TOPICS}
        for topic, (msg_type, qos) in TOPICS.items():
            if isinstance(qos, int):
                qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
            received = self.arrivals[topic]
            self.node.create_subscription(
                msg_type, topic, lambda m, r=received: r.append((time.time(), m)), qos
            )
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=5.0)
        self.thread.join(5.0)
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


def stamp(msg) -> float:
    return stamp_ns(msg.header.stamp) * 1e-9


def latencies(arrivals: dict[str, list], start: float, end: float) -> dict[str, np.ndarray]:
    """frame -> reward and frame -> next command latencies (s) of frames in the window, each
    reward paired with its frame by the stamp it carries."""
    command_times = [t for t, _ in arrivals["effort_controller/commands"]]
    to_reward, to_command = [], []
    for arrival, reward in arrivals["tcn/reward_stamped"]:
        frame = stamp(reward)
        if not start <= frame < end:
            continue
        to_reward.append(arrival - frame)
        k = bisect.bisect_right(command_times, arrival)
        if k < len(command_times):
            to_command.append(command_times[k] - frame)
    return {"reward": np.array(to_reward), "command": np.array(to_command)}


def measure(size: int, duration: float, root: Path) -> dict:
    from tcn.graph import GraphRunner, argument_values
    from tcn.nodes.ros_env import reserved_domain_id

    paths = prepare(root, size)
    values = argument_values(
        {"embedding": paths["embedding"], "demo": paths["demo"], "agent": paths["agent"]}
    )
    with reserved_domain_id() as domain:
        probe = Probe(domain)
        runner = GraphRunner(values, env={"ROS_DOMAIN_ID": str(domain)})
        try:
            runner.start()
            deadline = time.monotonic() + 60.0
            while not probe.arrivals["effort_controller/commands"]:
                if time.monotonic() > deadline or not runner.poll():
                    raise RuntimeError(f"no command within 60 s ({runner.failed or 'running'})")
                time.sleep(0.1)
            time.sleep(WARMUP_S)
            start = time.time()
            time.sleep(duration)
            end = time.time()
            time.sleep(1.0)  # let the window's last rewards and commands arrive
        finally:
            runner.stop()
            probe.close()
    arrivals = probe.arrivals
    rates = {
        topic: sum(start <= t < end for t, _ in msgs) / (end - start)
        for topic, msgs in arrivals.items()
    }
    result = latencies(arrivals, start, end)
    counts = {
        "frames": sum(start <= stamp(m) < end for _, m in arrivals["camera/image_raw"]),
        "rewards": len(result["reward"]),
    }
    return {"size": size, "rates": rates, "latency": result, "counts": counts}


def ms(values: np.ndarray, q: float) -> str:
    return f"{1e3 * np.percentile(values, q):.1f}" if len(values) else "n/a"


def table(results: list[dict]) -> str:
    lines = [
        "| px | frame->reward p50 / p99 (ms) | frame->command p50 / p99 (ms) | frames / "
        "rewards paired | " + " | ".join(f"`{t}` Hz" for t in TOPICS) + " |",
        "|---" * (4 + len(TOPICS)) + "|",
    ]
    for r in results:
        lat = r["latency"]
        lines.append(
            f"| {r['size']} | {ms(lat['reward'], 50)} / {ms(lat['reward'], 99)} | "
            f"{ms(lat['command'], 50)} / {ms(lat['command'], 99)} | "
            f"{r['counts']['frames']} / {r['counts']['rewards']} | "
            + " | ".join(f"{r['rates'][t]:.1f}" for t in TOPICS)
            + " |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--duration", type=float, default=20.0, help="s measured per size")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            root = Path(tmp) / str(size)
            root.mkdir()
            results.append(measure(size, args.duration, root))
    print(table(results))


if __name__ == "__main__":
    main()
