"""`tcn launch` and launch/imitation.launch.py: one graph definition, really running.

The running tests start real processes over rclpy + Fast DDS with localhost discovery and
their own ``ROS_DOMAIN_ID``; the launch file is only parsed (``ast``), never imported: it
needs launch_ros, which this environment does not have.
"""

from __future__ import annotations

import ast
import itertools
import os

# DDS must only talk on this machine: set before rclpy is imported or initialised.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"

import dataclasses
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import rclpy
import yaml
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float32, Float32MultiArray

from kuka_sim import DemoConfig, episode_seed, make_cameras, record_demonstration
from tcn.bags import write_episode
from tcn.cli import build_parser
from tcn.graph import (
    LAUNCH_ARGUMENTS,
    NODES,
    PARAMS_FILE,
    GraphRunner,
    argument_values,
    check_arguments,
    node_parameters,
    robot_description,
)
from tcn.nodes.ros_env import header, image_msg
from tcn_embedding.checkpoint import save_checkpoint
from tcn_embedding.model import TCN, TCNConfig

ROOT = Path(__file__).resolve().parents[2]
LAUNCH_FILE = ROOT / "launch" / "imitation.launch.py"
TIMEOUT = 30.0
_domains = itertools.count()


def takes_ctrl_c() -> None:
    """Run in a child before it starts: SIGINT's default action, as a terminal's child has it.
    A shell's background job (``make test &``, nohup) hands its children SIGINT ignored, and
    Python then never raises KeyboardInterrupt; rclpy's nodes stop on it all the same, and
    the launch saw them exit before it was interrupted itself."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def fresh_domain_id() -> int:
    """A domain id in 201..230 (other ROS test files use 1..200)."""
    return 201 + (os.getpid() + next(_domains)) % 30


def wait_for(condition, what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def demo_bag(tmp_path_factory):
    episode = record_demonstration(
        episode_seed(0, 0), make_cameras(1, 32), demo_config=DemoConfig(frames=31)
    )
    return write_episode(tmp_path_factory.mktemp("demo") / "episode_0000", episode)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    config = TCNConfig(
        backbone="resnet18",
        image_size=32,
        pretrained=None,
        freeze_backbone=False,
        head_channels=(8, 8),
        hidden_units=16,
    )
    path = tmp_path_factory.mktemp("tcn") / "tiny.pt"
    return save_checkpoint(path, TCN(config).checkpoint_state())


class Probe:
    """A node in its own context and domain that records arrival times per topic."""

    def __init__(self, domain_id: int) -> None:
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = Node("probe", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.arrivals: dict[str, list[tuple[float, object]]] = {}
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def listen(self, msg_type, topic: str, qos=qos_profile_sensor_data) -> None:
        received = self.arrivals.setdefault(topic, [])
        self.node.create_subscription(
            msg_type, topic, lambda m: received.append((time.monotonic(), m)), qos
        )

    def rate(self, topic: str, start: float, end: float) -> float:
        return sum(start <= t < end for t, _ in self.arrivals[topic]) / (end - start)

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=5.0)
        self._thread.join(5.0)
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


# --------------------------------------------------------------------------- running graph
TOPICS = {
    "joint_states": JointState,
    "camera/image_raw": Image,
    "demo/image_raw": Image,
    "tcn/embedding": Float32MultiArray,
    "tcn/demo_embedding": Float32MultiArray,
    "tcn/reward": Float32,
}


def test_tcn_launch_runs_the_graph(tmp_path, demo_bag, checkpoint):
    params = yaml.safe_load((ROOT / PARAMS_FILE).read_text())
    params["/**/demo_player"]["ros__parameters"]["rate"] = 10.0  # proves --config is used
    config = tmp_path / "params.yaml"
    config.write_text(yaml.safe_dump(params))
    domain = fresh_domain_id()
    probe = Probe(domain)
    for topic, msg_type in TOPICS.items():
        probe.listen(msg_type, f"/robot1/{topic}")
    env = {**os.environ, "ROS_DOMAIN_ID": str(domain)}
    command = [sys.executable, "-m", "tcn", "launch", "--namespace", "robot1"]
    command += ["--embedding", str(checkpoint), "--demo", str(demo_bag)]
    command += ["--config", str(config), "--duration", "14"]
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for(lambda: probe.arrivals["/robot1/tcn/reward"], "the first reward")
        start = time.monotonic()
        time.sleep(3.0)
        rates = {t: probe.rate(f"/robot1/{t}", start, time.monotonic()) for t in TOPICS}
        output, _ = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        probe.close()
    print("rates (Hz):", {k: round(v, 1) for k, v in rates.items()})
    assert process.returncode == 0, output
    assert 12 <= rates["joint_states"] <= 26, rates
    assert 12 <= rates["camera/image_raw"] <= 26, rates
    assert 5 <= rates["demo/image_raw"] <= 13, rates  # 10 Hz from --config
    assert 12 <= rates["tcn/embedding"] <= 26, rates  # one per camera frame
    assert 5 <= rates["tcn/demo_embedding"] <= 13, rates
    assert 12 <= rates["tcn/reward"] <= 26, rates
    _, joints = probe.arrivals["/robot1/joint_states"][-1]
    assert list(joints.name) == [f"lbr_iiwa_joint_{i}" for i in range(1, 8)]
    _, image = probe.arrivals["/robot1/camera/image_raw"][-1]
    assert (image.encoding, image.width) == ("rgb8", 32)  # the demo's camera
    _, embedding = probe.arrivals["/robot1/tcn/embedding"][-1]
    assert np.linalg.norm(embedding.data) == pytest.approx(10.0, rel=1e-4)
    _, reward = probe.arrivals["/robot1/tcn/reward"][-1]
    assert reward.data < 0


def test_tcn_launch_with_a_position_agent_moves_the_arm(tmp_path, demo_bag, checkpoint):
    """The default agent (position deltas, observing a reading) on a default ``tcn launch``:
    the launch puts the simulator in position mode, the agent's targets arrive on
    position_controller/commands, stay within the joint limits, and the arm moves."""
    from std_msgs.msg import Float64MultiArray

    from kuka_sim import joint_limits
    from tcn.cli import main

    run = tmp_path / "agent"
    train = ["train-agent", "--embedding", str(checkpoint), "--demos", str(demo_bag)]
    train += [
        "--out",
        str(run),
        "--ppo.timesteps",
        "64",
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
        "--no-progress",
    ]
    assert main(train) == 0
    params = yaml.safe_load((ROOT / PARAMS_FILE).read_text())
    params["/**/imitation_agent_node"]["ros__parameters"]["reader"] = "recorded"  # seconds
    config = tmp_path / "params.yaml"
    config.write_text(yaml.safe_dump(params))
    domain = fresh_domain_id()
    probe = Probe(domain)
    reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    probe.listen(JointState, "/joint_states", reliable)
    probe.listen(Float64MultiArray, "/position_controller/commands", reliable)
    command = [sys.executable, "-m", "tcn", "launch", "--embedding", str(checkpoint)]
    command += ["--demo", str(demo_bag), "--agent", str(run), "--config", str(config)]
    env = {**os.environ, "ROS_DOMAIN_ID": str(domain)}
    process = subprocess.Popen(
        [*command, "--duration", "120"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=takes_ctrl_c,
    )
    try:
        wait_for(
            lambda: len(probe.arrivals["/position_controller/commands"]) >= 20,
            "20 position targets",
            100.0,
        )
        joints = [np.array(m.position) for _, m in probe.arrivals["/joint_states"]]
        targets = [np.array(m.data) for _, m in probe.arrivals["/position_controller/commands"]]
    finally:
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C, as a terminal sends it to the group
        output, _ = process.communicate(timeout=TIMEOUT)
        probe.close()
    assert process.returncode == 130, output  # tcn's exit status for an interrupted verb
    assert "Traceback" not in output, output  # every node stopped cleanly, twice interrupted
    assert "position mode" in output, output  # the launch matched the simulator to the agent
    assert np.max(np.linalg.norm(np.stack(joints) - joints[0], axis=1)) > 0.01  # held: 0
    lower, upper = joint_limits()
    assert all(np.all(t >= lower - 1e-9) and np.all(t <= upper + 1e-9) for t in targets)


def test_a_respawned_node_rejoins_the_graph(checkpoint):
    (spec,) = [n for n in NODES if n.name == "tcn_embedding_node"]
    assert spec.respawn
    domain = fresh_domain_id()
    probe = Probe(domain)
    probe.listen(Float32MultiArray, "tcn/embedding", QoSProfile(depth=50))
    camera = probe.node.create_publisher(
        Image, "camera/image_raw", QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    )
    frame = np.zeros((32, 32, 3), dtype=np.uint8)
    values = argument_values({"embedding": str(checkpoint), "demo": "unused"})
    runner = GraphRunner(
        values, [dataclasses.replace(spec, respawn_delay=0.2)], {"ROS_DOMAIN_ID": str(domain)}
    )
    embeddings = probe.arrivals["tcn/embedding"]

    def answering_since(since: float):
        def answered() -> bool:
            assert runner.poll()
            camera.publish(image_msg(frame, header(probe.node.get_clock().now().to_msg())))
            time.sleep(0.1)
            return bool(embeddings) and embeddings[-1][0] > since

        return answered

    try:
        runner.start()
        wait_for(answering_since(0.0), "the node to answer")
        runner.processes[spec.name].kill()  # a crash
        runner.processes[spec.name].wait()
        killed = time.monotonic()
        wait_for(lambda: runner.poll() and runner.starts[spec.name] == 2, "the respawn")
        wait_for(answering_since(killed), "the respawned node to answer")
    finally:
        runner.stop()
        probe.close()


def test_a_node_with_invalid_parameters_stops_the_graph(tmp_path):
    (spec,) = [n for n in NODES if n.name == "tcn_embedding_node"]
    values = argument_values({"embedding": str(tmp_path / "missing.pt"), "demo": "unused"})
    runner = GraphRunner(values, [spec], {"ROS_DOMAIN_ID": str(fresh_domain_id())})
    runner.start()
    try:
        assert runner.spin(duration=TIMEOUT) == 1  # exit status 1: not respawned
    finally:
        runner.stop()
    assert runner.failed == "tcn_embedding_node exited with status 1"
    assert runner.starts["tcn_embedding_node"] == 1


def test_required_arguments_are_named():
    with pytest.raises(ValueError, match="--embedding"):
        check_arguments(argument_values({"demo": "bag"}))
    with pytest.raises(ValueError, match="--demo"):
        check_arguments(argument_values({"embedding": "run"}))
    check_arguments(argument_values({"embedding": "run", "demo": "bag"}))
    with pytest.raises(ValueError, match="unknown launch arguments"):
        argument_values({"robot": "x"})


# --------------------------------------------------------------------------- agent contract
def _agent_run(path: Path, action: str) -> str:
    path.mkdir()
    deploy = {"action": action, "control_mode": {"torque": "torque"}.get(action, action)}
    (path / "config.yaml").write_text(yaml.safe_dump({"kind": "agent", "deploy": deploy}))
    return str(path)


def _sim_mode(values: dict[str, str]) -> str | None:
    (sim,) = [n for n in NODES if n.name == "kuka_sim_node"]
    return node_parameters(sim, values).get("control_mode")


def test_the_sim_executes_what_the_agent_run_sends(tmp_path):
    base = {"embedding": "run", "demo": "bag"}
    position = _agent_run(tmp_path / "position", "position_delta")
    torque = _agent_run(tmp_path / "torque", "torque")
    assert _sim_mode(argument_values({**base, "agent": position})) == "position"
    assert _sim_mode(argument_values({**base, "agent": torque})) == "torque"
    # learn mode without a run: the default agent preset's action (position deltas)
    assert _sim_mode(argument_values({**base, "agent_mode": "learn"})) == "position"
    assert _sim_mode(argument_values(base)) is None  # no agent: the parameter file's mode
    explicit = argument_values({**base, "agent": position, "control_mode": "position"})
    check_arguments(explicit)
    assert _sim_mode(explicit) == "position"


def test_a_mode_that_contradicts_the_agent_is_refused_with_the_fix(tmp_path):
    base = {"embedding": "run", "demo": "bag"}
    position = _agent_run(tmp_path / "position", "position_delta")
    with pytest.raises(ValueError, match=r"position_controller/commands.*drop control_mode"):
        check_arguments(argument_values({**base, "agent": position, "control_mode": "torque"}))
    with pytest.raises(ValueError, match="expected one of"):
        check_arguments(argument_values({**base, "control_mode": "velocity"}))
    with pytest.raises(ValueError, match="not an agent run"):
        check_arguments(
            argument_values({**base, "agent": str(tmp_path / "none"), "control_mode": "torque"})
        )


def test_a_real_driver_replaces_the_simulator_and_takes_torque_agents_only(tmp_path):
    from tcn.graph import active_nodes, ros_arguments

    base = {"embedding": "run", "demo": "bag", "driver": "kuka_drivers"}
    values = argument_values({**base, "camera_topic": "/wrist_cam/color/image_raw"})
    names = {n.name for n in active_nodes(values)}
    assert "hardware_bridge" in names and "kuka_sim_node" not in names
    (bridge,) = [n for n in NODES if n.name == "hardware_bridge"]
    assert node_parameters(bridge, values) == {"driver": "kuka_drivers"}
    (embedder,) = [n for n in NODES if n.name == "tcn_embedding_node"]
    args = ros_arguments(embedder, values, Path("params.yaml"))
    assert "camera/image_raw:=/wrist_cam/color/image_raw" in args
    sim_values = argument_values({"embedding": "run", "demo": "bag"})
    assert "hardware_bridge" not in {n.name for n in active_nodes(sim_values)}
    torque = _agent_run(tmp_path / "torque", "torque")
    check_arguments(argument_values({**base, "agent": torque}))
    position = _agent_run(tmp_path / "position", "position_delta")
    with pytest.raises(ValueError, match="--env.action torque for a real driver"):
        check_arguments(argument_values({**base, "agent": position}))


def test_a_real_driver_puts_the_stack_in_its_own_namespace():
    """kuka_drivers and iiwa_ros2 own /joint_states and /effort_controller/commands, the
    stack's relative names in the root; the lbr stack owns /lbr/joint_states."""
    from tcn.graph import DRIVER_NAMESPACE, ros_arguments, stack_namespace

    base = {"embedding": "run", "demo": "bag"}
    for driver in ("kuka_drivers", "iiwa_ros2", "lbr_fri_ros2_stack"):
        values = argument_values({**base, "driver": driver})
        assert stack_namespace(values) == DRIVER_NAMESPACE
        check_arguments(values)
        (bridge,) = [n for n in NODES if n.name == "hardware_bridge"]
        assert f"__ns:=/{DRIVER_NAMESPACE}" in ros_arguments(bridge, values, Path("p.yaml"))
    assert stack_namespace(argument_values(base)) == ""  # the simulator keeps the root
    assert stack_namespace(argument_values({**base, "namespace": "/robot1/"})) == "robot1"
    with pytest.raises(ValueError, match="/lbr/joint_states"):
        check_arguments(
            argument_values({**base, "driver": "lbr_fri_ros2_stack", "namespace": "lbr"})
        )


