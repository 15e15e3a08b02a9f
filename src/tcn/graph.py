"""The imitation graph, defined once for ``tcn launch`` and ``launch/imitation.launch.py``.

:data:`NODES` lists the nodes (executable, module, node name, which launch argument sets
which parameter, when they start, whether they respawn); :data:`LAUNCH_ARGUMENTS` lists the
arguments (name, default, description, ``tcn launch`` option). The launch file imports both
at launch time and builds ``launch_ros`` actions from them; ``tcn launch`` builds processes
from them with :class:`GraphRunner`. Parameters come from one file, :data:`PARAMS_FILE`.

``tcn launch`` runs one process per node (``python -m <module> --ros-args ...``, the same
command line as the console script) rather than all nodes in one executor: a node that
crashes takes only itself down, and a node with ``respawn`` is started again after
``respawn_delay`` seconds and rejoins the graph by DDS discovery, exactly as
``launch_ros`` does with ``respawn=True``. A node without ``respawn`` that exits stops the
whole graph (launch's ``on_exit=Shutdown()``), and so does a node that exits with status 1
(invalid parameters: restarting it cannot help; ``launch_ros`` would retry it forever).

The agent contract: an agent run records in its ``config.yaml`` what deploying it needs
(``deploy``: the action kind, the control mode, the observation, the reader;
:func:`tcn.agent_store.deployment`). :func:`derived_parameters` reads it and sets the
simulator's ``control_mode`` to the one its commands drive (:data:`SIM_CONTROL_MODES`), so
the parameter file's mode never silently ignores an agent; an explicit ``control_mode:=``
that contradicts the agent is refused by :func:`check_arguments` with what to change.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

PACKAGE = "tcn"
PARAMS_FILE = "config/imitation.yaml"  # relative to the package share directory
URDF_FILE = "description/kuka_iiwa/model.urdf"
RVIZ_FILE = "config/tcn.rviz"
MESH_PREFIX = f"package://{PACKAGE}/description/kuka_iiwa/"
CONFIG_ERROR = 1  # exit status of a node whose parameters are invalid (tcn.nodes.ros_env)


@dataclass(frozen=True)
class LaunchArgument:
    """One launch argument (``name:=value``) and the ``tcn launch`` option that sets it."""

    name: str
    default: str
    description: str
    option: str
    """``tcn launch`` option, e.g. ``--config`` for ``params_file``."""


@dataclass(frozen=True)
class NodeSpec:
    """One node of the graph, as both launchers start it."""

    executable: str
    """Console script (setup.py) and ``launch_ros`` executable."""
    module: str
    """Module whose ``main`` the console script runs (``tcn launch`` uses ``python -m``)."""
    name: str
    """Node name (``__node:=``) and key in the parameter file."""
    params_from_args: Mapping[str, str] = field(default_factory=dict)
    """Launch argument -> parameter it sets (only when the argument is non-empty)."""
    required_args: tuple[str, ...] = ()
    """Launch arguments that must be non-empty for this node to start."""
    condition: str | None = None
    """Launch argument that must be ``true`` for the node to start (None: always)."""
    start_when: tuple[str, ...] = ()
    """The node starts only when one of these holds (empty: always): ``arg`` (the argument
    is non-empty), ``arg=value`` (the argument equals ``value``) or ``arg!=value``."""
    remaps_from_args: Mapping[str, str] = field(default_factory=dict)
    """Launch argument -> topic of this node it remaps to the argument's value (when
    non-empty)."""
    respawn: bool = False
    respawn_delay: float = 2.0


SIM_CONTROL_MODES = {"torque": "torque", "position_delta": "position"}
"""An agent's action kind -> the ``kuka_sim_node`` control mode that executes its commands."""
COMMAND_TOPICS = {
    "torque": "effort_controller/commands",
    "position_delta": "position_controller/commands",
}
"""An agent's action kind -> the topic its commands go to (absolute targets for deltas)."""

