"""Reading a demonstration by imagining oneself (imitation_agent.imagine)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from imitation_agent.imagine import (
    FLIPS,
    MATCH_STAGES,
    REFINE_STAGES,
    REPRESENTATIONS,
    ImagineConfig,
    cross_entropy_search,
    edge_frames,
    flipped,
    flipped_resplit,
    frame_matcher,
    frame_refiner,
    frame_rms,
    imagine_demonstration,
    imagine_trajectory,
    match_floor,
    nearest_match,
    pose_embedder,
    pose_renderer,
    refine_final_pose,
    refine_in_frame,
    refine_pose,
    restart_poses,
    retrace,
    search_limits,
    searched_frames,
    still_frames,
    wide_restart_poses,
)
from kuka_sim import (
    DemoConfig,
    KukaSim,
    SimConfig,
    episode_seed,
    make_cameras,
    perturbed_lighting,
    record_demonstration,
)

LOWER, UPPER = np.full(7, -3.0), np.full(7, 3.0)
REFERENCE_REFINEMENT = {"refine_broyden": False, "refine_tolerance": 0.0}
SCALE = np.array([4.0, 4.0, 3.0, 3.0, 2.0, 2.0, 1.0])  # a reader that sees the wrist least


def read_pose(poses: np.ndarray) -> np.ndarray:
    """A stand-in embedding that is an exact, unevenly scaled function of the pose."""
    return np.asarray(poses) * SCALE


def test_each_frame_s_edges_are_its_own_whatever_batch_it_is_in():
    # A batch is a stack of frames, not a volume: no frame's representation depends on its
    # neighbours.
    from scipy.ndimage import gaussian_filter, sobel

    frames = np.random.default_rng(0).integers(0, 256, size=(3, 12, 16, 3)).astype(np.uint8)
    for represent in REPRESENTATIONS.values():
        batch = represent(frames, 1.0)
        alone = np.concatenate([represent(frame[None], 1.0) for frame in frames])
        np.testing.assert_allclose(batch, alone, atol=1e-12)
    batch = edge_frames(frames, blur=1.0)

    grey = gaussian_filter(frames[1].mean(axis=-1) / 255.0, sigma=1.0)
    magnitude = np.hypot(sobel(grey, axis=0), sobel(grey, axis=1)).ravel()
    np.testing.assert_allclose(batch[1], 0.05 * magnitude / (magnitude.mean() + 1e-9), atol=1e-12)


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


def test_a_demonstration_at_rest_is_read_once_and_its_refined_pose_held():
    length, rest = 31, 24
    a = np.array([0.0, 0.3, 0.0, -1.0, 0.0, 0.5, 0.0])
    b = a + np.array([0.6, -0.4, 0.3, 0.5, -0.5, 0.4, 0.6])
    s = np.clip(np.arange(length) / rest, 0, 1)[:, None]
    truth = a + (3 * s**2 - 2 * s**3) * (b - a)  # at rest from frame 24 on: 7 still frames
    frames = np.zeros((length, 2, 2, 3), np.uint8)
    frames[:rest, 0, 0, 0] = np.arange(rest)
    exact = 0.0  # these frames differ by one intensity level a frame: compare them exactly
    assert still_frames(frames, exact) == length - rest == 7
    assert still_frames(frames[:rest], exact) == 1 and still_frames(frames[:1], exact) == 1
    assert searched_frames(length, 4, still=7) == [4, 8, 12, 16, 20, 24]
    refined = []

    def refine(t, pose, last):
        refined.append((t, last))
        return truth[-1] if last else pose

    config = ImagineConfig(every=4, iterations=2, final_iterations=2)
    imagined = imagine_trajectory(
        read_pose(truth), truth[0], read_pose, LOWER, UPPER, config, refine=refine, still=7
    )
    assert refined == [(t, t == 24) for t in (4, 8, 12, 16, 20, 24)]
    np.testing.assert_array_equal(imagined[rest:], np.repeat(truth[-1:], length - rest, axis=0))
    np.testing.assert_allclose(imagined[22], (imagined[20] + imagined[24]) / 2)


def test_retracing_mends_a_key_that_slipped_to_a_look_alike_pose_from_the_end():
    times = np.arange(0, 60, 10)
    truth = np.linspace(0.0, 1.0, len(times))[:, None] * np.array(
        [1.0, -0.5, 0.8, 0.3, 1.0, 0.2, 1.5]
    )
    keys = [pose.copy() for pose in truth]
    keys[2][-1] += np.pi  # the flange read half a turn round at frame 20
    keys[3][-1] += np.pi - 0.1  # and still at frame 30; from frame 40 on the track is back
    calls = []

    def match(t, pose, last):
        """A stand-in warm start: a pose within 0.4 rad of the frame's settles on it; the
        difference left is the distance to it, or a look-alike's small one at a half turn."""
        calls.append(t)
        true = truth[t // 10]
        if np.linalg.norm(pose - true) < 0.4:
            return true.copy(), True, 0.0
        return pose, False, 0.01 if abs(abs(pose[-1] - true[-1]) - np.pi) < 0.4 else 0.1

    config = ImagineConfig()
    tried = retrace(keys, list(times[1:]), match, LOWER - 9, UPPER + 9, config)
    np.testing.assert_allclose(np.stack(keys), truth)
    assert tried == 2 and sorted(set(calls)) == [20, 30]  # the agreeing keys: no renders
    # A track that agrees with itself from the end is left as it is, without renders.
    calls.clear()
    assert retrace(keys, list(times[1:]), match, LOWER - 9, UPPER + 9, config) == 0
    assert not calls


@pytest.fixture(scope="module")
def recorded():
    """A demonstration of 8 frames in the measured scene (data/tool_c19t2: the tool twice its
    size, a camera that keeps the whole arm in view) at its 96 px, and a simulator that
    renders it."""
    camera = replace(make_cameras(1, 96)[0], distance=1.9, pitch=-30.0)
    sim_config = SimConfig(tool_scale=2.0)
    demo_config = DemoConfig(frames=8)
    episode = record_demonstration(episode_seed(4, 0), [camera], sim_config, demo_config)
    sim = KukaSim(sim_config)
    yield sim, camera, episode
    sim.close()


@pytest.fixture(scope="module")
def scene(recorded):
    """The recorded goal pose and its frame, and the simulator that renders it."""
    sim, camera, episode = recorded
    return sim, camera, episode.joint_positions[-1], episode.frames[0][-1]


def test_restarts_turn_the_flange_and_move_coupled_joints_apart_keeping_their_sum():
    pose = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 3.0])
    starts = restart_poses(pose, ImagineConfig(refine_turns=3, refine_pairs=2))
    assert len(starts) == 1 + 3 + 3 * 2 * 2
    np.testing.assert_array_equal(starts[0], pose)
    turned = np.array([start[-1] for start in starts[1:4]])
    np.testing.assert_allclose(turned, [3.0 + np.pi / 2 - 2 * np.pi, 3.0 - np.pi, 3.0 - np.pi / 2])
    for start in starts[4:]:
        moved = np.flatnonzero(start != pose)
        assert tuple(moved) in {(0, 2), (2, 4), (4, 6)}
        assert start[moved].sum() == pytest.approx(pose[moved].sum())
    assert len(restart_poses(pose, ImagineConfig(refine_turns=0, refine_pairs=0))) == 1


