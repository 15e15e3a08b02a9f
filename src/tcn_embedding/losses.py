"""Metric-learning losses of the TCN paper, built from a pluggable distance.

- :func:`triplet_loss`: single- and multi-view TCN (Sermanet et al. 2017, eq. 1).
- :func:`npairs_loss`: multi-view TCN with n-pairs (Sohn 2016), as TensorFlow's
  ``tf.contrib.losses.metric_learning.npairs_loss`` used by the published code.

A distance is any ``(x (..., D), y (..., D)) -> (...)`` function; :func:`squared_l2` is the
paper's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

logger = logging.getLogger(__name__)

Distance = Callable[[Tensor, Tensor], Tensor]
"""``(x (..., D), y (..., D)) -> (...)``: a distance between matching rows."""

DEFAULT_MARGIN = 0.2
"""Triplet margin of the published TCN config (FaceNet's value). Squared distances between
embeddings of norm ``alpha`` lie in ``[0, 4 alpha^2]``, so scale the margin with ``alpha``
when that matters to you."""

DEFAULT_NPAIRS_L2_REG = 0.002
"""``reg_lambda`` default of TensorFlow's ``npairs_loss``."""


def squared_l2(x: Tensor, y: Tensor) -> Tensor:
    """Squared Euclidean distance between matching rows: ``(..., D), (..., D) -> (...)``."""
    return (x - y).pow(2).sum(dim=-1)


def triplet_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    margin: float = DEFAULT_MARGIN,
    distance: Distance = squared_l2,
) -> Tensor:
    """TCN triplet loss: ``mean_i max(0, d(a_i, p_i) - d(a_i, n_i) + margin)``.

    Args:
        anchor, positive, negative: embeddings ``(B, D)``.
        margin: the paper's ``alpha`` in eq. 1 (not the embedding scale).
        distance: row-wise distance, squared L2 as in the paper.

    Returns:
        Scalar tensor.
    """
    if not (anchor.shape == positive.shape == negative.shape) or anchor.dim() != 2:
        raise ValueError(
            f"expected anchor, positive, negative of one shape (B, D), got "
            f"{tuple(anchor.shape)}, {tuple(positive.shape)}, {tuple(negative.shape)}"
        )
    return F.relu(distance(anchor, positive) - distance(anchor, negative) + margin).mean()


def npairs_loss(
    anchors: Tensor,
    positives: Tensor,
    labels: Tensor | None = None,
    l2_reg: float = DEFAULT_NPAIRS_L2_REG,
) -> Tensor:
    """Multi-class n-pairs loss (Sohn 2016), as TensorFlow's ``npairs_loss``.

    ``S = anchors @ positives.T`` is read as logits: row ``i`` should pick column ``i``
    (the same moment seen from another view); all other positives act as negatives. The loss
    is ``CE(S, targets) + l2_reg / 4 * (mean_i ||a_i||^2 + mean_i ||p_i||^2)``, where
    ``targets`` is the identity, or with ``labels`` the rows of ``[labels_i == labels_j]``
    normalised to sum to 1 (a positive sharing an anchor's label is also correct).

    With embeddings of fixed norm ``alpha`` the regulariser is the constant
    ``l2_reg * alpha^2 / 2``; it only matters for unnormalised embeddings.

    Args:
        anchors, positives: embeddings ``(B, D)``, row ``i`` of each a matching pair.
        labels: optional ``(B,)`` ints (e.g. time steps); None means all pairs distinct.
        l2_reg: weight of the embedding regulariser (TensorFlow's ``reg_lambda``); 0 disables.

    Returns:
        Scalar tensor.
    """
    if anchors.shape != positives.shape or anchors.dim() != 2:
        raise ValueError(
            f"expected anchors and positives of one shape (B, D), got "
            f"{tuple(anchors.shape)} and {tuple(positives.shape)}"
        )
    similarity = anchors @ positives.T  # (B, B)
    if labels is None:
        xent = F.cross_entropy(similarity, torch.arange(len(anchors), device=anchors.device))
    else:
        if labels.shape != (len(anchors),):
            raise ValueError(
                f"expected labels shaped ({len(anchors)},), got {tuple(labels.shape)}"
            )
        same = (labels[:, None] == labels[None, :]).to(similarity.dtype)
        xent = F.cross_entropy(similarity, same / same.sum(dim=1, keepdim=True))
    reg = anchors.pow(2).sum(dim=1).mean() + positives.pow(2).sum(dim=1).mean()
    return xent + 0.25 * l2_reg * reg
