"""A gymnasium env over ROS topics, for learning on a robot without a simulator.

:class:`RosAgentEnv` does not simulate: ``step(action)`` hands the action to a sender (the
agent node publishes it as a command), waits for the node's next control tick, and
returns the observation the node assembled there and the latest ``tcn/reward``. It runs in
the thread that calls ``PPO.learn``; the node's executor thread feeds it through
:meth:`RosAgentEnv.offer`, once per control period.

Episodes are the demonstration's length (``horizon`` = ``T - 1`` steps, as in
:class:`imitation_agent.ImitationEnv`) and end by truncation; nothing is reset (a real arm
cannot be teleported): the next episode starts where the last one ended. :meth:`stop`
unblocks a waiting ``step`` so the learner can finish.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np


class RosAgentEnv(gym.Env):
    """Steps at the node's control rate; observations ``(size,)`` float32, actions ``(7,)``."""

    metadata = {"render_modes": []}

    def __init__(
        self,
        size: int,
        horizon: int,
        send: Callable[[np.ndarray], None],
        timeout: float = 1.0,
    ) -> None:
        if horizon < 1:
            raise ValueError(f"horizon must be at least 1 step, got {horizon}")
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (size,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (7,), np.float32)
        self.horizon = horizon
        self.send = send
        self.timeout = timeout
        self.steps = 0
        self.stopped = threading.Event()
        self._cond = threading.Condition()
        self._tick = 0
        self._latest: tuple[np.ndarray, float] | None = None

    # ------------------------------------------------------------------ node side
    def offer(self, obs: np.ndarray, reward: float) -> None:
        """Called by the node at every control tick with a complete observation."""
        with self._cond:
            self._latest = (np.asarray(obs, dtype=np.float32).copy(), float(reward))
            self._tick += 1
            self._cond.notify_all()

    def stop(self) -> None:
        self.stopped.set()
        with self._cond:
            self._cond.notify_all()

    # ------------------------------------------------------------------ gym API
    def _next(self) -> tuple[np.ndarray, float]:
        """The observation of the next control tick (the last one once stopped)."""
        with self._cond:
            seen = self._tick
            while self._tick == seen and not self.stopped.is_set():
                self._cond.wait(self.timeout)
            if self._latest is None:  # stopped before the first observation
                return np.zeros(self.observation_space.shape, np.float32), 0.0
            return self._latest

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.steps = 0
        obs, _ = self._next()
        return obs, {}

    def step(self, action: np.ndarray):
        if not self.stopped.is_set():
            self.send(np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0))
        obs, reward = self._next()
        self.steps += 1
        truncated = self.steps >= self.horizon or self.stopped.is_set()
        return obs, reward, False, truncated, {}