def test_a_flip_leaves_every_link_beyond_its_joints_where_it_was(scene):
    sim = scene[0]
    lower, upper = search_limits(sim)
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(5):
        # Each joint 0.3 to 1.4 rad either way: room for a half turn within the limits.
        pose = rng.uniform(0.3, 1.4, size=7) * rng.choice([-1.0, 1.0], size=7)
        sim.reset(pose)
        before = sim.keypoints()  # link origins A1..A7, then the tool's parts
        for triple in FLIPS:
            turned = flipped(pose, triple, lower, upper)
            assert turned is not None
            moved = np.flatnonzero(np.abs(turned - pose) > 1e-12)
            assert set(moved) <= set(triple) and np.allclose(
                np.abs(turned - pose)[[triple[0], triple[2]]], np.pi
            )
            sim.reset(turned)
            # The link of the triple's last joint and every one beyond it: in place.
            np.testing.assert_allclose(
                sim.keypoints()[triple[2] :], before[triple[2] :], atol=1e-9
            )
            checked += 1
    assert checked == 15
    # No half turn fits where a joint sits at the middle of a range narrower than 2 pi.
    assert flipped(np.zeros(7), FLIPS[0], lower, upper) is None


def test_wide_restarts_flip_and_move_apart_within_the_limits():
    pose = np.array([0.5, 0.2, -0.6, 0.4, 0.5, -0.6, 1.0])
    lower, upper = np.full(7, -2.9), np.full(7, 2.9)
    starts = wide_restart_poses(pose, lower, upper)
    # A flip turns joints by pi and mirrors others; a re-split does neither to its pair.
    flips = [
        s
        for s in starts
        if np.max(np.abs(s - pose)) > np.pi - 1e-9
        and np.all(np.isclose(np.abs(s - pose), np.pi) | np.isclose(np.abs(s), np.abs(pose)))
    ]
    assert len(flips) == 7  # every combination of the three flips fits here
    # Each triple's pair re-split at its own sum, and the wrist's (A5 + A7 = 1.5) also at
    # its sum less a revolution; the others' sums turned a revolution leave the limits.
    assert len(starts) == 7 + 3 + 1 + 3 * 3 * 2 + 2 * 2
    assert all(np.all(s >= lower) and np.all(s <= upper) for s in starts)


