"""The TCN reward for a whole vector env in one forward pass (a ``VecEnvWrapper``).

Subprocess environments only simulate and render; this wrapper, in the main
process, embeds every environment's frame of a step together (plus the first
frames of episodes that auto-reset), writes ``w_t`` into the observations
(including ``terminal_observation``, which PPO bootstraps truncated episodes
from) and, for the ``tcn`` reward, replaces each reward with
``R = -alpha * d - beta * sqrt(gamma + d)``. The same function computes the
unbatched path's reward inside the env, so both give the same rewards.
"""

from __future__ import annotations

import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from imitation_agent.env import Embedder, ObsLayout, PoseDecoder, set_own_embedding
from tcn_embedding.reward import RewardConfig, embedding_reward


class BatchedEmbeddingReward(VecEnvWrapper):
    """Fills ``w_t`` and the TCN reward for all environments with one ``embedder`` call.

    Args:
        venv: vector env of :class:`~imitation_agent.env.ImitationEnv` created with
            ``embedder=None`` (they return their frames in ``info["frame"]``).
        embedder: uint8 frames ``(N, H, W, 3)`` -> ``(N, D)``.
        layout: the envs' observation layout.
        reward_config: the TCN reward constants, or None to keep the envs' rewards
            (oracle and pixel rewards need no embedding).
        pose_decoder: the embedding's pose head, for pose features read by the head (None
            leaves the envs' pose features as they are: ground truth, or none).
    """

    def __init__(
        self,
        venv: VecEnv,
        embedder: Embedder,
        layout: ObsLayout,
        reward_config: RewardConfig | None,
        pose_decoder: PoseDecoder | None = None,
    ) -> None:
        super().__init__(venv)
        self.pose_decoder = pose_decoder
        self.embedder = embedder
        self.layout = layout
        self.reward_config = reward_config
        self.frames_embedded = 0
        self.forward_passes = 0

    def _embed(self, frames: list[np.ndarray]) -> np.ndarray:
        self.forward_passes += 1
        self.frames_embedded += len(frames)
        return np.asarray(self.embedder(np.stack(frames)), dtype=np.float32)

    def reset(self) -> np.ndarray:
        obs = self.venv.reset()
        frames = [info.pop("frame") for info in self.venv.reset_infos]
        set_own_embedding(obs, self.layout, self._embed(frames), self.pose_decoder)
        return obs

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        frames = [info.pop("frame") for info in infos]
        # Auto-reset envs: obs already holds the next episode's first observation.
        restarted = [i for i, done in enumerate(dones) if done]
        frames += [self.venv.reset_infos[i].pop("frame") for i in restarted]
        embeddings = self._embed(frames)
        step_embeddings = embeddings[: len(infos)]
        for i, info in enumerate(infos):
            target = info["terminal_observation"] if dones[i] else obs[i]
            set_own_embedding(target, self.layout, step_embeddings[i], self.pose_decoder)
        for k, i in enumerate(restarted):
            set_own_embedding(obs[i], self.layout, embeddings[len(infos) + k], self.pose_decoder)
        if self.reward_config is not None:
            demo = np.stack([info["demo_embedding"] for info in infos]).astype(np.float64)
            rewards = embedding_reward(
                step_embeddings.astype(np.float64), demo, self.reward_config
            ).astype(np.float32)
        return obs, rewards, dones, infos
