"""``imitation_agent_node``: the PPO agent on the live graph, deployed or learning online.

Usage::

    imitation_agent_node --ros-args -p agent:=runs/agent_cpu -p demo:=data/demos/episode_0000
    imitation_agent_node --ros-args -p mode:=learn -p embedding:=runs/tcn_cpu \\
        -p demo:=data/demos/episode_0000 -p learn_out:=runs/agent_online -p learn_steps:=2048

Topics (relative names):

* subscribes ``joint_states`` (matched by name with ``joint_names``; a message lacking one
  of them is skipped with a throttled warning), ``tcn/embedding`` (``w_t``),
  ``tcn/demo_embedding`` (checked against the demo's own embeddings' size),
  ``tcn/reward`` (learn mode), and the demonstration's time index ``t`` from either
  ``demo/frame_index`` (std_msgs/Int32, demo_player) or ``demo/image_raw``'s header stamps
  matched to the demo bag's frames (``ros2 bag play`` keeps a bag's stamps, so a played bag
  drives the agent; ``demo_image_topic`` names the image topic inside a bag recorded
  elsewhere);
* publishes, every ``1/control_rate`` s, either ``effort_controller/commands``
  (torque agents: ``clip(a, -1, 1) * max_torques * torque_fraction`` Nm, the env's scaling)
  or ``position_controller/commands`` (position-delta agents: absolute targets
  ``target += clip(a, -1, 1) * max_position_delta``, starting from the measured joints,
  as KukaSim's ``position_delta`` mode accumulates them), 7 values in ``joint_names`` order.

Observation, exactly as :class:`imitation_agent.ImitationEnv` builds it (``ObsLayout``):
``q``, ``qd``, ``w_t`` (latest ``tcn/embedding``), ``v_t`` = the demo's embedding at
``t`` = the latest ``demo/frame_index``, ``v_{t+k}``, the pose features (the demo's reading
at ``t + k`` and the measured joints, or the pose head's readings of ``v_{t+k}`` and ``w_t``)
and ``t / (T - 1)`` when the agent's config asks for them. The demo's embeddings are
computed once at start from the ``demo`` bag with the agent's TCN (``embedding``, default:
the agent run's); an agent that observes a reading gets the demo read at start by
``reader`` (default render-compare, cached as by ``tcn read-demos``).

Modes: ``deploy`` loads ``agent`` (``checkpoints/last.zip`` + ``last_norm.npz``) and acts
deterministically. ``learn`` runs ``PPO.learn`` for ``learn_steps`` in a background thread
on :class:`tcn.ros_agent_env.RosAgentEnv` (reward = the latest ``tcn/reward``), starting
from ``agent`` when given, else from a fresh policy (AgentConfig defaults with
``learn_n_steps`` per update); checkpoints go to ``learn_out`` in train-agent's layout
after every update, atomically.

Safety: actions are clipped to [-1, 1]; a tick without joint states, an embedding or a
frame index publishes nothing; a non-finite observation publishes nothing (throttled
warning); on shutdown the node publishes zero torques or holds the current target.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import torch
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float32, Float32MultiArray, Float64MultiArray, Int32

from imitation_agent.env import (
    ObsLayout,
    PoseDecoder,
    build_observation,
    check_pose_decoder,
    observation_layout,
)
from imitation_agent.train import AgentConfig, PPOSettings
from kuka_sim import SimConfig, joint_limits
from tcn.bags import frame_at_stamp, frame_period_ns
from tcn.graph import COMMAND_TOPICS
from tcn.hardware import reorder
from tcn.nodes.ros_env import DEFAULT_JOINT_NAMES, declare, deliver, run_node, stamp_ns

LOG_PERIOD_S = 2.0
MODES = ("deploy", "learn")


def observation(
    layout: ObsLayout,
    lookahead: int,
    q: np.ndarray,
    qd: np.ndarray,
    w: np.ndarray,
    demo_embeddings: np.ndarray,
    t: int,
    decoder: PoseDecoder | None = None,
    demo_reading: np.ndarray | None = None,
) -> np.ndarray:
    """The flat observation ``(layout.size,)`` float32 of ``ImitationEnv._observe`` at step t
    (:func:`imitation_agent.env.build_observation`), ``t`` clamped to ``[0, T-1]``;
    ``demo_reading`` ``(T, 7)``: the demonstration's reading, for agents that observe one."""
    t = min(max(int(t), 0), len(demo_embeddings) - 1)
    return build_observation(
        layout, lookahead, q, qd, w, demo_embeddings, t, decoder, demo_reading
    )


