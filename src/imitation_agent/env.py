"""The imitation environment: the simulated iiwa follows one demonstration per episode.

Each episode takes a demonstration, resets the arm to its first joint positions
and runs for its length. At step ``t`` the agent's frame is rendered with the
demonstration's own stored camera (never a default one), so agent and
demonstration frames always come from the same camera and renderer.

Observation (flat float32, see :class:`ObsLayout`): joint positions (7), joint velocities
(7), optionally ``w_t`` the embedding of the agent's frame, ``v_t`` the demonstration's
embedding at ``t`` and ``v_{t+k}`` (look-ahead), as in the paper; pose features; and
``t / T`` (time index). Pose features are where the arm is and where the demonstration goes
``k`` steps ahead, in joint space, and their difference: by default the measured joints and
the demonstration's *reading* (:mod:`imitation_agent.readers`: its trajectory read from its
frames, or for training demonstrations their recorded joints), else the embedding's own
pose head (:class:`PoseDecoder`) applied to ``w_t`` and ``v_{t+k}``. They hand the policy a
frame in which following the demonstration is a simple feedback law; the reward still
comes from the embeddings alone.

Reward (``reward``):

* ``tcn``: ``R = -alpha * d - beta * sqrt(gamma + d)``, ``d = ||w_t - v_t||^2``
  (Sermanet et al., eq. 2; :func:`tcn_embedding.reward.tcn_reward`);
* ``oracle``: ``-||q_t - q*_t||``, simulator ground truth;
* ``pixels``: ``-mean |frame_t - demo_frame_t| / 255``.

Embedding the agent's frame is the expensive part. With ``embedder=None`` the
env leaves ``w_t`` zero, puts the frame in ``info["frame"]`` and the TCN reward
to be filled in by :class:`imitation_agent.batched_reward.BatchedEmbeddingReward`,
which embeds all environments' frames in one forward pass in the main process.
With an ``embedder`` the env does it itself, one frame at a time (the unbatched
path, kept for comparison).
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from kuka_sim import CameraConfig, ControlMode, KukaSim, SimConfig
from tcn_embedding.reward import RewardConfig, embedding_reward

Embedder = Callable[[np.ndarray], np.ndarray]
"""uint8 frames ``(N, H, W, 3)`` -> embeddings ``(N, D)`` float32."""

RewardKind = Literal["tcn", "oracle", "pixels"]
REWARDS: tuple[str, ...] = typing.get_args(RewardKind)
PoseSource = Literal["reading", "head"]
POSE_SOURCES: tuple[str, ...] = typing.get_args(PoseSource)
POSE_JOINTS = 7
ActionKind = Literal["position_delta", "torque"]
ACTIONS: tuple[str, ...] = typing.get_args(ActionKind)
SUCCESS_THRESHOLD = 0.2  # rad, final joint-space L2 error (ARCHITECTURE.md)


@dataclass
class Demonstration:
    """What the env needs of a demonstration (no frames unless the pixel reward needs them).

    Attributes:
        name: for reports.
        joint_positions: ``(T, 7)`` rad (ground truth; used by the oracle reward and metrics).
        embeddings: ``(T, D)`` embeddings of its frames, computed once and cached.
        camera: the configuration that rendered it; the agent renders with it too.
        sim: the simulator settings it was recorded with (control rate).
        frames: ``(T, H, W, 3)`` uint8, only for the ``pixels`` reward and videos.
        reading: ``(T, 7)`` rad, its joint trajectory as a reader read it
            (:mod:`imitation_agent.readers`), only for ``pose_source="reading"``.
    """

    name: str
    joint_positions: np.ndarray
    embeddings: np.ndarray
    camera: CameraConfig
    sim: SimConfig = field(default_factory=SimConfig)
    frames: np.ndarray | None = None
    reading: np.ndarray | None = None

    def __post_init__(self) -> None:
        if len(self.joint_positions) != len(self.embeddings):
            raise ValueError(
                f"demo {self.name}: {len(self.joint_positions)} joint states but "
                f"{len(self.embeddings)} embeddings"
            )
        if len(self.joint_positions) < 2:
            raise ValueError(f"demo {self.name}: needs at least 2 frames")
        if self.reading is not None and np.shape(self.reading) != np.shape(self.joint_positions):
            raise ValueError(
                f"demo {self.name}: reading {np.shape(self.reading)}, expected "
                f"{np.shape(self.joint_positions)}"
            )

    def __len__(self) -> int:
        return len(self.joint_positions)


@dataclass(frozen=True)
class PoseDecoder:
    """The embedding's linear pose head: embeddings ``(..., D)`` -> joint positions ``(..., J)``.

    Attributes:
        weight: ``(J, D)``.
        bias: ``(J,)``.
    """

    weight: np.ndarray
    bias: np.ndarray

    def __post_init__(self) -> None:
        weight = np.asarray(self.weight, dtype=np.float64)
        bias = np.asarray(self.bias, dtype=np.float64)
        if weight.ndim != 2 or bias.shape != (weight.shape[0],):
            raise ValueError(
                f"pose decoder needs weight (J, D) and bias (J,), got {weight.shape} and "
                f"{bias.shape}"
            )
        object.__setattr__(self, "weight", weight)
        object.__setattr__(self, "bias", bias)

    def __call__(self, embeddings: np.ndarray) -> np.ndarray:
        return np.asarray(embeddings, dtype=np.float64) @ self.weight.T + self.bias


@dataclass(frozen=True)
class EnvConfig:
    """Settings of :class:`ImitationEnv`.

    Attributes:
        reward: ``tcn`` (the paper), ``oracle`` or ``pixels``.
        action: ``position_delta`` (actions in [-1, 1] scale ``max_position_delta`` rad per
            step) or ``torque`` (actions scale ``torque_fraction`` of the iiwa's torque
            limits, on top of gravity compensation; the paper's choice).
        max_position_delta: rad per control step at action 1.
        torque_fraction: fraction of each joint's torque limit at action 1.
        lookahead: also observe the demonstration's embedding ``k`` steps ahead (0: no).
        pose_features: also observe where the arm is and where the demonstration goes
            ``k`` steps ahead, in joint space, and their difference.
        pose_source: where those come from. ``reading``: the arm's measured joints and the
            demonstration's reading (``Demonstration.reading``, from a reader of
            :mod:`imitation_agent.readers`: render-and-compare for held-out demonstrations,
            the recorded joints for training ones). ``head``: the embedding's pose head on
            ``w_t`` and on ``v_{t+k}`` (needs a :class:`PoseDecoder`).
        time_feature: also observe ``t / T``.
        embedding_obs: observe ``w_t``, ``v_t`` (and ``v_{t+k}``) themselves, as the paper
            does. Off, the observation keeps joints, pose features and time only; the reward
            and the pose features still come from the embeddings. With pose features the
            raw embeddings let a policy recognise each training demonstration by its
            ``v_t`` and memorise it instead of learning to follow (docs/agent.md).
        reward_alpha, reward_beta, reward_gamma: the TCN reward's constants.
        random_start: a training episode starts at a random frame of its demonstration, the
            arm at the demonstration's pose there (reference state initialisation, Peng et
            al. 2018, DeepMimic), so the agent sees every stretch of a demonstration from
            on it. The pose is its reading when it has one, else its recorded joints (the
            training demonstrations'). Evaluation episodes start at frame 0.
        cut_distance: rad; a training episode ends once the arm is this far (joint-space
            L2) from that pose at the current frame (0: never). It ends *truncated*, so PPO
            bootstraps its value there and ending is neither reward nor penalty; it only
            stops spending steps where the arm has lost the demonstration and the TCN
            reward no longer says where it went (docs/agent.md). Evaluation episodes run
            to the end.

    Training and evaluation episodes differ by how they are reset: ``reset(options={"demo":
    i})`` (what :func:`imitation_agent.evaluate.evaluate` does) is an evaluation episode.
    """

    reward: RewardKind = "tcn"
    action: ActionKind = "position_delta"
    max_position_delta: float = 0.1
    torque_fraction: float = 0.25
    lookahead: int = 1
    pose_features: bool = True
    pose_source: PoseSource = "reading"
    time_feature: bool = True
    embedding_obs: bool = False
    reward_alpha: float = RewardConfig.alpha
    reward_beta: float = RewardConfig.beta
    reward_gamma: float = RewardConfig.gamma
    random_start: bool = True
    cut_distance: float = 0.5

    def __post_init__(self) -> None:
        if self.reward not in REWARDS:
            raise ValueError(f"reward must be one of {REWARDS}, got {self.reward!r}")
        if self.action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}, got {self.action!r}")
        if self.pose_source not in POSE_SOURCES:
            raise ValueError(
                f"pose_source must be one of {POSE_SOURCES}, got {self.pose_source!r}"
            )
        if self.lookahead < 0:
            raise ValueError(f"lookahead must be >= 0, got {self.lookahead}")
        if not 0 < self.torque_fraction <= 1:
            raise ValueError(f"torque_fraction must be in (0, 1], got {self.torque_fraction}")
        if self.max_position_delta <= 0:
            raise ValueError(f"max_position_delta must be > 0, got {self.max_position_delta}")
        if not (np.isfinite(self.cut_distance) and self.cut_distance >= 0):
            raise ValueError(f"cut_distance must be >= 0, got {self.cut_distance!r}")

    @property
    def control_mode(self) -> ControlMode:
        """The simulator mode the actions drive."""
        if self.action == "position_delta":
            return ControlMode.POSITION_DELTA
        return ControlMode.TORQUE

    @property
    def pose_from_head(self) -> bool:
        """Whether the observation's pose features come from a :class:`PoseDecoder`."""
        return self.pose_features and self.pose_source == "head"

    @property
    def pose_from_reading(self) -> bool:
        """Whether the observation's pose features come from ``Demonstration.reading``."""
        return self.pose_features and self.pose_source == "reading"

    @property
    def reward_config(self) -> RewardConfig:
        return RewardConfig(self.reward_alpha, self.reward_beta, self.reward_gamma)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnvConfig:
        return dataclass_from_dict(cls, data, "env config fields")


def dataclass_from_dict(cls: Any, data: Mapping[str, Any], what: str) -> Any:
    """``cls(**data)`` for a dataclass ``cls``, a field that is itself a dataclass (a
    section) built from its mapping the same way and tuple fields from lists; keys it lacks
    raise ``ValueError`` naming them (as ``what``, dotted within sections) and the known
    ones."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; known: {sorted(known)}")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in data.items():
        kind = hints[name]
        if is_dataclass(kind) and isinstance(value, Mapping):
            value = dataclass_from_dict(kind, value, f"{what} in {name}:")
        elif isinstance(value, list) and typing.get_origin(kind) is tuple:
            value = tuple(value)
        values[name] = value
    return cls(**values)


def dataclass_to_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as plain YAML-ready data: sections as mappings, tuples as lists."""

    def plain(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        return value

    return plain(asdict(config))


@dataclass(frozen=True)
class ObsLayout:
    """Where each part lies in the flat observation vector."""

    embedding_dim: int
    lookahead: bool
    time_feature: bool
    pose: bool = False

    @property
    def q(self) -> slice:
        return slice(0, 7)

    @property
    def qd(self) -> slice:
        return slice(7, 14)

    @property
    def w(self) -> slice:
        return slice(14, 14 + self.embedding_dim)

    @property
    def v(self) -> slice:
        return slice(self.w.stop, self.w.stop + self.embedding_dim)

    @property
    def ahead(self) -> slice:
        return slice(self.v.stop, self.v.stop + (self.embedding_dim if self.lookahead else 0))

    @property
    def pose_w(self) -> slice:
        """The pose head's joint positions for ``w_t``."""
        return slice(self.ahead.stop, self.ahead.stop + (POSE_JOINTS if self.pose else 0))

    @property
    def pose_target(self) -> slice:
        """The pose head's joint positions for the demonstration's ``v_{t+k}``."""
        return slice(self.pose_w.stop, self.pose_w.stop + (POSE_JOINTS if self.pose else 0))

    @property
    def pose_error(self) -> slice:
        """``pose_target - pose_w``: how far, joint by joint, the demonstration goes from here.

        Redundant (a difference of two observed parts) but it is the quantity a tracking
        policy acts on (docs/agent.md, "Learning to follow", measures PPO with and without
        it)."""
        return slice(
            self.pose_target.stop, self.pose_target.stop + (POSE_JOINTS if self.pose else 0)
        )

    @property
    def size(self) -> int:
        return self.pose_error.stop + int(self.time_feature)


def observation_layout(embedding_dim: int, config: EnvConfig) -> ObsLayout:
    """The observation layout for ``embedding_dim``-d embeddings under ``config`` (the env,
    the batched wrapper and the ROS agent node all use this one)."""
    observed = embedding_dim if config.embedding_obs else 0
    return ObsLayout(
        observed,
        config.lookahead > 0 and observed > 0,
        config.time_feature,
        config.pose_features,
    )


def set_own_embedding(
    obs: np.ndarray, layout: ObsLayout, w: np.ndarray, decoder: PoseDecoder | None
) -> None:
    """Write the agent's embedding ``w`` (and, with a ``decoder``, its pose reading) into
    observation(s) ``obs`` (``(size,)`` or ``(N, size)`` with ``w`` ``(D,)`` or ``(N, D)``),
    in place."""
    if layout.embedding_dim:
        obs[..., layout.w] = w
    if layout.pose and decoder is not None:
        set_own_pose(obs, layout, decoder(w))


def set_own_pose(obs: np.ndarray, layout: ObsLayout, pose: np.ndarray) -> None:
    """Write the agent's pose reading (and the pose error to the target) into ``obs``."""
    obs[..., layout.pose_w] = pose
    obs[..., layout.pose_error] = obs[..., layout.pose_target] - pose


def build_observation(
    layout: ObsLayout,
    lookahead: int,
    q: np.ndarray,
    qd: np.ndarray,
    w: np.ndarray | None,
    demo_embeddings: np.ndarray,
    t: int,
    decoder: PoseDecoder | None = None,
    demo_joints: np.ndarray | None = None,
) -> np.ndarray:
    """The flat observation ``(layout.size,)`` float32 at step ``t`` of a demonstration with
    embeddings ``demo_embeddings (T, D)``; ``w`` None leaves ``w_t`` (and its pose) zero for
    :class:`~imitation_agent.batched_reward.BatchedEmbeddingReward` to fill. Pose features
    come from ``decoder``, or with ``demo_joints (T, 7)`` (the demonstration's reading)
    from ``q`` and those joints."""
    last = len(demo_embeddings) - 1
    obs = np.zeros(layout.size, dtype=np.float32)
    obs[layout.q] = q
    obs[layout.qd] = qd
    if layout.embedding_dim:
        obs[layout.v] = demo_embeddings[t]
    target = demo_embeddings[min(t + lookahead, last)]
    if layout.lookahead:
        obs[layout.ahead] = target
    if layout.pose and demo_joints is not None:
        obs[layout.pose_target] = demo_joints[min(t + lookahead, last)]
        set_own_pose(obs, layout, q)
    elif layout.pose:
        assert decoder is not None  # ImitationEnv and the node check this up front
        obs[layout.pose_target] = decoder(target)
    if w is not None:
        # With a reading the agent's own pose is its measured joints, never the head's guess.
        set_own_embedding(obs, layout, w, None if demo_joints is not None else decoder)
    if layout.time_feature:
        obs[-1] = t / last
    return obs


class ImitationEnv(gym.Env):
    """Gymnasium env: imitate one of ``demos`` per episode (see the module docstring).

    ``reset(options={"demo": i})`` picks demonstration ``i``; otherwise one is drawn
    at random from the env's generator (seeded by ``reset(seed=...)``).
    """

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(
        self,
        demos: Sequence[Demonstration],
        config: EnvConfig | None = None,
        embedder: Embedder | None = None,
        pose_decoder: PoseDecoder | None = None,
    ) -> None:
        if not demos:
            raise ValueError("ImitationEnv needs at least one demonstration")
        self.demos = list(demos)
        self.config = config or EnvConfig()
        self.embedder = embedder
        self.pose_decoder = pose_decoder
        if self.config.pose_from_head:
            check_pose_decoder(pose_decoder, self.demos[0].embeddings.shape[1])
        elif pose_decoder is not None:
            raise ValueError("a pose decoder is only used with pose_source 'head'")
        dims = {d.embeddings.shape[1] for d in self.demos}
        if len(dims) != 1:
            raise ValueError(f"demonstrations have different embedding sizes {sorted(dims)}")
        rates = {d.sim.control_rate for d in self.demos}
        if len(rates) != 1:
            raise ValueError(f"demonstrations have different control rates {sorted(rates)}")
        if self.config.pose_from_reading:
            missing = [d.name for d in self.demos if d.reading is None]
            if missing:
                raise ValueError(
                    f"pose_source 'reading' needs each demonstration's reading "
                    f"(imitation_agent.readers); {len(missing)} lack one "
                    f"({', '.join(missing[:3])}...)"
                )
        if self.config.reward == "pixels" and any(d.frames is None for d in self.demos):
            raise ValueError("the pixels reward needs the demonstrations' frames")
        self.layout = self.layout_for(self.demos, self.config)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (self.layout.size,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (7,), np.float32)
        base = self.demos[0].sim
        self.sim = KukaSim(
            SimConfig.from_dict(
                {
                    **base.to_dict(),
                    "control_mode": self.config.control_mode.value,
                    "max_position_delta": self.config.max_position_delta,
                }
            )
        )
        self.demo = self.demos[0]
        self.demo_index = 0
        self.t = 0
        self.training = True

    @staticmethod
    def layout_for(demos: Sequence[Demonstration], config: EnvConfig) -> ObsLayout:
        """The observation layout an env of ``demos`` with ``config`` produces."""
        return observation_layout(demos[0].embeddings.shape[1], config)

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.training = not (options and "demo" in options)
        if self.training:
            self.demo_index = int(self.np_random.integers(len(self.demos)))
        else:
            self.demo_index = int(options["demo"])
        self.demo = self.demos[self.demo_index]
        self.t = 0
        if self.training and self.config.random_start:
            self.t = int(self.np_random.integers(len(self.demo) - 1))
            self.sim.reset(self.reference_pose(self.t))
        else:
            self.sim.reset(self.demo.joint_positions[0])
        return self._observe(reward=False)[0::2]

    def step(self, action: np.ndarray):
        apply_action(self.sim, self.config, action)
        self.t += 1
        obs, reward, info = self._observe(reward=True)
        truncated = self.t >= len(self.demo) - 1
        if self.training and self.config.cut_distance > 0:
            lost = np.linalg.norm(obs[self.layout.q] - self.reference_pose(self.t))
            truncated = truncated or bool(lost > self.config.cut_distance)
        return obs, reward, False, truncated, info

    def reference_pose(self, t: int) -> np.ndarray:
        """The demonstration's pose at frame ``t`` as the agent knows it: its reading, else
        its recorded joints (:attr:`EnvConfig.random_start`)."""
        demo = self.demo
        return (demo.reading if demo.reading is not None else demo.joint_positions)[t]

    def render(self) -> np.ndarray:
        return self.sim.render(self.demo.camera)

    def close(self) -> None:
        self.sim.close()

    # ------------------------------------------------------------------ internals
    def _observe(self, reward: bool) -> tuple[np.ndarray, float, dict[str, Any]]:
        demo, t, layout = self.demo, self.t, self.layout
        q, qd = self.sim.joint_state()
        frame = self.sim.render(demo.camera)
        w = None if self.embedder is None else self.embedder(frame[None])[0]
        obs = build_observation(
            layout,
            self.config.lookahead,
            q,
            qd,
            w,
            demo.embeddings,
            t,
            self.pose_decoder,
            demo.reading if self.config.pose_from_reading else None,
        )
        joint_error = float(np.linalg.norm(q - demo.joint_positions[t]))
        info: dict[str, Any] = {
            "t": t,
            "demo": self.demo_index,
            "joint_error": joint_error,
            "demo_embedding": demo.embeddings[t],
        }
        value = 0.0
        if w is None:
            info["frame"] = frame  # BatchedEmbeddingReward fills w_t (and the TCN reward)
        if reward:
            if self.config.reward == "oracle":
                value = -joint_error
            elif self.config.reward == "pixels":
                diff = frame.astype(np.float32) - demo.frames[t].astype(np.float32)
                value = -float(np.abs(diff).mean() / 255.0)
            elif w is not None:
                value = float(
                    embedding_reward(
                        np.asarray(w, dtype=np.float32).astype(np.float64),
                        demo.embeddings[t].astype(np.float64),
                        self.config.reward_config,
                    )
                )
        return obs, value, info


def apply_action(sim: KukaSim, config: EnvConfig, action: np.ndarray) -> None:
    """One control step of ``sim`` (in ``config.control_mode``) for a policy action in
    [-1, 1]^7: ``max_position_delta`` rad, or ``torque_fraction`` of the torque limits on top
    of gravity compensation, at 1. Non-finite or misshapen actions raise ``ValueError``."""
    action = np.asarray(action, dtype=np.float64)
    if action.shape != (7,) or not np.all(np.isfinite(action)):
        raise ValueError(f"action: expected 7 finite values in [-1, 1], got {action!r}")
    action = np.clip(action, -1.0, 1.0)
    if config.action == "position_delta":
        sim.step(action * config.max_position_delta)
    else:
        sim.step(action * sim.max_torques * config.torque_fraction)


def check_pose_decoder(decoder: PoseDecoder | None, embedding_dim: int) -> PoseDecoder:
    """``decoder`` if it maps ``embedding_dim``-d embeddings to the arm's joints, else a
    ``ValueError`` saying what is wrong."""
    if decoder is None:
        raise ValueError(
            "pose_features needs the embedding's pose head; train the embedding with "
            "self-regression (tcn train-embedding --objectives.self-regression WEIGHT)"
        )
    if decoder.weight.shape != (POSE_JOINTS, embedding_dim):
        raise ValueError(
            f"pose decoder maps {decoder.weight.shape[1]}-d embeddings to "
            f"{decoder.weight.shape[0]} joints; expected {embedding_dim}-d to {POSE_JOINTS}"
        )
    return decoder
