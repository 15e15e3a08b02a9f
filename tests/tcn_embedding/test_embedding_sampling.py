"""Samplers always honour the frame constraints, are seeded, and refuse short episodes."""

from __future__ import annotations

import numpy as np
import pytest

from tcn_embedding.sampling import (
    sample_multi_view_npairs,
    sample_multi_view_triplets,
    sample_single_view_triplets,
    valid_anchor_times,
)

LENGTHS = [2, 5, 11, 31, 32, 40, 61, 100, 257]


@pytest.mark.parametrize("pos_range,neg_margin", [(10, 30), (1, 2), (3, 4), (6, 12)])
def test_single_view_triplets_always_satisfy_the_constraints(pos_range, neg_margin) -> None:
    checked = 0
    for num_frames in LENGTHS:
        if num_frames <= neg_margin:
            continue
        for seed in range(15):
            rng = np.random.default_rng(seed)
            t = sample_single_view_triplets(num_frames, 300, rng, pos_range, neg_margin)
            assert t.shape == (300, 3) and t.dtype == np.int64
            a, p, n = t.T
            assert ((t >= 0) & (t < num_frames)).all()
            assert ((np.abs(p - a) >= 1) & (np.abs(p - a) <= pos_range)).all()
            assert (np.abs(n - a) >= neg_margin).all()
            checked += 1
    assert checked > 0


def test_single_view_sampling_reaches_every_valid_choice() -> None:
    """Anchors cover exactly the frames that have a negative; positives and negatives cover
    both sides (a biased sampler that only looked forward would fail here)."""
    rng = np.random.default_rng(0)
    t = sample_single_view_triplets(35, 5000, rng)
    assert set(t[:, 0]) == set(valid_anchor_times(35, 30)) == {0, 1, 2, 3, 4, 30, 31, 32, 33, 34}
    a, p, n = t.T
    assert set(p[a == 30]) == set(range(20, 30)) | set(range(31, 35))
    assert set(n[a == 34]) == {0, 1, 2, 3, 4}
    assert set(n[a == 2]) == {32, 33, 34}
    t = sample_single_view_triplets(200, 20000, np.random.default_rng(1))
    assert (t[:, 1] < t[:, 0]).any() and (t[:, 1] > t[:, 0]).any()
    assert (t[:, 2] < t[:, 0]).any() and (t[:, 2] > t[:, 0]).any()


def test_sampling_is_deterministic_under_a_seed() -> None:
    one = sample_single_view_triplets(100, 50, np.random.default_rng(7))
    two = sample_single_view_triplets(100, 50, np.random.default_rng(7))
    other = sample_single_view_triplets(100, 50, np.random.default_rng(8))
    assert np.array_equal(one, two) and not np.array_equal(one, other)
    mv1 = sample_multi_view_triplets(100, 3, 20, np.random.default_rng(7))
    mv2 = sample_multi_view_triplets(100, 3, 20, np.random.default_rng(7))
    assert all(np.array_equal(x, y) for x, y in zip(mv1, mv2, strict=True))
    np1 = sample_multi_view_npairs(100, 3, 8, np.random.default_rng(7))
    np2 = sample_multi_view_npairs(100, 3, 8, np.random.default_rng(7))
    assert all(np.array_equal(x, y) for x, y in zip(np1, np2, strict=True))


@pytest.mark.parametrize("num_frames", [2, 10, 30])
def test_too_short_episodes_raise_naming_length_and_margin(num_frames: int) -> None:
    with pytest.raises(ValueError) as info:
        sample_single_view_triplets(num_frames, 4, np.random.default_rng(0))
    assert f"T={num_frames}" in str(info.value) and "neg_margin=30" in str(info.value)
    with pytest.raises(ValueError, match=f"T={num_frames}"):
        sample_multi_view_triplets(num_frames, 2, 4, np.random.default_rng(0))


def test_shortest_valid_episode_works() -> None:
    t = sample_single_view_triplets(31, 100, np.random.default_rng(0))
    assert set(t[:, 0]) <= {0, 30}
    assert all((a, n) in {(0, 30), (30, 0)} for a, _, n in t)


def test_bad_sampler_arguments_are_refused() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="neg_margin=5, pos_range=10"):
        sample_single_view_triplets(100, 4, rng, pos_range=10, neg_margin=5)
    with pytest.raises(ValueError, match="n must be"):
        sample_single_view_triplets(100, -1, rng)
    assert sample_single_view_triplets(100, 0, rng).shape == (0, 3)


@pytest.mark.parametrize("num_views", [2, 3, 5])
def test_multi_view_triplets_always_satisfy_the_constraints(num_views: int) -> None:
    for num_frames in [31, 45, 120]:
        for seed in range(10):
            anchor, positive, negative = sample_multi_view_triplets(
                num_frames, num_views, 200, np.random.default_rng(seed), neg_margin=30
            )
            for idx in (anchor, positive, negative):
                assert idx.shape == (200, 2)
                assert ((idx[:, 0] >= 0) & (idx[:, 0] < num_views)).all()
                assert ((idx[:, 1] >= 0) & (idx[:, 1] < num_frames)).all()
            assert (positive[:, 0] != anchor[:, 0]).all()
            assert (positive[:, 1] == anchor[:, 1]).all()
            assert (negative[:, 0] == anchor[:, 0]).all()
            assert (np.abs(negative[:, 1] - anchor[:, 1]) >= 30).all()
    anchor, positive, _ = sample_multi_view_triplets(60, num_views, 2000, np.random.default_rng(0))
    assert set(anchor[:, 0]) == set(positive[:, 0]) == set(range(num_views))


def test_multi_view_needs_two_views() -> None:
    with pytest.raises(ValueError, match="at least 2 views.*num_views=1"):
        sample_multi_view_triplets(100, 1, 4, np.random.default_rng(0))
    with pytest.raises(ValueError, match="at least 2 views.*num_views=1"):
        sample_multi_view_npairs(100, 1, 4, np.random.default_rng(0))


@pytest.mark.parametrize("min_separation", [1, 3, 10])
def test_npairs_batches_have_separated_times_and_different_views(min_separation: int) -> None:
    for num_frames in [20, 64, 300]:
        batch = min(8, (num_frames - 1) // min_separation + 1)
        for seed in range(10):
            anchor, positive = sample_multi_view_npairs(
                num_frames, 3, batch, np.random.default_rng(seed), min_separation
            )
            assert anchor.shape == positive.shape == (batch, 2)
            times = anchor[:, 1]
            assert (positive[:, 1] == times).all()
            assert (anchor[:, 0] != positive[:, 0]).all()
            assert ((times >= 0) & (times < num_frames)).all()
            gaps = np.abs(times[:, None] - times[None, :]) + np.eye(batch, dtype=int) * 10**6
            assert (gaps >= min_separation).all()


def test_npairs_tightest_fit_and_infeasible_batch() -> None:
    anchor, _ = sample_multi_view_npairs(31, 2, 4, np.random.default_rng(0), min_separation=10)
    assert sorted(anchor[:, 1]) == [0, 10, 20, 30]
    with pytest.raises(ValueError, match="batch_size=5.*T=31.*at most 4"):
        sample_multi_view_npairs(31, 2, 5, np.random.default_rng(0), min_separation=10)


def test_npairs_times_are_spread_over_the_episode() -> None:
    rng = np.random.default_rng(3)
    seen = np.concatenate([sample_multi_view_npairs(50, 2, 4, rng)[0][:, 1] for _ in range(500)])
    assert set(seen) == set(range(50))
