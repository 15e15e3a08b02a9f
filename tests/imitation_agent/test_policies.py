"""The jointwise policy: one network shared by the joints, trained and reloaded by PPO."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv

from imitation_agent import Demonstration, EnvConfig, ImitationEnv
from imitation_agent.policies import JointwisePolicy, joint_indices
from imitation_agent.train import AgentConfig, PolicySettings, PPOSettings
from kuka_sim import DemoConfig, episode_seed, make_cameras, record_demonstration

CAMERA = make_cameras(1, 24)[0]


def embed(frames: np.ndarray) -> np.ndarray:
    return frames.reshape(len(frames), -1)[:, :6].astype(np.float32) / 255.0


@pytest.fixture(scope="module")
def env():
    episode = record_demonstration(episode_seed(3, 0), [CAMERA], demo_config=DemoConfig(frames=20))
    demo = Demonstration(
        "d0",
        episode.joint_positions,
        embed(episode.frames[0]),
        CAMERA,
        reading=episode.joint_positions,
    )
    return ImitationEnv([demo], EnvConfig(), embedder=embed)


def test_each_joint_owns_its_slots_and_the_rest_is_shared(env):
    per_joint, shared = joint_indices(env.layout)
    assert np.shape(per_joint) == (7, 5)  # q, qd, target, own pose, error
    owned = sorted(i for row in per_joint for i in row)
    assert sorted(owned + shared) == list(range(env.layout.size))
    assert shared == [env.layout.size - 1]  # the time index
    assert per_joint[2][0] == env.layout.q.start + 2
    assert per_joint[2][4] == env.layout.pose_error.start + 2


def test_the_action_mean_follows_the_joints_it_belongs_to(env):
    config = AgentConfig(
        policy=PolicySettings(actor="jointwise"),
        ppo=PPOSettings(n_envs=1, n_steps=32, batch_size=32),
        device="cpu",
    )
    model = PPO(config.policy_class(), DummyVecEnv([lambda: env]), **config.ppo_kwargs(env.layout))
    assert isinstance(model.policy, JointwisePolicy)
    with torch.no_grad():
        for p in model.policy.action_net.parameters():
            p.normal_()  # away from the near-zero initialisation
    per_joint, _ = joint_indices(env.layout)
    obs = np.random.default_rng(0).normal(size=(1, env.layout.size)).astype(np.float32)
    order = np.random.default_rng(1).permutation(7)
    swapped = obs.copy()
    for j, k in enumerate(order):  # joint j now sees what joint k saw
        swapped[0, per_joint[j]] = obs[0, per_joint[k]]
    mean = model.policy.get_distribution(torch.as_tensor(obs)).distribution.mean
    mean_swapped = model.policy.get_distribution(torch.as_tensor(swapped)).distribution.mean
    torch.testing.assert_close(mean_swapped[0], mean[0, order])


def test_a_jointwise_agent_trains_saves_and_loads(env, tmp_path):
    config = AgentConfig(
        policy=PolicySettings(actor="jointwise", policy_arch=()),
        ppo=PPOSettings(n_envs=1, n_steps=32, batch_size=32),
        device="cpu",
    )
    model = PPO(config.policy_class(), DummyVecEnv([lambda: env]), **config.ppo_kwargs(env.layout))
    model.learn(64)
    model.save(tmp_path / "agent.zip")
    loaded = PPO.load(tmp_path / "agent.zip", device="cpu")
    assert isinstance(loaded.policy, JointwisePolicy)
    obs = np.zeros((1, env.layout.size), np.float32)
    np.testing.assert_allclose(
        loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0]
    )
    with pytest.raises(ValueError, match="policy.actor must be one of"):
        AgentConfig(policy=PolicySettings(actor="transformer"))
