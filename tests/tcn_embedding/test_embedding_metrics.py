"""Metrics on embeddings whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from tcn_embedding.metrics import (
    UNLABELLED,
    alignment_error,
    classification_error,
    classification_errors,
    joint_probe_r2,
    mean_alignment_error,
    path_fraction,
    reach_attributes,
    reach_attributes_for_episodes,
    reach_classification_error,
    reach_classification_floors,
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
    """Neighbours come from the training episodes only, every view of them.
    train: episode 0 frames 0, 10 (labels 0, 1), view 2 of it at 100, 110; episode 1 at 20.
    val: 1 -> 0 (0 vs 0 ok), 9 -> 10 (1 vs 1 ok), 19 -> 20 (label 1 vs 0 wrong), 108 -> 110
    (view 2, label 0 vs 1 wrong); the unlabelled val frame at 50 does not count: 2 of 4."""
    train = [
        [np.array([[0.0], [10.0]]), np.array([[100.0], [110.0]])],
        [np.array([[20.0]]), np.array([[30.0]])],
    ]
    train_labels = {"a": [np.array([0, 1]), np.array([0])]}
    val = [[np.array([[1.0], [9.0], [50.0]])], [np.array([[19.0], [108.0]])]]
    val_labels = {"a": [np.array([0, 1, UNLABELLED]), np.array([1, 0])]}
    assert classification_errors(train, train_labels, val, val_labels) == {"a": pytest.approx(0.5)}


def test_an_unlabelled_neighbour_counts_as_a_different_label() -> None:
    train = [[np.array([[0.0], [10.0]])]]
    val = [[np.array([[1.0], [9.0]])]]
    labels = {"t": [np.array([UNLABELLED, 1])]}
    errors = classification_errors(train, labels, val, {"t": [np.array([1, 1])]})
    assert errors == {"t": pytest.approx(0.5)}


def loop_classification_errors(train, train_labels, val, val_labels) -> dict[str, float]:
    """The definition as a plain loop: every validation frame of every view against every
    frame of every view of the training episodes."""
    out = {}
    for name in val_labels:
        wrong = total = 0
        for e, views in enumerate(val):
            for view in views:
                for t, frame in enumerate(view):
                    label = val_labels[name][e][t]
                    if label == UNLABELLED:
                        continue
                    best, best_label = np.inf, None
                    for f, train_views in enumerate(train):
                        for train_view in train_views:
                            for s, other in enumerate(train_view):
                                d = float(np.sqrt(((frame - other) ** 2).sum()))
                                if d < best:
                                    best, best_label = d, train_labels[name][f][s]
                    wrong += int(best_label != label)
                    total += 1
        out[name] = wrong / total
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorised_classification_error_matches_a_plain_loop(seed) -> None:
    rng = np.random.default_rng(seed)
    views, dim = 2, 3

    def episodes(n):
        lengths = rng.integers(3, 9, n)
        emb = [[rng.normal(size=(t, dim)) for _ in range(views)] for t in lengths]
        labels = {
            "target": [rng.integers(-1, 4, t) for t in lengths],
            "phase": [rng.integers(0, 3, t) for t in lengths],
        }
        return emb, labels

    train, train_labels = episodes(5)
    val, val_labels = episodes(3)
    got = classification_errors(train, train_labels, val, val_labels)
    expected = loop_classification_errors(train, train_labels, val, val_labels)
    assert got == pytest.approx(expected)
    assert classification_error(train, train_labels, val, val_labels) == pytest.approx(
        np.mean(list(expected.values()))
    )


def test_classification_errors_refuse_mismatched_inputs() -> None:
    train = [[np.zeros((2, 3))]]
    labels = {"a": [np.zeros(2, int)]}
    with pytest.raises(ValueError, match="same attributes"):
        classification_errors(train, labels, train, {"b": [np.zeros(2, int)]})
    with pytest.raises(ValueError, match="3-D but validation ones 2-D"):
        classification_errors(train, labels, [[np.zeros((2, 2))]], labels)
    with pytest.raises(ValueError, match="3 labels for 2 frames"):
        classification_errors(train, {"a": [np.zeros(3, int)]}, train, labels)
    with pytest.raises(ValueError, match="labels no validation frame"):
        classification_errors(train, labels, train, {"a": [np.full(2, UNLABELLED)]})


# --- the reach task's attributes -------------------------------------------------------------


def ramp_then_still(moving: int = 42, still: int = 18) -> np.ndarray:
    """Joints 1 and 3 move at constant speed for ``moving`` frames, then hold."""
    s = np.concatenate([np.linspace(0.0, 1.0, moving), np.ones(still)])
    q = np.zeros((moving + still, 7))
    q[:, 1] = -1.0 + 2.0 * s
    q[:, 3] = 0.5 * s
    return q


def test_reach_attributes_by_hand() -> None:
    q = ramp_then_still()  # path done: t / 41 while moving, then 1 (no frame on a boundary)
    t = np.arange(60)
    np.testing.assert_allclose(path_fraction(q), np.minimum(t, 41) / 41)
    labels = reach_attributes(q, target=3)
    assert set(labels) == {"target", "phase"}
    assert all(v.shape == (60,) and v.dtype == np.int64 for v in labels.values())
    # target past half the path (t > 20.5), unlabelled before
    assert np.array_equal(labels["target"], np.where(t > 20.5, 3, UNLABELLED))
    # phase: path done < 0.25 (t < 10.25), 0.25-0.75, > 0.75 (t > 30.75)
    assert np.array_equal(labels["phase"], (t > 10.25).astype(int) + (t > 30.75))
    still = reach_attributes(np.full((5, 7), 0.3), target=0)  # never moves: all at 0
    assert (still["phase"] == 0).all() and (still["target"] == UNLABELLED).all()
    with pytest.raises(ValueError, match="class index"):
        reach_attributes(q, target=-1)
    with pytest.raises(ValueError, match="2 episodes' joint positions but 1 targets"):
        reach_attributes_for_episodes([q, q], [0])


def simulated_reach(n: int, rng: np.random.Generator, frames: int = 100) -> tuple[list, list]:
    """Joint-space reach episodes: minimum jerk from the task's home to one of its four
    targets (cycled), both perturbed uniformly by up to 0.2 rad per joint, then holding."""
    from kuka_sim.demo import REACH_HOME, REACH_TARGETS, DemoConfig, plan_trajectory

    config = DemoConfig(frames=frames)
    home, targets = np.array(REACH_HOME), np.array(REACH_TARGETS)
    joints, labels = [], []
    for i in range(n):
        start = home + rng.uniform(-0.2, 0.2, 7)
        goal = targets[i % 4] + rng.uniform(-0.2, 0.2, 7)
        joints.append(plan_trajectory(start, goal, config))
        labels.append(i % 4)
    return joints, labels


def chance(train_labels, val_labels) -> float:
    """What a neighbour drawn at random among the training frames scores, per attribute
    averaged: 1 - sum over classes of P(val label c) P(train frame labelled c)."""
    errors = []
    for name in val_labels:
        ref, query = np.concatenate(train_labels[name]), np.concatenate(val_labels[name])
        query = query[query != UNLABELLED]
        agree = sum(np.mean(query == c) * np.mean(ref == c) for c in np.unique(query))
        errors.append(1.0 - agree)
    return float(np.mean(errors))


def test_exact_joints_score_near_the_floor_and_random_near_chance() -> None:
    rng = np.random.default_rng(0)
    train_q, train_t = simulated_reach(40, rng)
    val_q, val_t = simulated_reach(8, rng)
    floors = reach_classification_floors(train_q, train_t, val_q, val_t, views=2, dim=16)
    joints, per_attribute = floors["joints"]
    assert set(per_attribute) == {"target", "phase"}
    assert joints < 0.1 and per_attribute["target"] < 0.05
    expected = chance(
        reach_attributes_for_episodes(train_q, train_t),
        reach_attributes_for_episodes(val_q, val_t),
    )
    assert 0.6 < expected < 0.85
    assert floors["random"][0] == pytest.approx(expected, abs=0.05)
    # The same computation as an embedding's: the joints floor is reach_classification_error
    # of the joints given as both views.
    same = reach_classification_error(
        [[q, q] for q in train_q], train_q, train_t, [[q, q] for q in val_q], val_q, val_t
    )
    assert same == floors["joints"]
    again = reach_classification_floors(train_q, train_t, val_q, val_t, views=2, dim=16)
    assert again["random"] == floors["random"]  # seeded


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
