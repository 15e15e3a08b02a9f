"""Imitation agent: gymnasium env, batched reward wrapper, PPO training and evaluation (pure)."""

import gymnasium as gym

from imitation_agent.env import (
    SUCCESS_THRESHOLD,
    Demonstration,
    EnvConfig,
    ImitationEnv,
    ObsLayout,
    PoseDecoder,
)
from imitation_agent.imagine import ImagineConfig
from imitation_agent.readers import (
    READERS,
    DemoReader,
    PoseHeadReader,
    RecordedJoints,
    RenderAndCompare,
    make_reader,
    reading_errors,
)

ENV_ID = "TcnImitation-v0"
if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point="imitation_agent.env:ImitationEnv")

__all__ = [
    "ENV_ID",
    "READERS",
    "SUCCESS_THRESHOLD",
    "DemoReader",
    "Demonstration",
    "EnvConfig",
    "ImagineConfig",
    "ImitationEnv",
    "ObsLayout",
    "PoseDecoder",
    "PoseHeadReader",
    "RecordedJoints",
    "RenderAndCompare",
    "make_reader",
    "reading_errors",
]
