"""The jointwise policy: one small network shared by the seven joints.

Each joint's action mean comes from that joint's own part of the observation (its position,
velocity, the demonstration's reading of it, and their difference) and the parts no joint
owns (the time index, the embeddings when observed), through one network whose weights all
joints share; the value network sees the whole observation. In the spirit of shared
modular policies (Huang et al. 2020, "One Policy to Control Them All"): what the TCN reward
teaches about the joints the camera sees well (the shoulder and elbow) holds for those it
sees least (the wrist, whose turns change few pixels, and the coupled pairs that a
nearly straight joint between them makes look alike), because it is the same law. An
unshared network has to learn each joint's law from that joint's share of the reward,
which for the wrist is almost nothing (docs/agent.md, "Learning to follow").

:class:`JointwisePolicy` is a stable-baselines3 ``ActorCriticPolicy``; ``policy_kwargs``
give the observation's per-joint and shared indices (:func:`joint_indices`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.policies import ActorCriticPolicy
from torch import nn

from imitation_agent.env import POSE_JOINTS, ObsLayout


def joint_indices(layout: ObsLayout) -> tuple[list[list[int]], list[int]]:
    """The flat observation's indices each joint owns (``(7, k)``: joint position and
    velocity, with pose features also the target, the own pose and the pose error) and the
    indices of what no joint owns (the embeddings, the time index)."""
    slices = [layout.q, layout.qd]
    if layout.pose:
        slices += [layout.pose_target, layout.pose_w, layout.pose_error]
    per_joint = [[s.start + j for s in slices] for j in range(POSE_JOINTS)]
    owned = {i for row in per_joint for i in row}
    return per_joint, [i for i in range(layout.size) if i not in owned]


def _mlp(width: int, layers: Sequence[int], activation: type[nn.Module]) -> nn.Sequential:
    modules: list[nn.Module] = []
    for size in layers:
        modules += [nn.Linear(width, size), activation()]
        width = size
    return nn.Sequential(*modules)


class JointwiseExtractor(nn.Module):
    """``latent_pi``: the shared network applied to each joint's inputs, ``(B, 7 * h)``;
    ``latent_vf``: an MLP over the whole observation."""

    def __init__(
        self,
        feature_dim: int,
        per_joint: Sequence[Sequence[int]],
        shared: Sequence[int],
        policy_arch: Sequence[int],
        value_arch: Sequence[int],
        activation: type[nn.Module],
    ) -> None:
        super().__init__()
        self.register_buffer("per_joint", torch.as_tensor(np.asarray(per_joint), dtype=torch.long))
        self.register_buffer("shared", torch.as_tensor(list(shared), dtype=torch.long))
        width = self.per_joint.shape[1] + len(shared)
        self.policy_net = _mlp(width, policy_arch, activation)
        self.value_net = _mlp(feature_dim, value_arch, activation)
        self.joints = self.per_joint.shape[0]
        self.joint_latent = policy_arch[-1] if policy_arch else width
        self.latent_dim_pi = self.joints * self.joint_latent
        self.latent_dim_vf = value_arch[-1] if value_arch else feature_dim

    def forward_actor(self, features: torch.Tensor) -> torch.Tensor:
        own = features[:, self.per_joint]  # (B, 7, k)
        common = features[:, self.shared].unsqueeze(1).expand(-1, self.joints, -1)
        return self.policy_net(torch.cat([own, common], dim=-1)).flatten(1)

    def forward_critic(self, features: torch.Tensor) -> torch.Tensor:
        return self.value_net(features)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_actor(features), self.forward_critic(features)


class JointHead(nn.Module):
    """The action mean: one linear map, shared by the joints, of each joint's latent."""

    def __init__(self, joints: int, width: int) -> None:
        super().__init__()
        self.joints = joints
        self.linear = nn.Linear(width, 1)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.linear(latent.view(latent.shape[0], self.joints, -1)).squeeze(-1)


class JointwisePolicy(ActorCriticPolicy):
    """stable-baselines3 actor-critic with the jointwise action mean (module docstring).

    ``net_arch`` sizes the value network; ``policy_arch`` the shared per-joint network
    (empty: the action mean is linear in each joint's inputs). The exploration noise keeps
    one standard deviation per joint."""

    def __init__(
        self,
        *args: Any,
        per_joint: Sequence[Sequence[int]],
        shared: Sequence[int],
        policy_arch: Sequence[int] = (64, 64),
        **kwargs: Any,
    ) -> None:
        self.per_joint = [list(row) for row in per_joint]
        self.shared_inputs = list(shared)
        self.policy_arch = list(policy_arch)
        super().__init__(*args, **kwargs)

    def _build_mlp_extractor(self) -> None:
        arch = self.net_arch
        value_arch = arch.get("vf", []) if isinstance(arch, dict) else list(arch or [])
        self.mlp_extractor = JointwiseExtractor(
            self.features_dim,
            self.per_joint,
            self.shared_inputs,
            self.policy_arch,
            value_arch,
            self.activation_fn,
        )

    def _build(self, lr_schedule: Any) -> None:
        super()._build(lr_schedule)
        extractor = self.mlp_extractor
        self.action_net = JointHead(extractor.joints, extractor.joint_latent)
        if self.ortho_init:
            self.action_net.apply(partial(self.init_weights, gain=0.01))
        self.optimizer = self.optimizer_class(
            self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
        )

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            per_joint=self.per_joint, shared=self.shared_inputs, policy_arch=self.policy_arch
        )
        return data
