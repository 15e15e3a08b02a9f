"""Reading a demonstration by imagining oneself (imitation_agent.imagine)."""

from __future__ import annotations

import numpy as np
import pytest

from imitation_agent import Demonstration, EnvConfig, ImitationEnv
from imitation_agent.imagine import (
    ImagineConfig,
    cross_entropy_search,
    imagine_trajectory,
    pose_embedder,
    searched_frames,
)
from kuka_sim import DemoConfig, KukaSim, episode_seed, make_cameras, record_demonstration

LOWER, UPPER = np.full(7, -3.0), np.full(7, 3.0)
SCALE = np.array([4.0, 4.0, 3.0, 3.0, 2.0, 2.0, 1.0])  # a reader that sees the wrist least


def read_pose(poses: np.ndarray) -> np.ndarray:
    """A stand-in embedding that is an exact, unevenly scaled function of the pose."""
    return np.asarray(poses) * SCALE


def test_search_finds_a_minimum_and_never_ends_worse_than_it_began():
    target = np.array([0.3, -0.2, 0.1, 0.5, -0.4, 0.2, 0.0])
    start = target + np.array([0.2, -0.1, 0.15, -0.2, 0.1, 0.1, -0.2])

    def distance(poses):
        return np.sum((read_pose(poses) - read_pose(target[None])) ** 2, axis=1)

    rng = np.random.default_rng(0)
    found, d_end, d_start = cross_entropy_search(
        distance,
        start,
        0.2,
        rng,
        iterations=30,
        population=24,
        elites=6,
        lower=LOWER,
        upper=UPPER,
        smoothing=0.3,
    )
    assert np.linalg.norm(found - target) < 0.1 < 0.4 < np.linalg.norm(start - target)
    assert d_end == pytest.approx(distance(found[None])[0]) and d_end < d_start
    # From the minimum itself, the search keeps it.
    kept, d_kept, _ = cross_entropy_search(
        distance,
        target,
        0.2,
        rng,
        iterations=3,
        population=8,
        elites=2,
        lower=LOWER,
        upper=UPPER,
    )
    np.testing.assert_array_equal(kept, target)
    assert d_kept == 0.0


def test_imagining_follows_a_trajectory_from_its_start_and_is_reproducible():
    length = 31
    a = np.array([0.0, 0.3, 0.0, -1.0, 0.0, 0.5, 0.0])
    b = a + np.array([0.6, -0.4, 0.3, 0.5, -0.5, 0.4, 0.6])
    s = np.clip(np.arange(length) / 24, 0, 1)[:, None]
    truth = a + (3 * s**2 - 2 * s**3) * (b - a)  # a smooth move, then a hold
    config = ImagineConfig(every=4, iterations=20, final_iterations=30)
    imagined = imagine_trajectory(read_pose(truth), truth[0], read_pose, LOWER, UPPER, config)
    assert imagined.shape == truth.shape
    np.testing.assert_array_equal(imagined[0], truth[0])
    errors = np.linalg.norm(imagined - truth, axis=1)
    assert errors[-1] < 0.05 and errors.max() < 0.2
    again = imagine_trajectory(read_pose(truth), truth[0], read_pose, LOWER, UPPER, config)
    np.testing.assert_array_equal(again, imagined)
    assert searched_frames(length, 4) == [4, 8, 12, 16, 20, 24, 28, 30]
    # Between searched frames the trajectory is a straight line in joint space.
    np.testing.assert_allclose(imagined[6], (imagined[4] + imagined[8]) / 2)


def test_rendered_frames_at_the_recorded_poses_read_the_demonstration_exactly():
    camera = make_cameras(1, 24)[0]
    episode = record_demonstration(episode_seed(2, 0), [camera], demo_config=DemoConfig(frames=12))

    def pixels(frames):
        return frames.reshape(len(frames), -1).astype(np.float64)

    sim = KukaSim()
    try:
        embed_poses = pose_embedder(sim, camera, pixels)
        np.testing.assert_array_equal(
            embed_poses(episode.joint_positions), pixels(episode.frames[0])
        )
    finally:
        sim.close()


def test_bad_settings_and_inputs_are_refused():
    with pytest.raises(ValueError, match="every must be at least 1"):
        ImagineConfig(every=0)
    with pytest.raises(ValueError, match="elites"):
        ImagineConfig(population=4, elites=5)
    with pytest.raises(ValueError, match="unknown imagine settings"):
        ImagineConfig.from_dict({"evry": 3})
    with pytest.raises(ValueError, match="need goals"):
        imagine_trajectory(np.zeros((1, 7)), np.zeros(7), read_pose, LOWER, UPPER)


def test_env_observes_the_imagined_trajectory_as_the_demonstrations_target():
    camera = make_cameras(1, 24)[0]
    episode = record_demonstration(episode_seed(3, 0), [camera], demo_config=DemoConfig(frames=20))
    joints = episode.joint_positions
    embeddings = np.zeros((len(joints), 4), np.float32)
    imagined = joints + 0.05
    demo = Demonstration("d", joints, embeddings, camera, imagined_joints=imagined)
    config = EnvConfig(pose_features=True, pose_source="imagined", lookahead=2)
    env = ImitationEnv([demo], config, embedder=lambda f: np.zeros((len(f), 4), np.float32))
    env.reset(seed=0)
    obs = env.step(np.full(7, 0.2, np.float32))[0]
    q = env.sim.joint_positions()
    np.testing.assert_allclose(obs[env.layout.pose_w], q, atol=1e-6)
    np.testing.assert_allclose(obs[env.layout.pose_target], imagined[3], atol=1e-6)
    np.testing.assert_allclose(obs[env.layout.pose_error], imagined[3] - q, atol=1e-6)
    env.close()
    with pytest.raises(ValueError, match="needs each demonstration's imagined joints"):
        ImitationEnv([Demonstration("d", joints, embeddings, camera)], config)
    with pytest.raises(ValueError, match="imagined joints"):
        Demonstration("d", joints, embeddings, camera, imagined_joints=imagined[:-1])
