"""Losses against plain-python loops on hand-made tensors."""

from __future__ import annotations

import math

import pytest
import torch

from tcn_embedding.losses import npairs_loss, squared_l2, triplet_loss


def _rows(x: torch.Tensor) -> list[list[float]]:
    return [[float(v) for v in row] for row in x]


def _loop_sq(a: list[float], b: list[float]) -> float:
    return sum((u - v) ** 2 for u, v in zip(a, b, strict=True))


def test_squared_l2_matches_a_loop() -> None:
    torch.manual_seed(0)
    x, y = torch.randn(5, 4), torch.randn(5, 4)
    d = squared_l2(x, y)
    assert d.shape == (5,)
    for i, (a, b) in enumerate(zip(_rows(x), _rows(y), strict=True)):
        assert d[i].item() == pytest.approx(_loop_sq(a, b), rel=1e-5)


@pytest.mark.parametrize("margin", [0.0, 0.2, 1.5])
def test_triplet_loss_matches_a_loop(margin: float) -> None:
    torch.manual_seed(1)
    a, p, n = torch.randn(6, 3), torch.randn(6, 3), torch.randn(6, 3)
    expected = 0.0
    for ra, rp, rn in zip(_rows(a), _rows(p), _rows(n), strict=True):
        expected += max(0.0, _loop_sq(ra, rp) - _loop_sq(ra, rn) + margin)
    expected /= 6
    assert triplet_loss(a, p, n, margin).item() == pytest.approx(expected, rel=1e-5)


def test_triplet_loss_by_hand_and_its_gradient() -> None:
    a = torch.tensor([[0.0, 0.0], [0.0, 0.0]], requires_grad=True)
    p = torch.tensor([[1.0, 0.0], [0.0, 0.1]])
    n = torch.tensor([[0.0, 2.0], [0.0, 0.2]])
    # row 0: 1 - 4 + 0.5 < 0 -> 0 ; row 1: 0.01 - 0.04 + 0.5 = 0.47
    loss = triplet_loss(a, p, n, margin=0.5)
    assert loss.item() == pytest.approx(0.47 / 2, rel=1e-6)
    loss.backward()
    # d/da [||a-p||^2 - ||a-n||^2] = 2(n - p) for the active row only, / batch
    assert torch.allclose(a.grad, torch.tensor([[0.0, 0.0], [0.0, 0.1]]), atol=1e-6)


def test_triplet_loss_takes_another_distance() -> None:
    torch.manual_seed(2)
    a, p, n = torch.randn(4, 3), torch.randn(4, 3), torch.randn(4, 3)

    def l1(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (x - y).abs().sum(-1)

    expected = 0.0
    for ra, rp, rn in zip(_rows(a), _rows(p), _rows(n), strict=True):
        dp = sum(abs(u - v) for u, v in zip(ra, rp, strict=True))
        dn = sum(abs(u - v) for u, v in zip(ra, rn, strict=True))
        expected += max(0.0, dp - dn + 0.3)
    got = triplet_loss(a, p, n, margin=0.3, distance=l1).item()
    assert got == pytest.approx(expected / 4, rel=1e-5)


def _loop_npairs(a: list[list[float]], p: list[list[float]], labels, reg: float) -> float:
    b = len(a)
    xent = 0.0
    for i in range(b):
        logits = [sum(u * v for u, v in zip(a[i], p[j], strict=True)) for j in range(b)]
        log_z = math.log(sum(math.exp(s) for s in logits))
        same = [j for j in range(b) if labels[j] == labels[i]]
        xent += -sum((logits[j] - log_z) / len(same) for j in same)
    sq_a = sum(sum(v * v for v in row) for row in a) / b
    sq_p = sum(sum(v * v for v in row) for row in p) / b
    return xent / b + 0.25 * reg * (sq_a + sq_p)


@pytest.mark.parametrize("reg", [0.0, 0.002, 0.5])
def test_npairs_loss_matches_a_loop(reg: float) -> None:
    torch.manual_seed(3)
    a, p = torch.randn(5, 4), torch.randn(5, 4)
    expected = _loop_npairs(_rows(a), _rows(p), list(range(5)), reg)
    assert npairs_loss(a, p, l2_reg=reg).item() == pytest.approx(expected, rel=1e-5)


def test_npairs_loss_with_shared_labels_matches_a_loop() -> None:
    torch.manual_seed(4)
    a, p = torch.randn(6, 3), torch.randn(6, 3)
    labels = [0, 1, 0, 2, 1, 3]
    expected = _loop_npairs(_rows(a), _rows(p), labels, 0.002)
    got = npairs_loss(a, p, labels=torch.tensor(labels)).item()
    assert got == pytest.approx(expected, rel=1e-5)


def test_npairs_loss_is_small_for_matching_pairs_and_large_for_swapped_ones() -> None:
    eye = 10 * torch.eye(4)
    assert npairs_loss(eye, eye, l2_reg=0.0).item() < 1e-3
    assert npairs_loss(eye, eye.flip(0), l2_reg=0.0).item() > 50


def test_losses_reject_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="shape"):
        triplet_loss(torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="shape"):
        npairs_loss(torch.zeros(3, 2), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="labels"):
        npairs_loss(torch.zeros(3, 2), torch.zeros(3, 2), labels=torch.zeros(2))