# A pose near the elbow's singularity (A4 0.37) and the reading that a track left there:
# the elbow flipped and its outer pair (A3, A5) traded about 1.6 rad (robust set, episode 4).
ELBOW_POSE = np.array([-0.4, 1.24, 1.47, 0.37, 1.74, 0.36, -1.78])
ELBOW_MISREAD = np.array([-0.6, 1.11, 0.21, -0.24, -2.83, 0.57, -2.19])


def test_a_flip_re_split_keeps_or_turns_its_pair_s_sum_by_a_revolution_within_the_limits():
    lower, upper = np.full(7, -2.96), np.full(7, 2.96)
    starts = flipped_resplit(ELBOW_MISREAD, FLIPS[1], lower, upper)
    total = ELBOW_MISREAD[2] + ELBOW_MISREAD[4]
    # Kept (-2.62) and turned up (3.66) fit the limits; turned down (-8.9) does not.
    np.testing.assert_allclose([s[2] + s[4] for s in starts], [total, total + 2 * np.pi])
    for start in starts:
        assert np.all(start >= lower) and np.all(start <= upper)
        assert start[3] == -ELBOW_MISREAD[3]
        np.testing.assert_array_equal(start[[0, 1, 5, 6]], ELBOW_MISREAD[[0, 1, 5, 6]])
        # Split at the middle of what the limits allow: both as far from a limit.
        margins = [min(start[j] - lower[j], upper[j] - start[j]) for j in (2, 4)]
        assert margins[0] == pytest.approx(margins[1])
    # The middle joint's mirror must fit too.
    assert flipped_resplit(ELBOW_MISREAD, FLIPS[1], lower, np.r_[upper[:3], 0.1, upper[4:]]) == []


def test_a_flip_the_limits_forbid_is_reached_by_re_splitting_its_pair(scene):
    sim, camera, _, _ = scene
    render, (lower, upper) = pose_renderer(sim, camera), search_limits(sim)
    frame = render(ELBOW_POSE[None])[0]
    config = ImagineConfig(refine_iterations=6)

    def refined_error(start):
        return np.linalg.norm(
            refine_in_frame(render, frame, start, lower, upper, config)[0] - ELBOW_POSE
        )

    # Neither the misread pose nor its flip (A3 turned the way the limits allow) refine
    # out of it: the true pose is the flip with A3 turned the other way, beyond its limit.
    assert refined_error(ELBOW_MISREAD) > 3.0
    assert refined_error(flipped(ELBOW_MISREAD, FLIPS[1], lower, upper)) > 3.0
    errors = [refined_error(s) for s in flipped_resplit(ELBOW_MISREAD, FLIPS[1], lower, upper)]
    assert min(errors) < 0.5


