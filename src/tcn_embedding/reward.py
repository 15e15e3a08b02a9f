"""The TCN imitation reward (Sermanet et al. 2017, section V-B).

``R(v, w) = -alpha * ||w - v||^2 - beta * sqrt(gamma + ||w - v||^2)`` with ``v`` the
demonstration's embedding and ``w`` the agent's at the same time step: a squared term that
dominates far away plus a Huber-like term that keeps a sharp gradient near the target.
Works on numpy arrays, python floats and torch tensors, batched over any leading shape.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

logger = logging.getLogger(__name__)

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor, float)


@dataclass(frozen=True)
class RewardConfig:
    """Weights of the TCN reward. The paper does not publish its values; these defaults give
    both terms unit weight. With embeddings of norm 10 the squared distance ``d`` lies in
    [0, 400], so the reward lies in about [-420, -0.03]; PPO's reward normalisation absorbs
    the scale.
    """

    alpha: float = 1.0
    """Weight of the squared distance ``d``."""
    beta: float = 1.0
    """Weight of ``sqrt(gamma + d)``."""
    gamma: float = 1e-3
    """Keeps ``sqrt`` differentiable at ``d = 0``; its square root is the reward's offset."""

    def __post_init__(self) -> None:
        for name in ("alpha", "beta", "gamma"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
        if self.gamma == 0 and self.beta > 0:
            raise ValueError(
                f"gamma must be > 0 when beta > 0 (sqrt has no gradient at d = 0), "
                f"got gamma={self.gamma!r}"
            )


def tcn_reward(d: ArrayT, alpha: float = 1.0, beta: float = 1.0, gamma: float = 1e-3) -> ArrayT:
    """``-alpha * d - beta * sqrt(gamma + d)``, elementwise over squared distances ``d``.

    ``d`` may be a float, a numpy array or a torch tensor of any shape; the result has the
    same type and shape.
    """
    if isinstance(d, torch.Tensor):
        return -alpha * d - beta * torch.sqrt(gamma + d)
    if isinstance(d, np.ndarray):
        return -alpha * d - beta * np.sqrt(gamma + d)
    return -alpha * d - beta * math.sqrt(gamma + d)


def embedding_reward(
    agent: np.ndarray | torch.Tensor,
    demo: np.ndarray | torch.Tensor,
    config: RewardConfig | None = None,
) -> np.ndarray | torch.Tensor:
    """TCN reward of agent embeddings ``(..., D)`` against demo embeddings ``(..., D)``.

    Returns ``(...)`` (numpy or torch, as given) from the squared L2 distance of the last axis.
    """
    cfg = config if config is not None else RewardConfig()
    if agent.shape != demo.shape:
        raise ValueError(
            f"agent and demo embeddings must have one shape, got {tuple(agent.shape)} and "
            f"{tuple(demo.shape)}"
        )
    if isinstance(agent, torch.Tensor) != isinstance(demo, torch.Tensor):
        raise TypeError(
            f"agent and demo embeddings must both be numpy arrays or both tensors, got "
            f"{type(agent).__name__} and {type(demo).__name__}"
        )
    d = ((agent - demo) ** 2).sum(-1)
    return tcn_reward(d, cfg.alpha, cfg.beta, cfg.gamma)
