"""Metrics on embeddings whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from tcn_embedding.metrics import (
    alignment_error,
    classification_error,
    classification_errors,
    frame_classification_error,
    joint_attributes,
    joint_attributes_for_episodes,
    joint_probe_r2,
    mean_alignment_error,
    mean_classification_error,
    triplet_accuracy,
)
from tcn_embedding.sampling import sample_single_view_triplets


def time_embedding(num_frames: int, scale: float = 1.0) -> np.ndarray:
    """(T, 2) embedding that moves along a line with time: perfectly time-contrastive."""
    t = np.arange(num_frames, dtype=np.float64)
    return scale * np.stack([t, 0.5 * t], axis=1)


# --- triplet accuracy ----------------------------------------------------------------------


def test_perfectly_separable_embeddings_score_one() -> None:
    episodes = [time_embedding(n) for n in (60, 80, 100)]
    assert triplet_accuracy(episodes, margin=0.2, seed=0) == (1.0, 1.0)


def test_constant_embeddings_score_zero_and_a_huge_margin_fails_everything() -> None:
    assert triplet_accuracy([np.ones((50, 4))] * 2) == (0.0, 0.0)
    acc, acc_margin = triplet_accuracy([time_embedding(80)], margin=1e9)
    assert (acc, acc_margin) == (1.0, 0.0)


def test_triplets_are_spread_evenly_over_episodes() -> None:
    """Five good and five constant episodes of ten: exactly 100 triplets each -> 0.5."""
    good, bad = time_embedding(70), np.zeros((70, 3))
    episodes = [good, bad] * 5
    assert triplet_accuracy(episodes, n_triplets=1000) == (0.5, 0.5)
    # 10 triplets over 3 episodes: 4, 3, 3.
    assert triplet_accuracy([good, np.zeros((70, 2)), np.zeros((70, 2))], n_triplets=10)[0] == 0.4


def test_triplet_accuracy_matches_a_loop_and_is_seeded() -> None:
    rng = np.random.default_rng(0)
    episodes = [rng.normal(size=(n, 3)) + time_embedding(n, 0.05)[:, :1] for n in (45, 60)]
    acc = triplet_accuracy(episodes, n_triplets=101, margin=0.5, seed=3)
    sampler = np.random.default_rng(3)
    hits = hits_margin = 0
    for emb, k in zip(episodes, (51, 50), strict=True):
        for a, p, n in sample_single_view_triplets(len(emb), k, sampler):
            d_ap = sum((emb[a][i] - emb[p][i]) ** 2 for i in range(3))
            d_an = sum((emb[a][i] - emb[n][i]) ** 2 for i in range(3))
            hits += d_ap < d_an
            hits_margin += d_ap + 0.5 < d_an
    assert acc == (hits / 101, hits_margin / 101)
    assert 0 < acc[0] < 1
    assert triplet_accuracy(episodes, n_triplets=101, margin=0.5, seed=3) == acc


def test_triplet_accuracy_names_the_short_episode() -> None:
    with pytest.raises(ValueError, match="episode 1.*T=20"):
        triplet_accuracy([time_embedding(50), time_embedding(20)])


# --- alignment error -----------------------------------------------------------------------


def test_time_index_embeddings_align_perfectly() -> None:
    views = [time_embedding(50), time_embedding(50) + 0.1, time_embedding(50) - 0.2]
    assert alignment_error(views) == 0.0


def test_reversed_view_alignment_by_hand() -> None:
    forward = np.arange(4.0)[:, None]
    # nearest of t in the reversed view is s = 3 - t: |t - s| = 3, 1, 1, 3 -> 2 / 4
    assert alignment_error([forward, forward[::-1]]) == pytest.approx(0.5)
    # three views: pairs (0,1): 0.5, (0,2): 0, (1,2): 0.5
    assert alignment_error([forward, forward[::-1], forward]) == pytest.approx(1 / 3)


def test_shuffled_embeddings_give_the_random_baseline() -> None:
    num_frames = 600
    rng = np.random.default_rng(0)
    views = [time_embedding(num_frames), time_embedding(num_frames)[rng.permutation(num_frames)]]
    assert alignment_error(views) == pytest.approx(1 / 3, abs=0.04)


def test_mean_alignment_error_averages_episodes() -> None:
    forward = np.arange(4.0)[:, None]
    episodes = [[forward, forward], [forward, forward[::-1]]]
    assert mean_alignment_error(episodes) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="at least 2 views"):
        alignment_error([forward])
    with pytest.raises(ValueError, match=r"\[4, 3\]"):
        alignment_error([forward, forward[:3]])


# --- classification error ------------------------------------------------------------------


def test_classification_error_by_hand() -> None:
    """Nearest neighbours from the other episode only:
    ep0: 0 -> 1 (0 vs 0 ok), 10 -> 9 (1 vs 0 wrong);
    ep1: 1 -> 0 ok, 9 -> 10 (0 vs 1 wrong), 20 -> 10 (1 vs 1 ok; 19 in its own episode is
    nearer but excluded), 19 -> 10 (0 vs 1 wrong). 3 wrong of 6."""
    emb = [np.array([[0.0], [10.0]]), np.array([[1.0], [9.0], [20.0], [19.0]])]
    labels = [np.array([0, 1]), np.array([0, 0, 1, 0])]
    assert classification_error(emb, labels) == pytest.approx(0.5)


def test_classification_errors_per_attribute_and_mean() -> None:
    emb = [np.array([[0.0], [10.0]]), np.array([[1.0], [9.0], [20.0], [19.0]])]
    attributes = {
        "a": [np.array([0, 1]), np.array([0, 0, 1, 0])],
        "all_same": [np.zeros(2, int), np.zeros(4, int)],
    }
    errors = classification_errors(emb, attributes)
    assert errors == {"a": pytest.approx(0.5), "all_same": 0.0}
    assert mean_classification_error(emb, attributes) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="at least 2 episodes"):
        classification_error(emb[:1], attributes["a"][:1])
    with pytest.raises(ValueError, match="'a'"):
        classification_errors(emb, {"a": [np.zeros(2), np.zeros(3)]})


# --- attributes from joints ----------------------------------------------------------------


def ramp_then_still(moving: int = 60, still: int = 30) -> np.ndarray:
    """Joints move linearly for ``moving`` frames then hold; joint 1 goes from -1 to 1."""
    s = np.concatenate([np.linspace(0.0, 1.0, moving), np.ones(still)])
    q = np.zeros((moving + still, 7))
    q[:, 1] = -1.0 + 2.0 * s
    q[:, 3] = 0.5 * s
    return q


def test_joint_attributes_by_hand() -> None:
    q = ramp_then_still()
    labels = joint_attributes(q)
    assert set(labels) == {"a1_band", "a2_band", "a4_band", "phase", "moving"}
    assert all(v.shape == (90,) and v.dtype == np.int64 for v in labels.values())
    # progress is t / 59 while moving, then 1
    t = np.arange(90)
    expected_phase = np.minimum(np.floor(3 * np.minimum(t, 59) / 59), 2)
    assert np.array_equal(labels["phase"], expected_phase)
    # central differences: moving up to frame 59 (half speed there), still from 60
    assert np.array_equal(labels["moving"], (t <= 59).astype(int))
    # A2 = -1 + 2 min(t, 59)/59 and A4 = 0.5 s over their own ranges -> thirds of progress
    assert np.array_equal(labels["a2_band"], expected_phase)
    assert np.array_equal(labels["a4_band"], expected_phase)
    assert (labels["a1_band"] == 0).all()  # A1 never moves


def test_joint_attributes_of_a_still_arm_are_all_zero() -> None:
    labels = joint_attributes(np.full((10, 7), 0.3))
    assert all((v == 0).all() for v in labels.values())


def test_joint_bands_share_one_range_across_episodes() -> None:
    low, high = ramp_then_still(), ramp_then_still() + 2.0  # A2 in [-1, 1] and [1, 3]
    per_episode = joint_attributes_for_episodes([low, high], band_joints=(1,))
    assert list(per_episode) == ["a2_band", "phase", "moving"]
    for q, got in zip([low, high], per_episode["a2_band"], strict=True):
        expected = joint_attributes(q, band_joints=(1,), band_ranges=[(-1.0, 3.0)])["a2_band"]
        assert np.array_equal(got, expected)
    assert set(per_episode["a2_band"][0]) == {0, 1}
    assert set(per_episode["a2_band"][1]) == {1, 2}
    with pytest.raises(ValueError, match="band_joints"):
        joint_attributes(low, band_joints=(7,))


def test_headline_classification_error_averages_what_one_frame_shows() -> None:
    errors = {"a1_band": 0.1, "a2_band": 0.3, "phase": 0.6, "moving": 0.4}
    assert frame_classification_error(errors) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="no \\*_band attribute"):
        frame_classification_error({"phase": 0.5})


# --- joint probe ---------------------------------------------------------------------------


def test_probe_recovers_a_linear_map_and_not_noise() -> None:
    rng = np.random.default_rng(0)
    w, b = rng.normal(size=(16, 7)), rng.normal(size=7)
    train_emb, val_emb = rng.normal(size=(400, 16)), rng.normal(size=(200, 16))
    r2 = joint_probe_r2(train_emb, train_emb @ w + b, val_emb, val_emb @ w + b, alpha=1e-3)
    assert r2 > 0.999
    noise = joint_probe_r2(
        train_emb, rng.normal(size=(400, 7)), val_emb, rng.normal(size=(200, 7))
    )
    assert noise < 0.05


def test_probe_accepts_per_episode_lists() -> None:
    rng = np.random.default_rng(1)
    w = rng.normal(size=(4, 7))
    emb = [rng.normal(size=(30, 4)) for _ in range(4)]
    q = [e @ w for e in emb]
    assert joint_probe_r2(emb[:3], q[:3], emb[3:], q[3:], alpha=1e-6) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="matching rows"):
        joint_probe_r2(emb[0], q[1][:10], emb[2], q[2])