def test_a_searched_frame_that_does_not_match_is_restarted(scene):
    sim, camera, _, _ = scene
    render = pose_renderer(sim, camera)
    frame = render(ELBOW_POSE[None])[0]
    start = ELBOW_POSE + np.array([0.0, 0.0, 1.0, 0.0, -1.0, 0.0, 0.0])  # (A3, A5) traded
    config = ImagineConfig(refine_iterations=10, match_iterations=2)
    found = {}
    for restarts in (False, True):
        refine = frame_refiner(sim, camera, frame[None], replace(config, track_restarts=restarts))
        found[restarts] = refine(0, start, False)
    # Refined alone, the pose stays where the pair traded its angles, and its frame does
    # not match; restarted, a pair moved apart finds the frame's pose.
    assert frame_rms(render, frame, found[False], config) > config.match_rms
    assert np.linalg.norm(found[False] - ELBOW_POSE) > 1.0
    assert frame_rms(render, frame, found[True], config) <= config.match_rms
    assert np.linalg.norm(found[True] - ELBOW_POSE) < 0.3


def test_a_reading_at_a_flipped_shoulder_is_restarted_to_the_frame_s_pose(scene):
    sim, camera, _, _ = scene
    render, (lower, upper) = pose_renderer(sim, camera), search_limits(sim)
    goal = np.array([0.6, 0.5, -0.7, -1.1, 0.5, 0.9, 0.3])
    frame = render(goal[None])[0]
    start = flipped(goal, FLIPS[0], lower, upper) + 0.02
    config = ImagineConfig(refine_iterations=6, match_iterations=2, wide_rounds=1)
    # The first restarts (flange turns, pairs moved apart) stay at the flipped shoulder.
    stuck = refine_final_pose(render, frame, start, lower, upper, replace(config, final_rms=None))
    assert np.linalg.norm(stuck - goal) > 2.0
    assert frame_rms(render, frame, stuck, config) > config.final_rms
    # Its frame does not match, so the wide restarts run, and the flip finds the goal.
    found = refine_final_pose(render, frame, start, lower, upper, config)
    assert np.linalg.norm(found - goal) < 0.1
    # Under noise (a floor above final_rms) the check cannot tell the flip from the pose;
    # the first wide round runs anyway.
    floor = 2 * frame_rms(render, frame, stuck, config)
    assert frame_rms(render, frame, stuck, config) <= np.hypot(config.final_rms, floor)
    found = refine_final_pose(render, frame, start, lower, upper, config, floor)
    assert np.linalg.norm(found - goal) < 0.1


def test_of_frames_alike_the_one_nearest_the_track_wins():
    truth = np.array([-1.75, 1.17, 1.49, -0.02, 1.1, -0.19, -0.26])
    half_turn = truth + np.pi * np.eye(7)[6]  # the flange half a turn round
    off = truth + 1.0
    refined = [(half_turn, 1.6e-4), (truth + 0.02, 3.9e-4), (off, 5.0)]
    # The frame differs a little less at the half turn; the track's search is near the truth.
    np.testing.assert_array_equal(nearest_match(refined, truth + 0.1, 1e-3)[0], truth + 0.02)
    np.testing.assert_array_equal(nearest_match(refined, half_turn, 1e-3)[0], half_turn)
    # A difference beyond the margin is no look-alike: the least difference wins.
    np.testing.assert_array_equal(nearest_match(refined, truth + 0.1, 1e-4)[0], half_turn)
    assert nearest_match(refined, off, 1e-3)[1] == 3.9e-4


def test_rest_is_told_from_the_last_slow_frames_by_the_demonstration_s_own_noise():
    length, rest = 30, 20
    frames = np.full((length, 32, 32, 3), 100, np.uint8)
    for t in range(rest):  # the left half brightens one level a frame until frame 20
        frames[t, :, :16] += rest - t
    # Frames 17 to 19 lie within STILL_TOLERANCE of the rest: no noise, so only the
    # identical frames count.
    assert still_frames(frames) == length - rest
    rng = np.random.default_rng(0)
    noisy = np.clip(np.rint(frames + rng.normal(0.0, 5.0, frames.shape)), 0, 255)
    assert length - rest <= still_frames(noisy.astype(np.uint8)) <= length - rest + 2