LAUNCH_ARGUMENTS: tuple[LaunchArgument, ...] = (
    LaunchArgument(
        "namespace",
        "",
        "namespace of every node (e.g. a robot name); empty = the root, or 'tcn' with a real "
        "driver (whose own topics are the stack's names in the root)",
        "--namespace",
    ),
    LaunchArgument(
        "driver",
        "sim",
        "what moves the arm: sim (kuka_sim_node) or a real driver's profile, kuka_drivers | "
        "iiwa_ros2 | lbr_fri_ros2_stack (config/drivers/), bridged by hardware_bridge",
        "--driver",
    ),
    LaunchArgument(
        "camera_topic",
        "",
        "the robot's camera image topic for tcn_embedding_node; empty = camera/image_raw "
        "(the simulator's)",
        "--camera-topic",
    ),
    LaunchArgument(
        "use_sim",
        "true",
        "start kuka_sim_node; false when a real iiwa drives the topics",
        "--use-sim",
    ),
    LaunchArgument(
        "embedding", "", "TCN run directory or checkpoint for tcn_embedding_node", "--embedding"
    ),
    LaunchArgument("demo", "", "demonstration bag played on demo/image_raw", "--demo"),
    LaunchArgument("rviz", "false", "start rviz2 with config/tcn.rviz", "--rviz"),
    LaunchArgument(
        "agent",
        "",
        "agent run directory for imitation_agent_node; empty = no agent (unless learning)",
        "--agent",
    ),
    LaunchArgument(
        "agent_mode",
        "deploy",
        "imitation_agent_node mode: deploy (needs agent:=) | learn (online PPO)",
        "--agent-mode",
    ),
    LaunchArgument(
        "control_mode",
        "",
        "kuka_sim_node control mode, torque | position; empty = the one the agent's commands "
        "drive (its run's config.yaml), else the parameter file's",
        "--control-mode",
    ),
    LaunchArgument(
        "params_file", "", f"parameter file; empty = the package's {PARAMS_FILE}", "--config"
    ),
)

NODES: tuple[NodeSpec, ...] = (
    NodeSpec(
        executable="kuka_sim_node",
        module="tcn.nodes.kuka_sim_node",
        name="kuka_sim_node",
        params_from_args={"demo": "demo"},  # the demo's camera and start pose
        condition="use_sim",
        start_when=("driver=sim",),
    ),
    NodeSpec(
        executable="hardware_bridge",
        module="tcn.nodes.hardware_bridge",
        name="hardware_bridge",
        params_from_args={"driver": "driver"},
        start_when=("driver!=sim",),
        # No respawn: a silently restarted bridge would hide that it died. While it is gone
        # the driver keeps applying the last torque (docs/hardware.md): stop the arm.
    ),
    NodeSpec(
        executable="demo_player",
        module="tcn.nodes.demo_player",
        name="demo_player",
        params_from_args={"demo": "demo"},
        required_args=("demo",),
        respawn=True,
    ),
    NodeSpec(
        executable="tcn_embedding_node",
        module="tcn.nodes.tcn_embedding_node",
        name="tcn_embedding_node",
        params_from_args={"embedding": "model"},
        required_args=("embedding",),
        respawn=True,
        remaps_from_args={"camera_topic": "camera/image_raw"},
    ),
    NodeSpec(
        executable="imitation_agent_node",
        module="tcn.nodes.imitation_agent_node",
        name="imitation_agent_node",
        params_from_args={
            "agent": "agent",
            "agent_mode": "mode",
            "demo": "demo",
            "embedding": "embedding",
        },
        required_args=("demo",),
        start_when=("agent", "agent_mode=learn"),
        # No respawn: a restarted agent would start from scratch mid-episode; the sim's
        # watchdog holds the arm when it is gone.
    ),
)


