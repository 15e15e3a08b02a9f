"""PPO on the imitation env: configuration and the vector-env stack (pure: sb3 + gymnasium).

The stack, innermost first::

    SubprocVecEnv / DummyVecEnv of ImitationEnv   simulate and render only
    BatchedEmbeddingReward                         one forward pass per step: w_t, TCN reward
    VecMonitor                                     episode returns and lengths (rollout/ep_*)
    VecNormalize                                   observation and reward normalisation

``batched_reward=False`` gives every env its own embedder instead (the unbatched
path, for comparison; only sensible with ``vec_env="dummy"``).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from stable_baselines3.common.vec_env import (
    DummyVecEnv,
    SubprocVecEnv,
    VecEnv,
    VecMonitor,
    VecNormalize,
)

from imitation_agent.batched_reward import BatchedEmbeddingReward
from imitation_agent.env import (
    ActionKind,
    Demonstration,
    Embedder,
    EnvConfig,
    ImitationEnv,
    ObsLayout,
    PoseDecoder,
    PoseSource,
    RewardKind,
    dataclass_from_dict,
    dataclass_to_dict,
)
from imitation_agent.readers import READERS, ReaderName

ActorKind = Literal["jointwise", "mlp"]
POLICIES: tuple[str, ...] = typing.get_args(ActorKind)


@dataclass
class EnvSettings:
    """The arm and its training episodes (:class:`EnvConfig`'s fields of the same names)."""

    action: ActionKind = "position_delta"
    max_position_delta: float = 0.1
    torque_fraction: float = 0.25
    random_start: bool = True
    cut_distance: float = 0.5


@dataclass
class ObservationSettings:
    """What the policy observes (:class:`EnvConfig`'s fields of the same names)."""

    lookahead: int = 1
    pose_features: bool = True
    pose_source: PoseSource = "reading"
    time_feature: bool = True
    embedding_obs: bool = False
    train_reader: ReaderName = "recorded"
    """How the training demonstrations are read when ``pose_source`` is ``reading``
    (:data:`imitation_agent.readers.READERS`): ``recorded`` (their recorded joints, the
    headline's choice) or a reader that sees only their frames, as held-out ones are."""


@dataclass
class RewardSettings:
    """The reward PPO maximises."""

    kind: RewardKind = "tcn"
    """``tcn``: ``-alpha * d - beta * sqrt(gamma + d)`` on the embedding distance ``d``
    between the agent's frame and the demonstration's (the paper's); ``oracle``: the same on
    the joint-space distance (simulator ground truth); ``pixels``: on raw pixels."""
    alpha: float = 1.0
    """The TCN reward's weight on ``d``."""
    beta: float = 1.0
    """The TCN reward's weight on ``sqrt(gamma + d)``."""
    gamma: float = 1e-3
    """Keeps ``sqrt(gamma + d)`` smooth at ``d = 0``."""


@dataclass
class PPOSettings:
    """PPO's settings (names as in stable-baselines3 and the PPO paper)."""

    timesteps: int = 100_000
    """Environment steps of training in all."""
    n_envs: int = 4
    """Environments PPO collects from."""
    n_steps: int = 128
    """Steps per environment between updates (an update every ``n_envs * n_steps`` steps)."""
    batch_size: int = 256
    """Minibatch size of an update."""
    n_epochs: int = 10
    """Passes over a rollout per update."""
    learning_rate: float = 1e-3
    """Adam's step size."""
    gamma: float = 0.5
    """Discount factor (a short horizon: the reward says where the demonstration is now)."""
    gae_lambda: float = 0.95
    """GAE's bias-variance trade-off."""
    clip_range: float = 0.2
    """PPO's clipping of the probability ratio."""
    ent_coef: float = 0.0
    """Weight of the entropy bonus."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    max_grad_norm: float = 0.5
    """Gradients are clipped to this norm."""
    normalize_obs: bool = True
    """Observations normalised by running statistics (VecNormalize), kept with the agent."""
    normalize_reward: bool = True
    """Rewards scaled by the running spread of the discounted return (VecNormalize)."""


@dataclass
class PolicySettings:
    """The actor and critic networks."""

    actor: ActorKind = "jointwise"
    """``mlp``, one network over the whole observation (stable-baselines3's ``MlpPolicy``,
    ``net_arch``); ``jointwise``, one small network shared by the seven joints, each
    joint's action from its own part of the observation and the time index
    (:mod:`imitation_agent.policies`, ``policy_arch``)."""
    net_arch: tuple[int, ...] = (256, 256)
    """Hidden layers of the value network, and of the ``mlp`` actor."""
    policy_arch: tuple[int, ...] = ()
    """Hidden layers of the ``jointwise`` actor's shared network (empty: linear)."""
    log_std_init: float = -1.2
    """Initial log standard deviation of the Gaussian actions (in action units)."""


@dataclass
class AgentConfig:
    """Every setting of an agent training run, in sections (a preset is one of these).

    The built-in defaults are the ``default`` preset (``config/presets/agent_default.yaml``,
    a test keeps them equal): PPO on the TCN reward, position-delta actions, observing its
    own joints, the demonstration's reading one step ahead and the time index; the training
    demonstrations read by ``observation.train_reader``.
    """

    env: EnvSettings = field(default_factory=EnvSettings)
    observation: ObservationSettings = field(default_factory=ObservationSettings)
    reward: RewardSettings = field(default_factory=RewardSettings)
    ppo: PPOSettings = field(default_factory=PPOSettings)
    policy: PolicySettings = field(default_factory=PolicySettings)
    vec_env: Literal["subproc", "dummy"] = "subproc"
    """``subproc`` (one process per env) or ``dummy`` (all in this process)."""
    batched_reward: bool = True
    """All environments' frames embedded in one forward pass per step (False: each env its
    own embedder, the unbatched path, for comparison)."""
    seed: int = 0
    """Seeds the environments and PPO."""
    device: str = "auto"
    """torch device of PPO's networks (``auto``: CUDA when there is one)."""

    def __post_init__(self) -> None:
        self.policy.net_arch = tuple(int(n) for n in self.policy.net_arch)
        self.policy.policy_arch = tuple(int(n) for n in self.policy.policy_arch)
        if self.policy.actor not in POLICIES:
            raise ValueError(f"policy.actor must be one of {POLICIES}, got {self.policy.actor!r}")
        self.env_config()  # validates the env fields
        if self.observation.train_reader not in READERS:
            raise ValueError(
                f"observation.train_reader must be one of {READERS}, got "
                f"{self.observation.train_reader!r}"
            )
        if self.vec_env not in ("subproc", "dummy"):
            raise ValueError(f"vec_env must be 'subproc' or 'dummy', got {self.vec_env!r}")
        ppo = self.ppo
        for name in ("timesteps", "n_envs", "n_steps", "batch_size", "n_epochs"):
            if int(getattr(ppo, name)) < 1:
                raise ValueError(f"ppo.{name} must be at least 1, got {getattr(ppo, name)!r}")
        if ppo.batch_size > ppo.n_envs * ppo.n_steps:
            raise ValueError(
                f"ppo.batch_size {ppo.batch_size} exceeds the rollout size ppo.n_envs * "
                f"ppo.n_steps = {ppo.n_envs * ppo.n_steps}"
            )

    def env_config(self) -> EnvConfig:
        """The env's settings, gathered from the sections."""
        o, r = self.observation, self.reward
        return EnvConfig(
            reward=r.kind,
            reward_alpha=r.alpha,
            reward_beta=r.beta,
            reward_gamma=r.gamma,
            lookahead=o.lookahead,
            pose_features=o.pose_features,
            pose_source=o.pose_source,
            time_feature=o.time_feature,
            embedding_obs=o.embedding_obs,
            **dataclasses.asdict(self.env),
        )

    def policy_class(self) -> Any:
        """The stable-baselines3 policy (class or registered name) of ``policy.actor``."""
        if self.policy.actor == "jointwise":
            from imitation_agent.policies import JointwisePolicy

            return JointwisePolicy
        return "MlpPolicy"

    def ppo_kwargs(self, layout: ObsLayout) -> dict[str, Any]:
        """stable-baselines3 ``PPO`` keyword arguments for observations laid out as ``layout``."""
        policy_kwargs: dict[str, Any] = {
            "net_arch": list(self.policy.net_arch),
            "log_std_init": self.policy.log_std_init,
        }
        if self.policy.actor == "jointwise":
            from imitation_agent.policies import joint_indices

            per_joint, shared = joint_indices(layout)
            policy_kwargs.update(
                per_joint=per_joint, shared=shared, policy_arch=list(self.policy.policy_arch)
            )
        ppo = self.ppo
        return {
            "n_steps": ppo.n_steps,
            "batch_size": ppo.batch_size,
            "n_epochs": ppo.n_epochs,
            "learning_rate": ppo.learning_rate,
            "gamma": ppo.gamma,
            "gae_lambda": ppo.gae_lambda,
            "clip_range": ppo.clip_range,
            "ent_coef": ppo.ent_coef,
            "vf_coef": ppo.vf_coef,
            "max_grad_norm": ppo.max_grad_norm,
            "seed": self.seed,
            "device": self.device,
            "policy_kwargs": policy_kwargs,
        }

    def to_dict(self) -> dict[str, Any]:
        return dataclass_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AgentConfig:
        return dataclass_from_dict(cls, data, "agent config fields")


def _make_env(
    demos: Sequence[Demonstration],
    config: EnvConfig,
    seed: int,
    embedder: Embedder | None,
    pose_decoder: PoseDecoder | None,
) -> Callable[[], ImitationEnv]:
    def make() -> ImitationEnv:
        env = ImitationEnv(demos, config, embedder=embedder, pose_decoder=pose_decoder)
        env.reset(seed=seed)
        return env

    return make


def make_vec_env(
    demos: Sequence[Demonstration],
    config: AgentConfig,
    embedder: Embedder,
    pose_decoder: PoseDecoder | None = None,
) -> VecEnv:
    """The vector env stack of the module docstring, without VecNormalize."""
    env_config = config.env_config()
    inner = None if config.batched_reward else embedder
    factories = [
        _make_env(demos, env_config, config.seed + rank, inner, pose_decoder)
        for rank in range(config.ppo.n_envs)
    ]
    if config.vec_env == "subproc" and config.ppo.n_envs > 1:
        venv: VecEnv = SubprocVecEnv(factories, start_method="forkserver")
    else:
        venv = DummyVecEnv(factories)
    venv.seed(config.seed)
    if config.batched_reward:
        layout = ImitationEnv.layout_for(demos, env_config)
        reward = env_config.reward_config if config.reward.kind == "tcn" else None
        venv = BatchedEmbeddingReward(venv, embedder, layout, reward, pose_decoder)
    return VecMonitor(venv)


def normalize(venv: VecEnv, config: AgentConfig) -> VecNormalize:
    return VecNormalize(
        venv,
        norm_obs=config.ppo.normalize_obs,
        norm_reward=config.ppo.normalize_reward,
        gamma=config.ppo.gamma,
    )


def normalization_state(venv: VecNormalize) -> dict[str, np.ndarray]:
    """VecNormalize statistics as plain arrays (saved as .npz, no pickle)."""
    return {
        "obs_mean": venv.obs_rms.mean,
        "obs_var": venv.obs_rms.var,
        "obs_count": np.array(venv.obs_rms.count),
        "ret_mean": np.array(venv.ret_rms.mean),
        "ret_var": np.array(venv.ret_rms.var),
        "ret_count": np.array(venv.ret_rms.count),
    }


def load_normalization_state(venv: VecNormalize, state: Mapping[str, np.ndarray]) -> None:
    venv.obs_rms.mean = np.array(state["obs_mean"])
    venv.obs_rms.var = np.array(state["obs_var"])
    venv.obs_rms.count = float(state["obs_count"])
    venv.ret_rms.mean = np.array(state["ret_mean"])
    venv.ret_rms.var = np.array(state["ret_var"])
    venv.ret_rms.count = float(state["ret_count"])


def normalized_policy(
    model: Any,
    state: Mapping[str, np.ndarray],
    clip_obs: float = 10.0,
    epsilon: float = 1e-8,
    normalize_obs: bool = True,
) -> Callable[[np.ndarray], np.ndarray]:
    """A deterministic ``obs -> action`` of a trained PPO model with its saved obs statistics."""
    mean, var = np.asarray(state["obs_mean"]), np.asarray(state["obs_var"])

    def policy(obs: np.ndarray) -> np.ndarray:
        x = (
            np.clip((obs - mean) / np.sqrt(var + epsilon), -clip_obs, clip_obs)
            if (normalize_obs)
            else obs
        )
        action, _ = model.predict(x.astype(np.float32), deterministic=True)
        return action

    return policy
