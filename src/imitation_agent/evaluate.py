"""Evaluate a policy against ground truth: does the arm do what the demonstration did?

Metrics (ARCHITECTURE.md): ``success_rate`` (final joint-space L2 error to the
demonstration's final joints below 0.2 rad), ``mean_joint_error`` (over the
episode), ``final_joint_error`` (rad) and ``final_ee_error`` (metres, flange
position against the flange position at the demonstration's final joints).

A policy is any callable ``obs -> action``. :class:`DemoReplayPolicy` (reads
the demonstration's joints: a harness check, not an agent), :class:`IdlePolicy`
and :class:`RandomPolicy` are the references that prove the harness measures
what it claims. :class:`ServoPolicy`, a proportional law on the observation's pose
features, is the reference for the observation: what a fixed feedback law reaches
seeing only what the learnt policy sees.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from imitation_agent.env import SUCCESS_THRESHOLD, ImitationEnv

Policy = Callable[[np.ndarray], np.ndarray]


@dataclass
class EpisodeResult:
    demo: str
    joint_errors: np.ndarray  # (T,) rad, step 0 included
    rewards: np.ndarray  # (T - 1,)
    final_joint_error: float
    final_ee_error: float
    frames: list[np.ndarray] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return self.final_joint_error < SUCCESS_THRESHOLD


def rollout(
    env: ImitationEnv, policy: Policy, demo: int, keep_frames: bool = False, seed: int = 0
) -> EpisodeResult:
    """Run ``policy`` on demonstration ``demo`` for its whole length."""
    obs, info = env.reset(seed=seed, options={"demo": demo})
    errors, rewards, frames = [info["joint_error"]], [], []
    if keep_frames:
        frames.append(env.render())
    done = False
    while not done:
        obs, reward, terminated, truncated, info = env.step(policy(obs))
        errors.append(info["joint_error"])
        rewards.append(reward)
        if keep_frames:
            frames.append(env.render())
        done = terminated or truncated
    demonstration = env.demo
    agent_ee = env.sim.ee_position()
    final_q = env.sim.joint_positions()
    env.sim.reset(demonstration.joint_positions[-1])
    demo_ee = env.sim.ee_position()
    return EpisodeResult(
        demo=demonstration.name,
        joint_errors=np.array(errors),
        rewards=np.array(rewards),
        final_joint_error=float(np.linalg.norm(final_q - demonstration.joint_positions[-1])),
        final_ee_error=float(np.linalg.norm(agent_ee - demo_ee)),
        frames=frames,
    )


def summarize(results: list[EpisodeResult]) -> dict[str, float]:
    return {
        "episodes": len(results),
        "success_rate": float(np.mean([r.success for r in results])),
        "mean_joint_error": float(np.mean([r.joint_errors.mean() for r in results])),
        "final_joint_error": float(np.mean([r.final_joint_error for r in results])),
        "final_ee_error": float(np.mean([r.final_ee_error for r in results])),
        "mean_return": float(np.mean([r.rewards.sum() for r in results])),
    }


def evaluate(
    env: ImitationEnv, policy: Policy, demos: list[int] | None = None, keep_frames: bool = False
) -> tuple[dict[str, float], list[EpisodeResult]]:
    """Roll ``policy`` out once on each demonstration; returns metrics and per-episode results."""
    indices = range(len(env.demos)) if demos is None else demos
    results = [rollout(env, policy, i, keep_frames) for i in indices]
    return summarize(results), results


class DemoReplayPolicy:
    """Position-delta actions that replay the demonstration's joint trajectory (harness check)."""

    def __init__(self, env: ImitationEnv) -> None:
        if env.config.action != "position_delta":
            raise ValueError("DemoReplayPolicy drives position_delta actions")
        self.env = env

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        env = self.env
        target = env.demo.joint_positions[min(env.t + 1, len(env.demo) - 1)]
        delta = target - env.sim.position_target
        return np.clip(delta / env.config.max_position_delta, -1.0, 1.0).astype(np.float32)


SERVO_REFERENCES = ("reading", "joints")


class ServoPolicy:
    """Proportional law on the observed pose error: ``a = clip(gain * e / delta)``.

    With ``reference="reading"``, ``e`` is the observation's ``pose_error`` slot (the pose
    head's reading of the demonstration's ``v_{t+k}`` minus its reading of the agent's
    ``w_t``; with ``pose_source="reading"``, the demonstration's reading minus the measured
    joints): a bias the two readings share
    cancels, an error in the reading's change does not. With ``reference="joints"``, ``e``
    is the reading of ``v_{t+k}`` minus the arm's measured joints: no reading of its own
    frame, so the loop cannot run off, but the demonstration's reading error stays whole.
    ``delta`` is the env's ``max_position_delta``. It reads nothing but the observation, so
    it shows what the observation allows a policy to reach.
    """

    def __init__(self, env: ImitationEnv, gain: float = 1.0, reference: str = "reading") -> None:
        if env.config.action != "position_delta" or not env.config.pose_features:
            raise ValueError("ServoPolicy needs position_delta actions and pose_features")
        if gain <= 0:
            raise ValueError(f"gain must be > 0, got {gain}")
        if reference not in SERVO_REFERENCES:
            raise ValueError(f"reference must be one of {SERVO_REFERENCES}, got {reference!r}")
        self.layout, self.reference = env.layout, reference
        self.scale = gain / env.config.max_position_delta

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        layout = self.layout
        if self.reference == "joints":
            error = obs[layout.pose_target] - obs[layout.q]
        else:
            error = obs[layout.pose_error]
        return np.clip(error * self.scale, -1.0, 1.0).astype(np.float32)


class IdlePolicy:
    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return np.zeros(7, dtype=np.float32)


class RandomPolicy:
    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return self.rng.uniform(-1.0, 1.0, 7).astype(np.float32)
