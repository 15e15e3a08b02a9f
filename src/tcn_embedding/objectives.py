"""Training objectives as objects that compose with weights, the way pytorch-metric-learning's
``MultipleLosses`` composes losses.

Each objective reads what it needs from one training step's :class:`Step` and returns a
scalar, or None when the step holds nothing for it (no pose batch this step, say):

- :class:`Triplet` and :class:`NPairs`: the time-contrastive losses of :mod:`.losses` on the
  step's tuples (anchor, positive[, negative]);
- :class:`SelfRegression`: the pose head's readings against the joints of the frames they
  read (the robot watching itself, ``tcn record --motion babble``);
- :class:`PairChange`: the change of the reading over each pair of frames against the
  pair's joint move (``--motion pairs``), a local pose loss.

:class:`WeightedObjectives` sums ``weight * objective(step)`` over the objectives that apply
and reports every term, so the trainer logs each one. :func:`objectives_for` builds the
composition a :class:`~tcn_embedding.train.TrainConfig` asks for.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch.nn.functional as F
from torch import Tensor

from tcn_embedding.losses import (
    DEFAULT_MARGIN,
    DEFAULT_NPAIRS_L2_REG,
    Distance,
    npairs_loss,
    squared_l2,
    triplet_loss,
)


@dataclass
class Step:
    """What one training step offers the objectives.

    Attributes:
        tuples: ``(B, k, D)`` embeddings: ``k = 3`` (anchor, positive, negative) or ``k = 2``
            (anchor, positive); None when the step has no time-contrastive batch.
        pose: ``(n, J)`` pose-head readings, or None.
        pose_target: ``(n, J)`` the joints those frames show.
        paired: whether ``pose`` rows are pairs: the first ``n // 2`` frames, then the
            second frame of each pair in the same order.
    """

    tuples: Tensor | None = None
    pose: Tensor | None = None
    pose_target: Tensor | None = None
    paired: bool = False


class Objective(Protocol):
    name: str

    def __call__(self, step: Step) -> Tensor | None: ...


@dataclass(frozen=True)
class Triplet:
    """TCN triplet loss on ``(B, 3, D)`` tuples (:func:`.losses.triplet_loss`)."""

    margin: float = DEFAULT_MARGIN
    distance: Distance = squared_l2
    name: str = "triplet"

    def __call__(self, step: Step) -> Tensor | None:
        if step.tuples is None:
            return None
        if step.tuples.shape[1] != 3:
            raise ValueError(f"triplet needs (B, 3, D) tuples, got {tuple(step.tuples.shape)}")
        z = step.tuples
        return triplet_loss(z[:, 0], z[:, 1], z[:, 2], self.margin, self.distance)


@dataclass(frozen=True)
class NPairs:
    """Multi-view n-pairs loss on ``(B, 2, D)`` tuples (:func:`.losses.npairs_loss`)."""

    l2_reg: float = DEFAULT_NPAIRS_L2_REG
    name: str = "npairs"

    def __call__(self, step: Step) -> Tensor | None:
        if step.tuples is None:
            return None
        if step.tuples.shape[1] != 2:
            raise ValueError(f"npairs needs (B, 2, D) tuples, got {tuple(step.tuples.shape)}")
        return npairs_loss(step.tuples[:, 0], step.tuples[:, 1], l2_reg=self.l2_reg)


@dataclass(frozen=True)
class SelfRegression:
    """Mean squared error of the pose head's readings against the frames' joints."""

    name: str = "self_regression"

    def __call__(self, step: Step) -> Tensor | None:
        if step.pose is None or step.pose_target is None:
            return None
        return F.mse_loss(step.pose, step.pose_target)


@dataclass(frozen=True)
class PairChange:
    """Mean squared error of the reading's change over each pair against the pair's move."""

    name: str = "pair"

    def __call__(self, step: Step) -> Tensor | None:
        if step.pose is None or step.pose_target is None or not step.paired:
            return None
        m = len(step.pose) // 2
        change = step.pose[m:] - step.pose[:m]
        return F.mse_loss(change, step.pose_target[m:] - step.pose_target[:m])


class WeightedObjectives:
    """``sum_i weight_i * objective_i(step)`` over the objectives that apply to the step.

    ``terms`` of the last call map each applying objective's name to its unweighted value
    (floats, detached), for logging."""

    def __init__(self, objectives: Sequence[Objective], weights: Sequence[float] | None = None):
        weights = [1.0] * len(objectives) if weights is None else list(weights)
        if len(weights) != len(objectives) or not objectives:
            raise ValueError(
                f"need one weight per objective and at least one objective, got "
                f"{len(objectives)} objectives and {len(weights)} weights"
            )
        for w in weights:
            if not (math.isfinite(w) and w >= 0):
                raise ValueError(f"objective weights must be finite and >= 0, got {weights}")
        names = [o.name for o in objectives]
        if len(set(names)) != len(names):
            raise ValueError(f"objective names must be distinct, got {names}")
        self.objectives = list(objectives)
        self.weights = weights
        self.terms: dict[str, float] = {}

    def __call__(self, step: Step) -> Tensor:
        total: Tensor | None = None
        self.terms = {}
        for objective, weight in zip(self.objectives, self.weights, strict=True):
            if weight == 0:
                continue
            value = objective(step)
            if value is None:
                continue
            self.terms[objective.name] = float(value.detach())
            total = weight * value if total is None else total + weight * value
        if total is None:
            raise ValueError(
                f"no objective of {[o.name for o in self.objectives]} applies to this step"
            )
        return total

    def __repr__(self) -> str:
        parts = ", ".join(
            f"{w:g}*{o.name}" for o, w in zip(self.objectives, self.weights, strict=True)
        )
        return f"WeightedObjectives({parts})"


def objectives_for(config) -> WeightedObjectives:
    """The composition ``config`` (a :class:`~tcn_embedding.train.TrainConfig`) trains, by
    its ``objectives``: the time-contrastive ``loss`` at weight 1, ``self_regression`` and
    ``pair_weight``."""
    o = config.objectives
    contrastive: Objective = (
        NPairs(l2_reg=o.npairs_l2_reg) if o.loss == "npairs" else Triplet(o.margin)
    )
    return WeightedObjectives(
        [contrastive, SelfRegression(), PairChange()], [1.0, o.self_regression, o.pair_weight]
    )


def pose_only() -> WeightedObjectives:
    """The pose stage's objective: self-regression alone."""
    return WeightedObjectives([SelfRegression()])


__all__ = [
    "NPairs",
    "Objective",
    "PairChange",
    "SelfRegression",
    "Step",
    "Triplet",
    "WeightedObjectives",
    "objectives_for",
    "pose_only",
]
