"""The TCN reward equals its formula for floats, numpy arrays and tensors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tcn_embedding.reward import RewardConfig, embedding_reward, tcn_reward


def formula(d: float, alpha: float, beta: float, gamma: float) -> float:
    return -alpha * d - beta * math.sqrt(gamma + d)


@pytest.mark.parametrize("alpha,beta,gamma", [(1.0, 1.0, 1e-3), (0.5, 2.0, 0.1), (0.0, 1.0, 1.0)])
def test_reward_equals_the_formula(alpha: float, beta: float, gamma: float) -> None:
    ds = [0.0, 0.25, 3.0, 400.0]
    for d in ds:
        assert tcn_reward(d, alpha, beta, gamma) == pytest.approx(formula(d, alpha, beta, gamma))
    arr = np.array([ds, ds[::-1]])
    got = tcn_reward(arr, alpha, beta, gamma)
    assert isinstance(got, np.ndarray) and got.shape == (2, 4)
    assert np.allclose(got, np.vectorize(lambda d: formula(d, alpha, beta, gamma))(arr))
    ten = tcn_reward(torch.tensor(arr, dtype=torch.float64), alpha, beta, gamma)
    assert isinstance(ten, torch.Tensor) and torch.allclose(ten, torch.from_numpy(got))


def test_embedding_reward_uses_the_squared_distance_of_the_last_axis() -> None:
    rng = np.random.default_rng(0)
    agent, demo = rng.normal(size=(3, 5, 4)), rng.normal(size=(3, 5, 4))
    cfg = RewardConfig(alpha=0.3, beta=2.0, gamma=0.01)
    got = embedding_reward(agent, demo, cfg)
    assert got.shape == (3, 5)
    for i in range(3):
        for j in range(5):
            d = sum((agent[i, j, k] - demo[i, j, k]) ** 2 for k in range(4))
            assert got[i, j] == pytest.approx(formula(d, 0.3, 2.0, 0.01))
    ten = embedding_reward(torch.from_numpy(agent), torch.from_numpy(demo), cfg)
    assert torch.allclose(ten, torch.from_numpy(got))


def test_reward_peaks_at_the_demo_and_has_a_finite_gradient_there() -> None:
    demo = torch.zeros(1, 3)
    agent = torch.zeros(1, 3, requires_grad=True)
    r = embedding_reward(agent, demo)
    assert r.item() == pytest.approx(-math.sqrt(1e-3))
    r.sum().backward()
    assert torch.isfinite(agent.grad).all()
    far = embedding_reward(torch.ones(1, 3), demo)
    assert far.item() < r.item()


def test_reward_config_validation() -> None:
    assert RewardConfig() == RewardConfig(alpha=1.0, beta=1.0, gamma=1e-3)
    with pytest.raises(ValueError, match="alpha.*-1"):
        RewardConfig(alpha=-1)
    with pytest.raises(ValueError, match="gamma"):
        RewardConfig(gamma=0.0)
    with pytest.raises(ValueError, match="shape"):
        embedding_reward(np.zeros((2, 3)), np.zeros((3, 3)))
    with pytest.raises(TypeError, match="both"):
        embedding_reward(np.zeros((2, 3)), torch.zeros(2, 3))
