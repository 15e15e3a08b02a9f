"""Objectives compose with weights: each term as its loss function computes it, summed."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tcn_embedding.losses import npairs_loss, triplet_loss
from tcn_embedding.objectives import (
    NPairs,
    PairChange,
    SelfRegression,
    Step,
    Triplet,
    WeightedObjectives,
    objectives_for,
)
from tcn_embedding.train import ObjectiveSettings, TrainConfig


def step(k: int = 3, paired: bool = True) -> Step:
    g = torch.Generator().manual_seed(0)
    return Step(
        tuples=torch.randn(6, k, 4, generator=g),
        pose=torch.randn(8, 7, generator=g),
        pose_target=torch.randn(8, 7, generator=g),
        paired=paired,
    )


def test_the_weighted_sum_of_the_terms_that_apply():
    s = step()
    combined = WeightedObjectives([Triplet(margin=0.5), SelfRegression(), PairChange()], [1, 2, 3])
    total = combined(s)
    z, pose, target = s.tuples, s.pose, s.pose_target
    triplet = triplet_loss(z[:, 0], z[:, 1], z[:, 2], margin=0.5)
    regression = F.mse_loss(pose, target)
    pair = F.mse_loss(pose[4:] - pose[:4], target[4:] - target[:4])
    torch.testing.assert_close(total, triplet + 2 * regression + 3 * pair)
    assert combined.terms == pytest.approx(
        {"triplet": float(triplet), "self_regression": float(regression), "pair": float(pair)}
    )
    # A step without a pose batch, or unpaired: those terms drop out, and are not logged.
    unpaired = combined(Step(tuples=z, pose=pose, pose_target=target, paired=False))
    torch.testing.assert_close(unpaired, triplet + 2 * regression)
    torch.testing.assert_close(combined(Step(tuples=z)), triplet)
    assert set(combined.terms) == {"triplet"}
    with pytest.raises(ValueError, match="no objective"):
        combined(Step())


def test_zero_weights_are_skipped_and_bad_compositions_refused():
    s = step()
    only_pose = WeightedObjectives([Triplet(), SelfRegression()], [0.0, 1.0])
    torch.testing.assert_close(only_pose(s), F.mse_loss(s.pose, s.pose_target))
    assert set(only_pose.terms) == {"self_regression"}
    with pytest.raises(ValueError, match="one weight per objective"):
        WeightedObjectives([Triplet()], [1.0, 2.0])
    with pytest.raises(ValueError, match=">= 0"):
        WeightedObjectives([Triplet()], [-1.0])
    with pytest.raises(ValueError, match="distinct"):
        WeightedObjectives([Triplet(), Triplet()])
    with pytest.raises(ValueError, match=r"\(B, 3, D\)"):
        Triplet()(step(k=2))
    with pytest.raises(ValueError, match=r"\(B, 2, D\)"):
        NPairs()(step(k=3))


def test_a_train_config_asks_for_its_composition():
    config = TrainConfig(
        objectives=ObjectiveSettings(
            loss="npairs", self_regression=0.5, pair_weight=0.25, pose_batch=8
        )
    )
    combined = objectives_for(config)
    s = step(k=2)
    z, pose, target = s.tuples, s.pose, s.pose_target
    expected = npairs_loss(z[:, 0], z[:, 1], l2_reg=config.objectives.npairs_l2_reg)
    expected = expected + 0.5 * F.mse_loss(pose, target)
    expected = expected + 0.25 * F.mse_loss(pose[4:] - pose[:4], target[4:] - target[:4])
    torch.testing.assert_close(combined(s), expected)
    assert "0.5*self_regression" in repr(combined)
    triplet = objectives_for(TrainConfig())
    assert isinstance(triplet.objectives[0], Triplet)
    assert triplet.objectives[0].margin == TrainConfig().objectives.margin
