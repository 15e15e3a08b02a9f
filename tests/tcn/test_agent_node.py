"""imitation_agent_node over real rclpy + Fast DDS: deploy on the live graph, learn online.

Domain ids: the ``ros_domain_id`` fixture (tests/conftest.py: 231..232, locked). Every
node also runs under a namespace unique to this process.
"""

from __future__ import annotations

import os

# DDS must only talk on this machine: set before rclpy is imported or initialised.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float32, Float32MultiArray, Float64MultiArray, Int32

from imitation_agent.train import AgentConfig, EnvSettings
from kuka_sim.sim import IIWA14_MAX_TORQUES
from tcn.cli import main
from tcn.nodes.demo_player import DemoPlayer
from tcn.nodes.imitation_agent_node import ImitationAgentNode, command
from tcn.nodes.kuka_sim_node import KukaSimNode
from tcn.nodes.tcn_embedding_node import TcnEmbeddingNode
from tcn.nodes.testing import RELIABLE, RosGraph, wait_for
from tcn_embedding.checkpoint import save_checkpoint
from tcn_embedding.model import TCN, TCNConfig

NAMES = [f"lbr_iiwa_joint_{i}" for i in range(1, 8)]


@pytest.fixture
def graph(ros_domain_id):
    with RosGraph(ros_domain_id, namespace=f"/agent_test_{os.getpid()}") as g:
        yield g


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny dataset, a tiny random TCN, a torque agent on the paper's observation (joints and
    embeddings) and a default agent (position deltas, the demonstration's reading) trained for
    64 steps each."""
    root = tmp_path_factory.mktemp("agent_node")
    data = root / "demos"
    record = ["record", "--out", str(data), "--episodes", "2", "--val-episodes", "1"]
    assert main([*record, "--frames", "17", "--image-size", "32", "--no-progress"]) == 0
    model = TCN(
        TCNConfig(
            backbone="resnet18",
            image_size=32,
            pretrained=None,
            freeze_backbone=False,
            head_channels=(8, 8),
            hidden_units=16,
        )
    )
    checkpoint = save_checkpoint(root / "tcn.pt", model.checkpoint_state())
    run = root / "agent"
    train = ["train-agent", "--embedding", str(checkpoint), "--demos", str(data)]
    train += ["--out", str(run), "--ppo.timesteps", "64", "--env.action", "torque", "--vec-env"]
    train += ["dummy", "--ppo.n-envs", "1", "--ppo.n-steps", "32", "--ppo.batch-size", "32"]
    train += ["--ppo.n-epochs", "1", "--policy.net-arch", "16", "--no-progress"]
    assert main([*train, "--observation.no-pose-features", "--observation.embedding-obs"]) == 0
    reading = root / "reading_agent"
    default = [*train[: train.index("--out")], "--out", str(reading), "--ppo.timesteps", "64"]
    default += [
        "--vec-env",
        "dummy",
        "--ppo.n-envs",
        "1",
        "--ppo.n-steps",
        "32",
        "--ppo.batch-size",
        "32",
    ]
    assert main([*default, "--ppo.n-epochs", "1", "--policy.net-arch", "16", "--no-progress"]) == 0
    demo = sorted(p for p in data.iterdir() if p.name.startswith("episode_"))[0]
    return {"demo": str(demo), "tcn": str(checkpoint), "agent": str(run), "reading": str(reading)}


def test_commands_scale_like_the_env():
    torque = AgentConfig(env=EnvSettings(action="torque", torque_fraction=0.25))
    values, target = command(np.full(7, 2.0), torque, np.array(IIWA14_MAX_TORQUES), None, None)
    assert target is None
    np.testing.assert_allclose(values, 0.25 * np.array(IIWA14_MAX_TORQUES))  # clipped to 1
    delta = AgentConfig(env=EnvSettings(action="position_delta", max_position_delta=0.1))
    q = np.arange(7) * 0.1
    values, target = command(np.full(7, 0.5), delta, None, None, q)
    np.testing.assert_allclose(values, q + 0.05)
    values, target = command(np.full(7, -3.0), delta, None, target, q + 1.0)  # integrates
    np.testing.assert_allclose(values, q - 0.05)
    lower, upper = np.full(7, -0.02), np.full(7, 0.3)
    for _ in range(20):  # pushed on, the target stops at the limits as KukaSim's does
        values, target = command(np.ones(7), delta, None, target, q, (lower, upper))
    np.testing.assert_allclose(values, 0.3)
    values, _ = command(-np.ones(7), delta, None, target, q, (lower, upper))
    np.testing.assert_allclose(values, 0.2)  # no wind-up beyond the limit to undo first


def test_deploy_on_the_live_graph_and_stop_safely(graph, setup):
    sim = graph.node(KukaSimNode, demo=setup["demo"], control_mode="torque")
    graph.node(DemoPlayer, demo=setup["demo"])
    graph.node(TcnEmbeddingNode, model=setup["tcn"], threads=1)
    agent = graph.node(ImitationAgentNode, agent=setup["agent"], demo=setup["demo"])
    assert agent.topic == "effort_controller/commands"
    commands = graph.collect(Float64MultiArray, "effort_controller/commands", stamped=True)
    wait_for(lambda: len(commands) >= 5, "the first commands")
    start, first = time.monotonic(), len(commands)
    time.sleep(2.0)
    rate = (len(commands) - first) / (time.monotonic() - start)
    assert 10 <= rate <= 26, rate  # control_rate 20 Hz
    limit = np.array(IIWA14_MAX_TORQUES) * agent.config.env.torque_fraction
    for _, msg in commands:
        values = np.asarray(msg.data)
        assert values.shape == (7,) and np.all(np.isfinite(values))
        assert np.all(np.abs(values) <= limit + 1e-9)
    assert agent.last_observation.shape == (agent.layout.size,)
    assert sim.rejected == 0 and sim.ignored == 0

    trips = sim.watchdog_trips
    graph.remove(agent)
    wait_for(lambda: not np.any(commands[-1][1].data), "zero torques on shutdown", 5.0)
    wait_for(lambda: sim.watchdog_trips > trips, "the sim's watchdog", 5.0)
    assert np.allclose(sim.applied_torques, 0.0)


def test_observation_matches_joints_by_name(graph, setup):
    agent = graph.node(ImitationAgentNode, agent=setup["agent"], demo=setup["demo"])
    pub = {
        "joints": graph.probe.create_publisher(JointState, "joint_states", RELIABLE),
        "w": graph.probe.create_publisher(Float32MultiArray, "tcn/embedding", RELIABLE),
        "t": graph.probe.create_publisher(Int32, "demo/frame_index", RELIABLE),
    }
    commands = graph.collect(Float64MultiArray, "effort_controller/commands", stamped=True)
    order = [3, 0, 6, 1, 5, 2, 4]
    q = np.arange(1, 8) * 0.1
    w = np.linspace(-1, 1, agent.layout.embedding_dim).astype(np.float32)
    partial = JointState(name=NAMES[:6], position=list(q[:6]), velocity=[0.0] * 6)
    shuffled = JointState(
        name=[NAMES[i] for i in order],
        position=[float(q[i]) for i in order],
        velocity=[float(-q[i]) for i in order],
    )

    def publish(joints: JointState) -> Callable[[], bool]:
        def step() -> bool:
            pub["joints"].publish(joints)
            pub["w"].publish(Float32MultiArray(data=w.tolist()))
            pub["t"].publish(Int32(data=3))
            time.sleep(0.05)
            return True

        return step

    wait_for(lambda: publish(partial)() and agent.missing_joints >= 3, "missing joints")
    assert agent.last_observation is None and not commands  # nothing commanded
    wait_for(lambda: publish(shuffled)() and agent.last_observation is not None, "observation")
    obs, layout = agent.last_observation, agent.layout
    np.testing.assert_allclose(obs[layout.q], q, rtol=1e-6)
    np.testing.assert_allclose(obs[layout.qd], -q, rtol=1e-6)
    np.testing.assert_allclose(obs[layout.w], w)
    np.testing.assert_allclose(obs[layout.v], agent.demo_embeddings[3])
    np.testing.assert_allclose(obs[layout.ahead], agent.demo_embeddings[3 + 1])
    assert obs[-1] == pytest.approx(3 / (len(agent.demo_embeddings) - 1))
    wait_for(lambda: bool(commands), "a command")


def test_an_agent_that_observes_a_reading_deploys_with_the_demo_read_at_start(graph, setup):
    from tcn.bags import read_episode

    agent = graph.node(
        ImitationAgentNode, agent=setup["reading"], demo=setup["demo"], reader="recorded"
    )
    assert agent.topic == "position_controller/commands" and agent.layout.embedding_dim == 0
    recorded = read_episode(Path(setup["demo"])).joint_positions
    np.testing.assert_array_equal(agent.demo_reading, recorded)
    joints = graph.probe.create_publisher(JointState, "joint_states", RELIABLE)
    index = graph.probe.create_publisher(Int32, "demo/frame_index", RELIABLE)
    embedding = graph.probe.create_publisher(Float32MultiArray, "tcn/embedding", RELIABLE)
    commands = graph.collect(Float64MultiArray, "position_controller/commands", stamped=True)
    q = recorded[0]

    def publish() -> bool:
        joints.publish(JointState(name=NAMES, position=list(q), velocity=[0.0] * 7))
        embedding.publish(Float32MultiArray(data=[0.0] * agent.demo_embeddings.shape[1]))
        index.publish(Int32(data=4))
        time.sleep(0.05)
        return agent.last_observation is not None and bool(commands)

    wait_for(publish, "an observation and a command")
    obs, layout = agent.last_observation, agent.layout
    np.testing.assert_allclose(obs[layout.pose_target], recorded[5], rtol=1e-6)  # lookahead 1
    np.testing.assert_allclose(obs[layout.pose_error], recorded[5] - q, rtol=1e-5, atol=1e-6)
    values = np.asarray(commands[-1][1].data)
    assert np.all(np.abs(values - q) <= agent.config.env.max_position_delta + 1e-9)


def test_learn_mode_writes_a_checkpoint(graph, setup, tmp_path):
    out = tmp_path / "online"
    agent = graph.node(
        ImitationAgentNode,
        mode="learn",
        agent=setup["agent"],
        demo=setup["demo"],
        learn_out=str(out),
        learn_steps=32,
        control_rate=50.0,
    )
    commands = graph.collect(Float64MultiArray, "effort_controller/commands", stamped=True)
    pubs = [
        graph.probe.create_publisher(t, n, RELIABLE)
        for t, n in (
            (JointState, "joint_states"),
            (Float32MultiArray, "tcn/embedding"),
            (Int32, "demo/frame_index"),
            (Float32, "tcn/reward"),
        )
    ]
    state = JointState(name=NAMES, position=[0.0] * 7, velocity=[0.0] * 7)
    w = Float32MultiArray(data=[0.1] * agent.layout.embedding_dim)
    progress = out / "checkpoints" / "progress.json"

    def learned() -> bool:
        for pub, msg in zip(pubs, (state, w, Int32(data=1), Float32(data=-1.0)), strict=True):
            pub.publish(msg)
        time.sleep(0.02)
        return progress.is_file() and json.loads(progress.read_text())["timesteps"] >= 32

    wait_for(learned, "32 online PPO steps and a checkpoint", 30.0)
    assert agent.learner_error is None
    assert (out / "checkpoints" / "last.zip").is_file()
    assert (out / "checkpoints" / "last_norm.npz").is_file()
    assert (out / "config.yaml").is_file()
    assert len(commands) >= 16


def test_a_played_foreign_bag_drives_the_agent(graph, setup, tmp_path, robot_bag):
    """`ros2 bag play --remap /wrist_cam/color/image_raw:=demo/image_raw` of a bag this
    project's writer did not make: its frames keep their header stamps, which say the agent's
    time index; no demo/frame_index is published."""
    from rosbags.highlevel import AnyReader

    from tcn.bags import read_episode

    topic = "/wrist_cam/color/image_raw"
    bag = tmp_path / "robot"
    robot_bag(bag, read_episode(Path(setup["demo"])).frames[0][:12], storage="mcap")
    with AnyReader([bag]) as reader:
        wanted = [c for c in reader.connections if c.topic == topic]
        recorded = [reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages(wanted)]
    agent = graph.node(
        ImitationAgentNode, agent=setup["agent"], demo=str(bag), demo_image_topic=topic
    )
    assert len(agent.demo_embeddings) == 12
    images = graph.probe.create_publisher(Image, "demo/image_raw", RELIABLE)
    joints = graph.probe.create_publisher(JointState, "joint_states", RELIABLE)
    embedding = graph.probe.create_publisher(Float32MultiArray, "tcn/embedding", RELIABLE)
    commands = graph.collect(Float64MultiArray, "effort_controller/commands", stamped=True)

    def played(k: int, sec: int | None = None) -> Image:
        m = recorded[k]
        msg = Image(height=m.height, width=m.width, encoding=m.encoding, step=m.step)
        msg.header.stamp.sec = m.header.stamp.sec if sec is None else sec
        msg.header.stamp.nanosec = m.header.stamp.nanosec
        msg.header.frame_id = m.header.frame_id
        msg.data = m.data.tobytes()
        return msg

    def publish(image: Image | None) -> bool:
        joints.publish(JointState(name=NAMES, position=[0.1] * 7, velocity=[0.0] * 7))
        embedding.publish(Float32MultiArray(data=[0.0] * agent.embedding_dim))
        if image is not None:
            images.publish(image)
        time.sleep(0.05)
        return True

    for _ in range(5):
        publish(None)
    assert agent.last_observation is None and not commands  # no time index yet: no command
    wait_for(lambda: publish(played(7)) and agent._t == 7 and bool(commands), "frame 7 played")
    np.testing.assert_allclose(agent.last_observation[agent.layout.v], agent.demo_embeddings[7])
    wait_for(lambda: publish(played(9)) and agent._t == 9, "frame 9 played")
    unmatched = agent.unmatched_stamps
    wait_for(
        lambda: publish(played(3, sec=int(time.time()))) and agent.unmatched_stamps > unmatched,
        "a live-stamped frame counted",
    )
    assert agent._t == 9  # a stamp of no frame of the bag leaves the index where it was