# --------------------------------------------------------------------------- shared logic
def argument_values(overrides: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """Every launch argument's value: its default unless ``overrides`` gives one."""
    names = {a.name for a in LAUNCH_ARGUMENTS}
    unknown = set(overrides or {}) - names
    if unknown:
        raise ValueError(f"unknown launch arguments {sorted(unknown)}; known: {sorted(names)}")
    values = {a.name: a.default for a in LAUNCH_ARGUMENTS}
    values.update({k: str(v) for k, v in (overrides or {}).items() if v is not None})
    return values


def is_true(value: str) -> bool:
    """Launch's boolean convention: ``true``/``1`` (any case) is true."""
    return value.strip().lower() in ("true", "1")


def _holds(expression: str, values: Mapping[str, str]) -> bool:
    """``arg``: the argument is non-empty; ``arg=value``: it equals ``value``."""
    if "!=" in expression:
        name, value = expression.split("!=", 1)
        return values[name].strip() != value
    name, equals, value = expression.partition("=")
    return values[name].strip() == value if equals else bool(values[name].strip())


def active_nodes(values: Mapping[str, str]) -> list[NodeSpec]:
    """The nodes whose ``condition`` and ``start_when`` hold for these argument values."""
    return [
        n
        for n in NODES
        if (n.condition is None or is_true(values[n.condition]))
        and (not n.start_when or any(_holds(e, values) for e in n.start_when))
    ]


def agent_action(values: Mapping[str, str]) -> tuple[str, str] | None:
    """The action kind of the agent this graph runs and where it comes from: the ``deploy``
    section of ``agent:=``'s config.yaml, or in ``agent_mode:=learn`` without one the default
    agent preset's; None when no agent node starts. ``ValueError`` for an agent run that
    does not say."""
    from tcn.runs import CONFIG, read_config

    if not any(n.name == "imitation_agent_node" for n in active_nodes(values)):
        return None
    agent = values["agent"].strip()
    if not agent:
        from tcn.presets import load

        action = load("agent", "default")["env"]["action"]
        return str(action), "the default agent preset (learn mode)"
    path = Path(agent) / CONFIG
    if not path.is_file():
        raise ValueError(f"agent:={agent} is not an agent run: no {path}")
    config = read_config(Path(agent)) or {}
    stored_env = (config.get("agent") or {}).get("env") or {}
    action = (config.get("deploy") or {}).get("action") or stored_env.get("action")
    if action not in SIM_CONTROL_MODES:
        raise ValueError(
            f"{path} records no action kind the graph can execute ({action!r}; known: "
            f"{sorted(SIM_CONTROL_MODES)})"
        )
    return str(action), str(path)


def derived_parameters(values: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Node name -> parameters the agent contract sets: the simulator's ``control_mode``
    (``control_mode:=`` if given, else the one the agent's action kind needs)."""
    if not is_true(values["use_sim"]) or values["driver"].strip() != "sim":
        return {}
    mode = values["control_mode"].strip()
    if not mode:
        action = agent_action(values)
        mode = SIM_CONTROL_MODES[action[0]] if action else ""
    return {"kuka_sim_node": {"control_mode": mode}} if mode else {}


DRIVER_NAMESPACE = "tcn"
"""The stack's namespace on a real driver when ``namespace:=`` is empty: kuka_drivers and
iiwa_ros2 own ``/joint_states`` and ``/effort_controller/commands``, the stack's own
relative names in the root namespace, so there the bridge would hear its own commands."""


def stack_namespace(values: Mapping[str, str]) -> str:
    """The namespace every node of the graph runs in: ``namespace:=``, or
    :data:`DRIVER_NAMESPACE` with a real driver."""
    namespace = values["namespace"].strip().strip("/")
    if not namespace and values["driver"].strip() != "sim":
        return DRIVER_NAMESPACE
    return namespace


def _driver_collisions(values: Mapping[str, str]) -> list[str]:
    """The driver's topics the stack's own would be, in :func:`stack_namespace`."""
    from tcn.hardware import load_driver_profile, shared_topics

    return shared_topics(load_driver_profile(values["driver"].strip()), stack_namespace(values))


def check_arguments(values: Mapping[str, str]) -> None:
    """Raise ValueError naming the option when an active node lacks a required argument, or
    when ``control_mode:=`` contradicts the agent's commands (saying what to change)."""
    options = {a.name: a.option for a in LAUNCH_ARGUMENTS}
    for node in active_nodes(values):
        for name in node.required_args:
            if not values[name]:
                raise ValueError(
                    f"{node.name} needs launch argument {name!r}: pass {name}:=... to ros2 "
                    f"launch or {options[name]} to tcn launch"
                )
    if values["driver"].strip() != "sim":
        collisions = _driver_collisions(values)
        if collisions:
            raise ValueError(
                f"namespace:={values['namespace']} puts the stack's topics on the driver's "
                f"own {', '.join(collisions)}: the bridge would read its own output as the "
                f"driver's (and on a shared command topic the agent would reach the driver "
                f"unclamped). Pick another namespace (empty = {DRIVER_NAMESPACE})"
            )
        action = agent_action(values)
        if action and action[0] != "torque":
            raise ValueError(
                f"driver:={values['driver']} is bridged for torque commands "
                f"(effort_controller/commands, hardware_bridge); {action[1]} sends "
                f"{action[0]} commands. Train an agent with --env.action torque for a real "
                f"driver, or run it in the simulator (driver:=sim)"
            )
    mode = values["control_mode"].strip()
    if mode and mode not in SIM_CONTROL_MODES.values():
        raise ValueError(
            f"control_mode:={mode}: expected one of {sorted(set(SIM_CONTROL_MODES.values()))}"
        )
    action = agent_action(values) if mode and is_true(values["use_sim"]) else None
    if action and SIM_CONTROL_MODES[action[0]] != mode:
        kind, source = action
        raise ValueError(
            f"control_mode:={mode} cannot execute this agent: {source} sends {kind} commands "
            f"on {COMMAND_TOPICS[kind]}, which the simulator executes in control_mode "
            f"{SIM_CONTROL_MODES[kind]}; drop control_mode:= ({options['control_mode']}) to "
            f"take the agent's, or train an agent with --env.action "
            f"{next(k for k, v in SIM_CONTROL_MODES.items() if v == mode)}"
        )


def node_parameters(node: NodeSpec, values: Mapping[str, str]) -> dict[str, str]:
    """Parameters the launch arguments set on ``node`` (non-empty arguments only), and those
    the agent contract derives (:func:`derived_parameters`)."""
    params = {arg_param: values[arg] for arg, arg_param in node.params_from_args.items()}
    params = {k: v for k, v in params.items() if v}
    return {**params, **derived_parameters(values).get(node.name, {})}


def node_remappings(node: NodeSpec, values: Mapping[str, str]) -> list[tuple[str, str]]:
    """Topic remappings the launch arguments set on ``node`` (non-empty arguments only)."""
    return [(topic, values[arg]) for arg, topic in node.remaps_from_args.items() if values[arg]]


def params_file(values: Mapping[str, str]) -> Path:
    """The parameter file: ``params_file`` if given, else the package's :data:`PARAMS_FILE`."""
    if values.get("params_file"):
        path = Path(values["params_file"])
        if not path.is_file():
            raise FileNotFoundError(f"parameter file {path} not found")
        return path
    from tcn.paths import share_path

    path = share_path(PARAMS_FILE)
    if path is None:
        raise FileNotFoundError(f"{PARAMS_FILE} not found in the tcn share directory")
    return path


def ros_arguments(node: NodeSpec, values: Mapping[str, str], params: Path) -> list[str]:
    """``--ros-args`` for ``node``: name, namespace, parameter file, then overrides."""
    args = ["--ros-args", "-r", f"__node:={node.name}"]
    namespace = stack_namespace(values)
    if namespace:
        args += ["-r", f"__ns:=/{namespace}"]
    for topic, target in node_remappings(node, values):
        args += ["-r", f"{topic}:={target}"]
    args += ["--params-file", str(params)]
    for key, value in node_parameters(node, values).items():
        args += ["-p", f"{key}:={value}"]
    return args


def robot_description(urdf: Path | None = None) -> str:
    """The shipped URDF with relative ``meshes/...`` filenames as ``package://tcn/...`` URIs."""
    if urdf is None:
        from tcn.paths import share_path

        urdf = share_path(URDF_FILE)
        if urdf is None:
            raise FileNotFoundError(f"{URDF_FILE} not found in the tcn share directory")
    text = Path(urdf).read_text()
    return re.sub(
        r'filename="(?!package://|file://|/)([^"]+)"', rf'filename="{MESH_PREFIX}\1"', text
    )


# --------------------------------------------------------------------------- runner
class GraphRunner:
    """Starts the active nodes as child processes, respawns, and stops them.

    ``processes`` maps node name -> its current ``Popen``; ``starts`` counts starts per node.
    """

    def __init__(
        self,
        values: Mapping[str, str],
        nodes: Sequence[NodeSpec] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        check_arguments(values)
        self.values = dict(values)
        self.params = params_file(values)
        self.nodes = list(nodes) if nodes is not None else active_nodes(values)
        self.env = {**os.environ, **(env or {})}
        self.env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.processes: dict[str, subprocess.Popen] = {}
        self.starts: dict[str, int] = {n.name: 0 for n in self.nodes}
        self._due: dict[str, float] = {}  # node name -> monotonic time of its respawn
        self.failed: str | None = None

    def command(self, node: NodeSpec) -> list[str]:
        return [sys.executable, "-m", node.module, *ros_arguments(node, self.values, self.params)]

    def start(self) -> None:
        for node in self.nodes:
            self._spawn(node)

    def _spawn(self, node: NodeSpec) -> None:
        log.info("starting %s: %s", node.name, " ".join(self.command(node)[1:]))
        self.processes[node.name] = subprocess.Popen(self.command(node), env=self.env)
        self.starts[node.name] += 1

    def poll(self) -> bool:
        """Respawn what is due; False once a node without ``respawn`` has exited."""
        now = time.monotonic()
        for node in self.nodes:
            process = self.processes.get(node.name)
            if node.name in self._due:
                if now >= self._due[node.name]:
                    del self._due[node.name]
                    self._spawn(node)
                continue
            if process is None or process.poll() is None:
                continue
            if node.respawn and process.returncode != CONFIG_ERROR:
                log.warning(
                    "%s exited with status %s; respawning in %.1f s",
                    node.name,
                    process.returncode,
                    node.respawn_delay,
                )
                self._due[node.name] = now + node.respawn_delay
            else:
                self.failed = f"{node.name} exited with status {process.returncode}"
                log.error("%s; stopping the graph", self.failed)
                return False
        return True

    def spin(self, duration: float | None = None, period: float = 0.2) -> int:
        """Poll until ``duration`` seconds passed (None: forever) or a node failed."""
        deadline = None if duration is None else time.monotonic() + duration
        while deadline is None or time.monotonic() < deadline:
            if not self.poll():
                return 1
            time.sleep(period)
        return 0

    def stop(self, timeout: float = 5.0) -> None:
        """SIGINT every node (clean rclpy shutdown), then SIGKILL what is left."""
        self._due.clear()
        alive = [p for p in self.processes.values() if p.poll() is None]
        for process in alive:
            process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + timeout
        for process in alive:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> GraphRunner:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