# --------------------------------------------------------------------------- one definition
def _launch_tree() -> ast.Module:
    return ast.parse(LAUNCH_FILE.read_text())


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and getattr(n.func, "id", None) == name
    ]


def test_launch_file_builds_from_the_shared_definition():
    tree = _launch_tree()
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "tcn.graph"
        for alias in node.names
    }
    assert {"NODES", "LAUNCH_ARGUMENTS", "PARAMS_FILE", "node_parameters"} <= imported
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert {"NODES", "LAUNCH_ARGUMENTS", "PARAMS_FILE", "URDF_FILE", "RVIZ_FILE"} <= names

    # Our nodes: one Node(...) whose executable and name come from the spec; the only
    # literal executables are the two ROS 2 tools.
    literal = {
        kw.value.value
        for call in _calls(tree, "Node")
        for kw in call.keywords
        if kw.arg == "executable" and isinstance(kw.value, ast.Constant)
    }
    assert literal == {"robot_state_publisher", "rviz2"}
    from_spec = [
        call
        for call in _calls(tree, "Node")
        if any(
            kw.arg == "executable" and ast.unparse(kw.value) == "spec.executable"
            for kw in call.keywords
        )
    ]
    assert len(from_spec) == 1
    keywords = {kw.arg: ast.unparse(kw.value) for kw in from_spec[0].keywords}
    assert keywords["name"] == "spec.name"
    assert keywords["respawn"] == "spec.respawn"
    assert "node_parameters(spec, values)" in keywords["parameters"]
    assert "params" in keywords["parameters"]

    # Every launch argument is declared from LAUNCH_ARGUMENTS with a description.
    (declare,) = _calls(tree, "DeclareLaunchArgument")
    declared = {kw.arg: ast.unparse(kw.value) for kw in declare.keywords}
    assert declared["description"] == "a.description"
    assert ast.unparse(declare.args[0]) == "a.name"
    assert "package://tcn/description/kuka_iiwa/" in robot_description()


