"""Imitation agent: gymnasium env, batched reward wrapper, PPO training and evaluation (pure)."""

import gymnasium as gym

from imitation_agent.env import (
    Demonstration,
    EnvConfig,
    ImitationEnv,
    ObsLayout,
    PoseDecoder,
)

ENV_ID = "TcnImitation-v0"
if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point="imitation_agent.env:ImitationEnv")

__all__ = ["ENV_ID", "Demonstration", "EnvConfig", "ImitationEnv", "ObsLayout", "PoseDecoder"]
