"""Triplet and n-pairs index sampling for TCN training and evaluation (numpy only).

All samplers take a seeded ``np.random.Generator`` and return integer index arrays; they
never see frames, so training, evaluation (:func:`tcn_embedding.metrics.triplet_accuracy`)
and tests share them. Time steps of different views of an episode are assumed synchronised
(view ``v`` at time ``t`` shows the same moment for every ``v``).

Protocols (Sermanet et al. 2017):

- single view: anchor ``a``; positive ``p`` with ``0 < |p - a| <= pos_range``; negative
  ``n`` with ``|n - a| >= neg_margin``.
- multi-view triplets: anchor ``(view i, t)``; positive ``(view j != i, t)``; negative
  ``(view i, t')`` with ``|t - t'| >= neg_margin``.
- multi-view n-pairs: ``B`` time steps pairwise at least ``min_separation`` apart, each with
  an anchor view and a different positive view.

A ``(view, time)`` index array has shape ``(n, 2)``: column 0 the view, column 1 the time.
"""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)

DEFAULT_POS_RANGE = 10
"""Positives lie within this many frames of the anchor (paper's evaluation protocol)."""
DEFAULT_NEG_MARGIN = 30
"""Negatives lie at least this many frames from the anchor (paper's evaluation protocol)."""
DEFAULT_MIN_SEPARATION = DEFAULT_POS_RANGE
"""Default spacing of n-pairs time steps. Each pair's positive is a negative for every other
anchor, so two time steps closer than the single-view positive range (frames the protocol
calls "the same moment") would be false negatives."""


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_views(num_views: object, what: str) -> int:
    num_views = _check_int("num_views", num_views, 1)
    if num_views < 2:
        raise ValueError(
            f"{what} need at least 2 views (the positive comes from another view), got "
            f"num_views={num_views}; use sample_single_view_triplets for one view"
        )
    return num_views


def valid_anchor_times(num_frames: int, neg_margin: int = DEFAULT_NEG_MARGIN) -> np.ndarray:
    """Times ``t`` in ``[0, num_frames)`` that have a frame at least ``neg_margin`` away.

    Returns a sorted ``(k,)`` int64 array; it is empty when ``num_frames <= neg_margin``.
    """
    t = np.arange(num_frames)
    return t[(t >= neg_margin) | (t <= num_frames - 1 - neg_margin)]


def _anchor_times(
    num_frames: int, n: int, rng: np.random.Generator, neg_margin: int
) -> np.ndarray:
    valid = valid_anchor_times(num_frames, neg_margin)
    if len(valid) == 0:
        raise ValueError(
            f"episode too short for triplets: T={num_frames} frames, but negatives must be at "
            f"least neg_margin={neg_margin} frames from the anchor, which needs "
            f"T >= {neg_margin + 1}; use longer episodes or a smaller neg_margin"
        )
    return rng.choice(valid, size=n)


def _negative_times(
    anchors: np.ndarray, num_frames: int, rng: np.random.Generator, neg_margin: int
) -> np.ndarray:
    """Uniform over ``[0, a - m] U [a + m, T - 1]`` for each anchor ``a`` (which must be valid)."""
    left = np.maximum(0, anchors - neg_margin + 1)  # count of 0 .. a - m
    right = np.maximum(0, num_frames - anchors - neg_margin)  # count of a + m .. T - 1
    k = rng.integers(0, left + right)
    return np.where(k < left, k, anchors + neg_margin + (k - left))


def sample_single_view_triplets(
    num_frames: int,
    n: int,
    rng: np.random.Generator,
    pos_range: int = DEFAULT_POS_RANGE,
    neg_margin: int = DEFAULT_NEG_MARGIN,
) -> np.ndarray:
    """``n`` single-view TCN triplets of frame indices from one ``num_frames``-frame episode.

    Anchors are uniform over the frames that have a valid negative; the positive is uniform
    over ``0 < |p - a| <= pos_range`` and the negative over ``|n - a| >= neg_margin`` (both
    within the episode).

    Returns:
        ``(n, 3)`` int64 array of ``(anchor, positive, negative)`` frame indices.

    Raises:
        ValueError: bad arguments, or ``num_frames <= neg_margin`` (no anchor has a negative).
    """
    num_frames = _check_int("num_frames", num_frames, 2)
    n = _check_int("n", n, 0)
    pos_range = _check_int("pos_range", pos_range, 1)
    neg_margin = _check_int("neg_margin", neg_margin, 1)
    if neg_margin <= pos_range:
        raise ValueError(
            f"neg_margin must exceed pos_range so negatives are farther than positives, got "
            f"neg_margin={neg_margin}, pos_range={pos_range}"
        )
    anchors = _anchor_times(num_frames, n, rng, neg_margin)
    lo = np.maximum(0, anchors - pos_range)
    hi = np.minimum(num_frames - 1, anchors + pos_range)
    positives = lo + rng.integers(0, hi - lo)  # hi - lo candidates once a is left out
    positives = positives + (positives >= anchors)  # skip the anchor itself
    negatives = _negative_times(anchors, num_frames, rng, neg_margin)
    return np.stack([anchors, positives, negatives], axis=1).astype(np.int64)