def test_tcn_launch_takes_every_launch_argument():
    parser = build_parser()
    args = parser.parse_args(["launch", *[x for a in LAUNCH_ARGUMENTS for x in (a.option, "v")]])
    assert all(getattr(args, a.name) == "v" for a in LAUNCH_ARGUMENTS)
    expected = {"namespace", "use_sim", "embedding", "demo", "rviz", "params_file"}
    expected |= {"agent", "agent_mode", "control_mode", "driver", "camera_topic"}
    assert {a.name for a in LAUNCH_ARGUMENTS} == expected
    assert all(a.description for a in LAUNCH_ARGUMENTS)


def test_console_scripts_and_parameter_file_cover_every_node():
    setup = (ROOT / "setup.py").read_text()
    scripts = dict(re.findall(r'"(\w+) = ([\w.]+):main"', setup))
    params = yaml.safe_load((ROOT / PARAMS_FILE).read_text())
    for spec in NODES:
        assert scripts.get(spec.executable) == spec.module, spec.executable
        section = params[f"/**/{spec.name}"]["ros__parameters"]
        source = Path(
            sys.modules[spec.module].__file__
            if spec.module in sys.modules
            else __import__(spec.module, fromlist=["x"]).__file__
        ).read_text()
        declared = set(re.findall(r'declare\(\s*self,\s*"(\w+)"', source))
        assert set(section) <= declared, (spec.name, set(section) - declared)
        assert set(spec.params_from_args.values()) <= declared
    assert set(params) == {f"/**/{spec.name}" for spec in NODES}