def test_refining_in_the_frame_finds_the_pose_a_search_left_it_near(scene):
    sim, camera, goal, frame = scene
    render, (lower, upper) = pose_renderer(sim, camera), search_limits(sim)
    start = goal + 0.1 * np.array([1.0, -1.0, 1.0, 1.0, -1.0, 1.0, -1.0])  # 0.26 rad away
    found, cost = refine_pose(render, frame, start, lower, upper, iterations=15)
    assert np.linalg.norm(found - goal) < 0.4 * np.linalg.norm(start - goal)
    _, start_cost = refine_pose(render, frame, start, lower, upper, iterations=0)
    assert 0 <= cost < start_cost
    # At the demonstration's own pose the frames are equal, and the refinement stays there.
    kept, zero = refine_pose(render, frame, goal, lower, upper, iterations=3)
    np.testing.assert_array_equal(kept, np.clip(goal, lower, upper))
    assert zero == 0.0


def test_contrast_tells_the_pose_apart_under_other_light_better_than_pixels(scene):
    sim, camera, goal, frame = scene
    render = pose_renderer(sim, camera)
    off = goal + 0.02 * np.array([1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0])  # 0.05 rad away
    sim.reset(goal)
    lit = sim.render(camera, perturbed_lighting(30.0, 0.2, np.random.default_rng(3)))
    assert np.abs(lit.astype(float) - frame).mean() > 3  # the light changed the frame
    blur = MATCH_STAGES[0][0]

    def misfit(compare: str) -> tuple[float, float]:
        """The lit frame's difference from the true pose's frame and the other pose's."""
        represent = REPRESENTATIONS[compare]
        goal_code = represent(lit[None], blur)[0]
        true, other = represent(render(np.stack([goal, off])), blur) - goal_code
        return float(true @ true), float(other @ other)

    # The true pose's frame differs from the lit one far less than the other pose's does in
    # contrast; in pixels the light's change is most of what is left.
    contrast, pixels = misfit("contrast"), misfit("pixels")
    assert contrast[0] < 0.2 * contrast[1]
    assert contrast[0] / contrast[1] < 0.3 * pixels[0] / pixels[1]
    # Refined in contrast, the exact pose's own frame is kept at zero difference.
    config = ImagineConfig(compare="contrast", refine_iterations=3)
    kept, zero = refine_in_frame(render, frame, goal, *search_limits(sim), config)
    np.testing.assert_array_equal(kept, np.clip(goal, *search_limits(sim)))
    assert zero == 0.0


def test_a_restart_a_half_turn_of_the_flange_away_is_kept_for_the_frame_it_matches(scene):
    sim, camera, goal, frame = scene
    render, (lower, upper) = pose_renderer(sim, camera), search_limits(sim)
    turned = goal + 0.03 * np.array([1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 0.0])
    turned[-1] += np.pi if goal[-1] < 0 else -np.pi  # the flange a half turn away
    # Central differences each round (the settings before issue 19), then the fast defaults
    # (Broyden's updates, early stop), which end less precisely.
    for refinement, radius in ((REFERENCE_REFINEMENT, 0.05), ({}, 0.15)):
        config = ImagineConfig(refine_iterations=6, refine_turns=0, refine_pairs=0, **refinement)
        alone = refine_final_pose(render, frame, turned, lower, upper, config)
        restarted = refine_final_pose(
            render, frame, turned, lower, upper, replace(config, refine_turns=1)
        )
        assert np.linalg.norm(restarted - goal) < radius
        assert np.linalg.norm(restarted - goal) < np.linalg.norm(alone - goal)


