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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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
    Demonstration,
    Embedder,
    EnvConfig,
    ImitationEnv,
    ObsLayout,
    PoseDecoder,
    dataclass_from_dict,
)
from imitation_agent.readers import READERS

POLICIES = ("mlp", "jointwise")


@dataclass
class AgentConfig:
    """Every setting of an agent training run (a preset is one of these).

    The built-in defaults are the ``default`` preset (``config/presets/agent_default.yaml``,
    a test keeps them equal): PPO on the TCN reward, position-delta actions, observing its
    own joints, the demonstration's reading one step ahead and the time index; the training
    demonstrations read by ``train_reader``.
    """

    # --- environment (see EnvConfig)
    reward: str = "tcn"
    action: str = "position_delta"
    max_position_delta: float = 0.1
    torque_fraction: float = 0.25
    lookahead: int = 1
    pose_features: bool = True
    pose_source: str = "reading"
    time_feature: bool = True
    embedding_obs: bool = False
    reward_alpha: float = 1.0
    reward_beta: float = 1.0
    reward_gamma: float = 1e-3
    random_start: bool = True
    cut_distance: float = 0.5
    train_reader: str = "recorded"
    """How the training demonstrations are read when ``pose_source`` is ``reading``
    (:data:`imitation_agent.readers.READERS`): ``recorded`` (their recorded joints, the
    headline's choice) or a reader that sees only their frames, as held-out ones are."""
    # --- PPO (names as in stable-baselines3 / the PPO paper)
    timesteps: int = 100_000
    n_envs: int = 4
    n_steps: int = 128
    """Steps per environment between updates (an update every ``n_envs * n_steps`` steps)."""
    batch_size: int = 256
    n_epochs: int = 10
    learning_rate: float = 1e-3
    gamma: float = 0.5
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    policy: str = "jointwise"
    """The actor: ``mlp``, one network over the whole observation (stable-baselines3's
    ``MlpPolicy``, ``net_arch``); ``jointwise``, one small network shared by the seven
    joints, each joint's action from its own part of the observation and the time index
    (:mod:`imitation_agent.policies`, ``policy_arch``)."""
    net_arch: tuple[int, ...] = (256, 256)
    """Hidden layers of the value network, and of the ``mlp`` actor."""
    policy_arch: tuple[int, ...] = ()
    """Hidden layers of the ``jointwise`` actor's shared network (empty: linear)."""
    log_std_init: float = -1.2
    normalize_obs: bool = True
    normalize_reward: bool = True
    # --- machinery
    vec_env: str = "subproc"
    """``subproc`` (one process per env) or ``dummy`` (all in this process)."""
    batched_reward: bool = True
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        self.net_arch = tuple(int(n) for n in self.net_arch)
        self.policy_arch = tuple(int(n) for n in self.policy_arch)
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {self.policy!r}")
        self.env_config()  # validates the env fields
        if self.train_reader not in READERS:
            raise ValueError(f"train_reader must be one of {READERS}, got {self.train_reader!r}")
        if self.vec_env not in ("subproc", "dummy"):
            raise ValueError(f"vec_env must be 'subproc' or 'dummy', got {self.vec_env!r}")
        for name in ("timesteps", "n_envs", "n_steps", "batch_size", "n_epochs"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if self.batch_size > self.n_envs * self.n_steps:
            raise ValueError(
                f"batch_size {self.batch_size} exceeds the rollout size n_envs * n_steps "
                f"= {self.n_envs * self.n_steps}"
            )

    def env_config(self) -> EnvConfig:
        names = {f.name for f in dataclasses.fields(EnvConfig)}
        return EnvConfig(**{n: getattr(self, n) for n in names})

    def policy_class(self) -> Any:
        """The stable-baselines3 policy (class or registered name) of ``policy``."""
        if self.policy == "jointwise":
            from imitation_agent.policies import JointwisePolicy

            return JointwisePolicy
        return "MlpPolicy"

    def ppo_kwargs(self, layout: ObsLayout) -> dict[str, Any]:
        """stable-baselines3 ``PPO`` keyword arguments for observations laid out as ``layout``."""
        policy_kwargs: dict[str, Any] = {
            "net_arch": list(self.net_arch),
            "log_std_init": self.log_std_init,
        }
        if self.policy == "jointwise":
            from imitation_agent.policies import joint_indices

            per_joint, shared = joint_indices(layout)
            policy_kwargs.update(
                per_joint=per_joint, shared=shared, policy_arch=list(self.policy_arch)
            )
        return {
            "n_steps": self.n_steps,
            "batch_size": self.batch_size,
            "n_epochs": self.n_epochs,
            "learning_rate": self.learning_rate,
            "gamma": self.gamma,
            "gae_lambda": self.gae_lambda,
            "clip_range": self.clip_range,
            "ent_coef": self.ent_coef,
            "vf_coef": self.vf_coef,
            "max_grad_norm": self.max_grad_norm,
            "seed": self.seed,
            "device": self.device,
            "policy_kwargs": policy_kwargs,
        }

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["net_arch"] = list(self.net_arch)
        data["policy_arch"] = list(self.policy_arch)
        return data

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
        for rank in range(config.n_envs)
    ]
    if config.vec_env == "subproc" and config.n_envs > 1:
        venv: VecEnv = SubprocVecEnv(factories, start_method="forkserver")
    else:
        venv = DummyVecEnv(factories)
    venv.seed(config.seed)
    if config.batched_reward:
        layout = ImitationEnv.layout_for(demos, env_config)
        reward = env_config.reward_config if config.reward == "tcn" else None
        venv = BatchedEmbeddingReward(venv, embedder, layout, reward, pose_decoder)
    return VecMonitor(venv)


def normalize(venv: VecEnv, config: AgentConfig) -> VecNormalize:
    return VecNormalize(
        venv,
        norm_obs=config.normalize_obs,
        norm_reward=config.normalize_reward,
        gamma=config.gamma,
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