def _other_views(views: np.ndarray, num_views: int, rng: np.random.Generator) -> np.ndarray:
    """A view uniformly chosen among the ``num_views - 1`` others, per entry of ``views``."""
    return (views + rng.integers(1, num_views, size=len(views))) % num_views


def sample_multi_view_triplets(
    num_frames: int,
    num_views: int,
    n: int,
    rng: np.random.Generator,
    neg_margin: int = DEFAULT_NEG_MARGIN,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` multi-view TCN triplets from one episode with ``num_views`` synchronised views.

    Anchor ``(i, t)`` with ``t`` uniform over times that have a negative; positive ``(j, t)``
    with ``j != i`` uniform; negative ``(i, t')`` with ``|t - t'| >= neg_margin`` uniform.

    Returns:
        ``(anchor, positive, negative)``, each an ``(n, 2)`` int64 array of ``(view, time)``.

    Raises:
        ValueError: fewer than 2 views, or ``num_frames <= neg_margin``.
    """
    num_frames = _check_int("num_frames", num_frames, 2)
    num_views = _check_views(num_views, "multi-view triplets")
    n = _check_int("n", n, 0)
    neg_margin = _check_int("neg_margin", neg_margin, 1)
    times = _anchor_times(num_frames, n, rng, neg_margin)
    anchor_views = rng.integers(0, num_views, size=n)
    positive_views = _other_views(anchor_views, num_views, rng)
    negative_times = _negative_times(times, num_frames, rng, neg_margin)
    anchor = np.stack([anchor_views, times], axis=1).astype(np.int64)
    positive = np.stack([positive_views, times], axis=1).astype(np.int64)
    negative = np.stack([anchor_views, negative_times], axis=1).astype(np.int64)
    return anchor, positive, negative


def sample_multi_view_npairs(
    num_frames: int,
    num_views: int,
    batch_size: int,
    rng: np.random.Generator,
    min_separation: int = DEFAULT_MIN_SEPARATION,
) -> tuple[np.ndarray, np.ndarray]:
    """An n-pairs batch: ``batch_size`` moments, each seen from two different views.

    The time steps are distinct and pairwise at least ``min_separation`` frames apart (see
    :data:`DEFAULT_MIN_SEPARATION`), drawn uniformly among all such sets (sample from a
    shrunken range, then spread the sorted values by ``min_separation - 1``), and returned in
    random order. Per time step the anchor view is uniform and the positive view uniform among
    the others.

    Returns:
        ``(anchor, positive)``, each a ``(batch_size, 2)`` int64 array of ``(view, time)``;
        ``anchor[:, 1] == positive[:, 1]`` and ``anchor[:, 0] != positive[:, 0]``.

    Raises:
        ValueError: fewer than 2 views, or the episode cannot hold ``batch_size`` time steps
            that far apart (needs ``num_frames >= (batch_size - 1) * min_separation + 1``).
    """
    num_frames = _check_int("num_frames", num_frames, 1)
    num_views = _check_views(num_views, "n-pairs batches")
    batch_size = _check_int("batch_size", batch_size, 1)
    min_separation = _check_int("min_separation", min_separation, 1)
    span = num_frames - (batch_size - 1) * (min_separation - 1)
    if span < batch_size:
        most = (num_frames - 1) // min_separation + 1
        raise ValueError(
            f"cannot place batch_size={batch_size} time steps at least min_separation="
            f"{min_separation} frames apart in an episode of T={num_frames} frames (at most "
            f"{most} fit); lower batch_size or min_separation"
        )
    base = np.sort(rng.choice(span, size=batch_size, replace=False))
    times = rng.permutation(base + np.arange(batch_size) * (min_separation - 1))
    anchor_views = rng.integers(0, num_views, size=batch_size)
    positive_views = _other_views(anchor_views, num_views, rng)
    anchor = np.stack([anchor_views, times], axis=1).astype(np.int64)
    positive = np.stack([positive_views, times], axis=1).astype(np.int64)
    return anchor, positive