def test_the_fast_refinement_keeps_an_exact_pose_and_reads_known_poses_back_exactly(recorded):
    sim, camera, episode = recorded
    frames, joints = episode.frames[0], episode.joint_positions
    config = ImagineConfig(  # the fast settings (docs/benchmarks.md)
        refine_broyden=True, refine_tolerance=0.01, match_rms=0.005, restarts_kept=3
    )
    rendered = []
    render, (lower, upper) = pose_renderer(sim, camera), search_limits(sim)

    def counted(poses):
        rendered.append(len(poses))
        return render(poses)

    # At the frame's own pose the difference is 0: kept, one frame a stage and no Jacobian.
    kept, zero = refine_pose(
        counted, frames[-1], joints[-1], lower, upper, 15, broyden=True, tolerance=0.01
    )
    np.testing.assert_array_equal(kept, np.clip(joints[-1], lower, upper))
    assert zero == 0.0 and sum(rendered) == len(REFINE_STAGES)
    # Each frame of a demonstration rendered at known poses matches there, exactly.
    match = frame_matcher(sim, camera, frames, config)
    for t in range(len(frames)):
        found, matched, rms = match(t, joints[t], False)
        np.testing.assert_array_equal(found, np.clip(joints[t], lower, upper))
        assert matched and rms == 0.0
    # The last frame's restarts, screened or not, keep the exact pose.
    for kept_restarts in (0, 3):
        final = replace(config, restarts_kept=kept_restarts)
        found = refine_final_pose(render, frames[-1], joints[-1], lower, upper, final)
        np.testing.assert_array_equal(found, np.clip(joints[-1], lower, upper))
    # Read as a whole, a demonstration at rest at its first pose is read back exactly.
    still = np.repeat(frames[:1], 12, axis=0)
    short = replace(config, iterations=2, final_iterations=2)
    imagined = imagine_demonstration(
        sim, camera, still, joints[0], lambda f: f.reshape(len(f), -1) / 255.0, short
    )
    np.testing.assert_array_equal(imagined, np.repeat(np.clip(joints[:1], lower, upper), 12, 0))


def test_the_warm_start_allows_for_what_the_renderer_cannot_match_at_a_known_pose(scene):
    sim, camera, goal, frame = scene
    render = pose_renderer(sim, camera)
    rng = np.random.default_rng(0)
    noisy = np.clip(np.rint(frame + rng.normal(0.0, 12.0, (2, *frame.shape))), 0, 255)
    noisy = noisy.astype(np.uint8)
    config = ImagineConfig(match_iterations=2)
    assert match_floor(render, frame, goal, config) == 0.0
    floor = match_floor(render, noisy[0], goal, config)  # the known pose's noisy frame
    assert config.match_rms < floor < 0.02
    # Another noisy frame at the arm's own pose: no match below match_rms, a match once
    # the floor is allowed for.
    assert not frame_matcher(sim, camera, noisy, config)(1, goal, False)[1]
    assert frame_matcher(sim, camera, noisy, config, floor=floor)(1, goal, False)[1]


def test_a_last_frame_that_the_motion_predicts_is_not_searched_with_final_match(recorded):
    sim, camera, episode = recorded
    frames, joints = episode.frames[0], episode.joint_positions
    still = np.repeat(frames[:1], 12, axis=0)  # at rest at its first pose
    counts = {}
    for final_match in (False, True):
        config = ImagineConfig(iterations=2, final_iterations=2, final_match=final_match)
        rendered = []

        def embed(f, rendered=rendered):
            rendered.append(len(f))
            return f.reshape(len(f), -1) / 255.0

        imagined = imagine_demonstration(sim, camera, still, joints[0], embed, config)
        np.testing.assert_array_equal(imagined[-1], np.clip(joints[0], *search_limits(sim)))
        counts[final_match] = sum(rendered)
    assert counts[True] < counts[False]


def test_bad_settings_and_inputs_are_refused():
    with pytest.raises(ValueError, match="every must be at least 1"):
        ImagineConfig(every=0)
    with pytest.raises(ValueError, match="elites"):
        ImagineConfig(population=4, elites=5)
    with pytest.raises(ValueError, match="refine_pairs must be >= 0"):
        ImagineConfig(refine_pairs=-1)
    with pytest.raises(ValueError, match="wide_restarts_kept must be >= 0"):
        ImagineConfig(wide_restarts_kept=-1)
    with pytest.raises(ValueError, match="refine_tolerance must be in"):
        ImagineConfig(refine_tolerance=1.0)
    with pytest.raises(ValueError, match="compare must be one of"):
        ImagineConfig(compare="sift")
    with pytest.raises(ValueError, match="calibrate_compare must be one of"):
        ImagineConfig(calibrate_compare="sift")
    with pytest.raises(ValueError, match="match_rms must be >= 0 or None"):
        ImagineConfig(match_rms=-0.1)
    with pytest.raises(ValueError, match="unknown imagine settings"):
        ImagineConfig.from_dict({"evry": 3})
    with pytest.raises(ValueError, match="need goals"):
        imagine_trajectory(np.zeros((1, 7)), np.zeros(7), read_pose, LOWER, UPPER)