def command(
    action: np.ndarray,
    config: AgentConfig,
    max_torques: np.ndarray,
    target: np.ndarray | None,
    q: np.ndarray,
    limits: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(command (7,), new target)`` for an action, scaled as ImitationEnv.step does.

    Torque: Nm ``clip(a) * max_torques * torque_fraction`` (target stays None). Position
    delta: the absolute target ``target + clip(a) * max_position_delta``, ``target``
    starting at the measured ``q`` when None, clipped to the joint ``limits`` ``(lower,
    upper)`` as KukaSim clips it (so the target never winds up beyond a limit).
    """
    a = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
    if config.env.action == "torque":
        return a * np.asarray(max_torques) * config.env.torque_fraction, None
    base = np.asarray(q, dtype=np.float64) if target is None else target
    new_target = base + a * config.env.max_position_delta
    if limits is not None:
        new_target = np.clip(new_target, limits[0], limits[1])
    return new_target.copy(), new_target


class ImitationAgentNode(Node):
    """Assembles observations from the topics and commands the arm (module docstring).

    Counters and state for tests: ``commands`` (published), ``skipped`` (ticks without a
    complete or finite observation), ``missing_joints`` (joint_states lacking a name),
    ``last_observation``, ``last_command``, ``learner_error``.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("imitation_agent_node", **kwargs)
        self.joint_names = list(
            declare(self, "joint_names", DEFAULT_JOINT_NAMES, "joints commanded, in order")
        )
        self.control_rate = float(declare(self, "control_rate", 20.0, "commands per second"))
        self.mode = declare(self, "mode", "deploy", "deploy (run agent) | learn (online PPO)")
        agent = declare(self, "agent", "", "agent run directory (`tcn train-agent`)")
        demo = declare(self, "demo", "", "demonstration bag being imitated (required)")
        embedding = declare(
            self, "embedding", "", "TCN run or checkpoint for the demo; empty = the agent run's"
        )
        learn_out = declare(self, "learn_out", "", "learn mode: run directory for checkpoints")
        learn_steps = int(declare(self, "learn_steps", 2048, "learn mode: PPO timesteps"))
        learn_n_steps = int(
            declare(self, "learn_n_steps", 64, "learn mode without agent: steps per update")
        )
        threads = int(declare(self, "threads", 1, "torch CPU threads (0 = torch's default)"))
        self.demo_image_topic = declare(
            self,
            "demo_image_topic",
            "",
            "image topic inside the demo bag ('' = this stack's camera/image_raw), for bags "
            "recorded elsewhere",
        )
        reader = declare(
            self,
            "reader",
            "render-compare",
            "how the demo is read for agents that observe a reading (tcn read-demos readers)",
        )

        if len(self.joint_names) != 7:
            raise ValueError(f"joint_names: expected 7 names, got {self.joint_names}")
        if self.control_rate <= 0:
            raise ValueError(f"control_rate must be positive (Hz), got {self.control_rate}")
        if self.mode not in MODES:
            raise ValueError(f"mode: expected one of {MODES}, got {self.mode!r}")
        if not demo:
            raise ValueError(
                "parameter 'demo' is required: the demonstration bag being imitated, e.g. "
                "--ros-args -p demo:=data/demos/episode_0000"
            )
        if self.mode == "deploy" and not agent:
            raise ValueError(
                "mode deploy needs parameter 'agent': an agent run directory "
                "(`tcn train-agent` makes them), or use mode:=learn"
            )
        if self.mode == "learn" and (not learn_out or learn_steps < 1):
            raise ValueError(
                f"mode learn needs 'learn_out' (a run directory) and learn_steps >= 1, got "
                f"{learn_out!r}, {learn_steps}"
            )
        if threads > 0:
            torch.set_num_threads(threads)

        from tcn.runs import read_config

        saved = read_config(Path(agent)) if agent else {}
        if agent:
            self.config = AgentConfig.from_dict(saved["agent"])
        else:
            self.config = AgentConfig(
                ppo=PPOSettings(n_envs=1, n_steps=learn_n_steps, batch_size=learn_n_steps),
                vec_env="dummy",
            )
        self.embedding_path = embedding or saved.get("embedding", "")
        if not self.embedding_path:
            raise ValueError("parameter 'embedding' is required without an agent run")
        self.demo_path = demo
        self.demo_embeddings, sim, self.pose_decoder, self.demo_stamps = self._embed_demo(
            demo, self.embedding_path, self.demo_image_topic or None
        )
        self.demo_period = frame_period_ns(self.demo_stamps)
        self.max_torques = np.asarray(sim.max_torques, dtype=np.float64)
        self.limits = joint_limits(sim) if self.config.env.action == "position_delta" else None
        self.embedding_dim = self.demo_embeddings.shape[1]
        self.layout = observation_layout(self.embedding_dim, self.config.env_config())
        self.demo_reading = None
        if self.config.env_config().pose_from_reading:
            settings = (
                saved.get("reader_settings")
                if reader == self.config.observation.train_reader
                else None
            )
            self.demo_reading = self._read_demo(demo, self.embedding_path, reader, settings)
        if self.config.env_config().pose_from_head:
            check_pose_decoder(self.pose_decoder, self.embedding_dim)

        self.commands = 0
        self.skipped = 0
        self.missing_joints = 0
        self.last_observation: np.ndarray | None = None
        self.last_command: np.ndarray | None = None
        self.learner_error: BaseException | None = None
        self._q: np.ndarray | None = None
        self._qd: np.ndarray | None = None
        self._w: np.ndarray | None = None
        self._t: int | None = None
        self.unmatched_stamps = 0  # demo/image_raw stamps that are no frame of the demo bag
        self._reward: float | None = None
        self._target: np.ndarray | None = None
        self._lock = threading.Lock()  # commands come from the timer or the learner thread
        self._closed = False

        self.topic = COMMAND_TOPICS[self.config.env.action]
        self.command_pub = self.create_publisher(Float64MultiArray, self.topic, 10)
        self.create_subscription(JointState, "joint_states", self._on_joints, 10)
        self.create_subscription(Float32MultiArray, "tcn/embedding", self._on_embedding, 10)
        self.create_subscription(
            Float32MultiArray, "tcn/demo_embedding", self._on_demo_embedding, 10
        )
        self.create_subscription(Float32, "tcn/reward", self._on_reward, 10)
        self.create_subscription(Int32, "demo/frame_index", self._on_frame_index, 10)
        self.create_subscription(
            Image, "demo/image_raw", self._on_demo_image, qos_profile_sensor_data
        )

        self.policy = None
        self.env = None
        self._learner: threading.Thread | None = None
        if self.mode == "deploy":
            self.policy = self._load_policy(Path(agent))
        else:
            self._start_learner(Path(agent) if agent else None, Path(learn_out), learn_steps)
        self.create_timer(1.0 / self.control_rate, self._tick)
        self.get_logger().info(
            f"{self.mode} {self.config.env.action} agent {agent or '(fresh)'} at "
            f"{self.control_rate} Hz on {self.topic}; demo {demo} ({len(self.demo_embeddings)}"
            f" frames, {self.layout.size}-d observation)"
        )

    # ------------------------------------------------------------------ setup
    @staticmethod
    def _embed_demo(
        demo: str, embedding: str, image_topic: str | None
    ) -> tuple[np.ndarray, SimConfig, PoseDecoder | None, np.ndarray]:
        """The demo's embeddings, its simulator settings, the embedding's pose head and each
        frame's header stamp (ns)."""
        from tcn.bags import frame_stamps_ns, read_episode
        from tcn.demonstrations import pose_decoder_of
        from tcn.embedding_run import load_embedding_model

        episode = read_episode(Path(demo), image_topics=image_topic, joint_topic=None)
        model = load_embedding_model(embedding)
        embeddings = model.embed(episode.frames[0]).numpy()
        if len(embeddings) < 2:
            raise ValueError(f"demo {demo}: needs at least 2 frames, has {len(embeddings)}")
        sim = SimConfig.from_dict(episode.info["sim"]) if "sim" in episode.info else SimConfig()
        return embeddings, sim, pose_decoder_of(model), frame_stamps_ns(episode)

    def _read_demo(
        self, demo: str, embedding: str, reader: str, settings: dict | None
    ) -> np.ndarray:
        """The demo's joint trajectory as ``reader`` reads it with ``settings`` (cached as by
        tcn read-demos; read now, progress in the log, when the cache lacks it)."""
        from tcn.demonstrations import load_demonstrations
        from tcn.embedding_run import load_embedding_model
        from tcn.reading import read_demonstrations, reading_report
        from tcn.runs import resolve_checkpoint

        checkpoint = resolve_checkpoint(embedding)
        model = load_embedding_model(checkpoint)
        demos = load_demonstrations(Path(demo), None, model, keep_frames=reader != "recorded")
        self.get_logger().info(f"reading {demo} ({reader}; cached after the first time)")
        read = read_demonstrations(demos, reader, model, checkpoint, settings=settings)
        errors = reading_report(read)["per_demo"][read[0].name]
        self.get_logger().info(
            f"read {demo}: final pose {errors['final_error']:.3f} rad from its recorded joints"
        )
        return read[0].reading

    def _load_policy(self, agent: Path):
        from tcn.agent_store import load_policy

        return load_policy(agent, self.config)

    def _start_learner(self, agent: Path | None, out: Path, steps: int) -> None:
        from stable_baselines3.common.callbacks import BaseCallback
        from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

        from imitation_agent.train import normalize
        from tcn.agent_store import build_ppo, save_agent_checkpoint
        from tcn.ros_agent_env import RosAgentEnv
        from tcn.runs import write_config

        config = self.config
        self.env = RosAgentEnv(self.layout.size, len(self.demo_embeddings) - 1, self._send)
        venv = normalize(VecMonitor(DummyVecEnv([lambda: self.env])), config)
        model = build_ppo(venv, config, self.layout, agent, device="cpu")
        write_config(
            out,
            {
                "kind": "agent",
                "embedding": str(self.embedding_path),
                "data": str(self.demo_path),
                "agent": config.to_dict(),
                "online": True,
            },
        )
        ckpts = out / "checkpoints"
        env = self.env

        class Stop(BaseCallback):
            def _on_step(self) -> bool:
                return not env.stopped.is_set()

            def _on_rollout_end(self) -> None:
                save_agent_checkpoint(self.model, venv, ckpts, self.model.num_timesteps)

        def learn() -> None:
            try:
                model.learn(steps, callback=Stop(), reset_num_timesteps=True)
            except BaseException as exc:  # reported on the node; the thread must not die mute
                self.learner_error = exc
                self.get_logger().error(f"online PPO failed: {exc!r}")
            finally:
                save_agent_checkpoint(model, venv, ckpts, model.num_timesteps)
                self.get_logger().info(f"online PPO: {model.num_timesteps} steps in {out}")

        self._learner = threading.Thread(target=learn, name="ppo-learn", daemon=True)
        self._learner.start()

    # ------------------------------------------------------------------ callbacks
    def _on_joints(self, msg: JointState) -> None:
        q = reorder(msg.name, msg.position, self.joint_names)
        qd = reorder(msg.name, msg.velocity, self.joint_names)
        if q is None or qd is None:
            missing = [n for n in self.joint_names if n not in msg.name]
            self.missing_joints += 1
            self._q = self._qd = None
            self.get_logger().warning(
                f"joint_states lacks {missing or 'velocities'} (has {list(msg.name)}): "
                f"no command until they arrive ({self.missing_joints} such messages)",
                throttle_duration_sec=LOG_PERIOD_S,
            )
            return
        self._q, self._qd = q, qd

    def _on_embedding(self, msg: Float32MultiArray) -> None:
        w = np.asarray(msg.data, dtype=np.float32)
        if w.shape != (self.embedding_dim,):
            self.get_logger().warning(
                f"tcn/embedding has {w.size} values, the agent's TCN {self.embedding_dim}"
                ": is tcn_embedding_node running the agent's embedding model?",
                throttle_duration_sec=LOG_PERIOD_S,
            )
            return
        self._w = w

    def _on_demo_embedding(self, msg: Float32MultiArray) -> None:
        if len(msg.data) != self.embedding_dim:
            self.get_logger().warning(
                f"tcn/demo_embedding has {len(msg.data)} values, the agent's TCN "
                f"{self.embedding_dim}",
                throttle_duration_sec=LOG_PERIOD_S,
            )

    def _on_reward(self, msg: Float32) -> None:
        self._reward = float(msg.data)

    def _on_frame_index(self, msg: Int32) -> None:
        self._t = int(msg.data)

    def _on_demo_image(self, msg: Image) -> None:
        """A frame of the demo bag played by ``ros2 bag play`` (original header stamps): its
        stamp says which frame it is. Frames stamped otherwise (demo_player stamps with the
        clock and publishes demo/frame_index instead) are counted and ignored."""
        index = frame_at_stamp(
            self.demo_stamps, stamp_ns(msg.header.stamp), period=self.demo_period
        )
        if index is None:
            self.unmatched_stamps += 1
            return
        self._t = index

    # ------------------------------------------------------------------ control
    def current_observation(self) -> np.ndarray | None:
        """The observation of this tick, or None while a part is missing."""
        q, qd, w, t = self._q, self._qd, self._w, self._t
        if q is None or qd is None or w is None or t is None:
            return None
        return observation(
            self.layout,
            self.config.observation.lookahead,
            q,
            qd,
            w,
            self.demo_embeddings,
            t,
            self.pose_decoder,
            self.demo_reading,
        )

    def _tick(self) -> None:
        obs = self.current_observation()
        if obs is None or (self.mode == "learn" and self._reward is None):
            self.skipped += 1
            self.get_logger().info(
                "waiting for joint_states, tcn/embedding, demo/frame_index"
                + (", tcn/reward" if self.mode == "learn" else ""),
                throttle_duration_sec=LOG_PERIOD_S,
            )
            return
        if not np.all(np.isfinite(obs)):
            self.skipped += 1
            self.get_logger().warning(
                "non-finite observation: no command this tick", throttle_duration_sec=LOG_PERIOD_S
            )
            return
        self.last_observation = obs
        if self.mode == "learn":
            self.env.offer(obs, self._reward)  # the learner thread answers with _send
            return
        self._send(self.policy(obs))

    def _send(self, action: np.ndarray) -> None:
        with self._lock:
            if self._closed or self._q is None:
                return
            values, self._target = command(
                action, self.config, self.max_torques, self._target, self._q, self.limits
            )
            self._publish(values)

    def _publish(self, values: np.ndarray) -> None:
        self.command_pub.publish(Float64MultiArray(data=[float(v) for v in values]))
        self.last_command = values
        self.commands += 1

    def destroy_node(self) -> None:
        """Stop the learner (saving its checkpoint), then leave the arm safe: zero / hold."""
        if self.env is not None:
            self.env.stop()
        if self._learner is not None:
            self._learner.join(timeout=30.0)
        with self._lock:
            self._closed = True
            if not self.context.ok():
                self.get_logger().warning("context already shut down: no final safe command")
            elif self.config.env.action == "torque":
                self._publish(np.zeros(7))
            elif self._target is not None or self._q is not None:
                self._publish(self._target if self._target is not None else self._q)
        if self.context.ok():
            deliver(self.command_pub)  # the safe command must not die with the publisher
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(ImitationAgentNode, "imitation_agent_node", args)


if __name__ == "__main__":
    raise SystemExit(main())
