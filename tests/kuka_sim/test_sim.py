"""The simulated iiwa: control modes, limits, cameras, determinism."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from kuka_sim import (
    CameraConfig,
    ControlMode,
    DemoConfig,
    KukaSim,
    Lighting,
    SimConfig,
    episode_seed,
    make_cameras,
    plan_trajectory,
    record_demonstration,
)

HOME = np.array([0.0, 0.5, 0.0, -1.0, 0.0, 0.5, 0.0])


def run(sim: KukaSim, action: np.ndarray, steps: int) -> np.ndarray:
    for _ in range(steps):
        sim.step(action)
    return sim.joint_positions()


def test_torques_move_the_arm_with_servos_off():
    """The published code left PyBullet's velocity servos on and its torques moved nothing."""
    with KukaSim(SimConfig(control_mode="torque")) as sim:
        sim.reset(HOME)
        torque = np.zeros(7)
        torque[0] = 30.0  # base yaw: no gravity load, so only the command can move it
        q = run(sim, torque, 10)  # 0.5 s
        assert q[0] - HOME[0] > 0.3
        sim.reset(HOME)
        q = run(sim, -torque, 10)
        assert HOME[0] - q[0] > 0.3


def test_servo_left_on_would_block_torques():
    """The control: the same torque with PyBullet's default velocity servo barely moves."""
    with KukaSim(SimConfig(control_mode="torque")) as sim:
        sim.reset(HOME)
        sim._client.setJointMotorControlArray(  # what the published implementation did
            sim.robot, sim.joint_indices, 2, targetVelocities=[0.0] * 7, forces=[500.0] * 7
        )
        sim._client.setJointMotorControl2(sim.robot, 0, 3, force=30.0)
        for _ in range(120):
            sim._client.stepSimulation()
        assert abs(sim.joint_positions()[0] - HOME[0]) < 0.05


def test_gravity_compensation_makes_torques_an_overlay():
    def drop(gravity_compensation: bool) -> float:
        with KukaSim(
            SimConfig(control_mode="torque", gravity_compensation=gravity_compensation)
        ) as sim:
            sim.reset(HOME)
            return float(np.abs(run(sim, np.zeros(7), 5) - HOME).max())  # 0.25 s

    assert drop(True) < 0.05
    assert drop(False) > 5 * drop(True)


def test_joint_limits_hold_under_maximum_torque():
    with KukaSim(SimConfig(control_mode="torque")) as sim:
        for sign in (1.0, -1.0):
            sim.reset(np.zeros(7))
            for _ in range(40):  # 2 s at full torque
                sim.step(sign * sim.max_torques)
                q = sim.joint_positions()
                assert np.all(q <= sim.upper_limits + 0.02), q - sim.upper_limits
                assert np.all(q >= sim.lower_limits - 0.02), q - sim.lower_limits
        assert sim.clamps.torque.sum() == 0  # max torque itself is within limits


def test_torque_commands_are_clamped_and_counted():
    with KukaSim(SimConfig(control_mode="torque")) as sim:
        sim.reset(HOME)
        sim.step(np.full(7, 1000.0))
        np.testing.assert_allclose(sim.last_torques, sim.max_torques)
        assert sim.clamps.torque.tolist() == [1] * 7


@pytest.mark.parametrize("mode", ["torque", "position", "position_delta"])
def test_non_finite_commands_are_rejected(mode):
    with KukaSim(SimConfig(control_mode=mode)) as sim:
        sim.reset(HOME)
        before = sim.joint_positions()
        for bad in (np.nan, np.inf):
            action = np.zeros(7)
            action[3] = bad
            with pytest.raises(ValueError, match="non-finite"):
                sim.step(action)
        np.testing.assert_array_equal(sim.joint_positions(), before)
        with pytest.raises(ValueError, match="7 values"):
            sim.step(np.zeros(6))


def test_position_mode_reaches_target_and_delta_mode_moves_by_delta():
    target = np.array([0.4, 0.7, -0.3, -1.2, 0.2, 0.6, 0.1])
    with KukaSim(SimConfig(control_mode="position")) as sim:
        sim.reset(HOME)
        np.testing.assert_allclose(run(sim, target, 20), target, atol=0.01)
        sim.set_control_mode(ControlMode.POSITION_DELTA)
        delta = np.full(7, 0.05)
        q0 = sim.joint_positions()
        run(sim, delta, 4)
        for _ in range(3):
            sim.hold()  # deltas accumulate on the target; let the arm settle on it
        np.testing.assert_allclose(sim.joint_positions(), q0 + 4 * delta, atol=0.01)
        sim.step(np.full(7, 1.0))  # beyond max_position_delta: clamped and counted
        assert sim.clamps.position_delta.tolist() == [1] * 7


def test_position_targets_are_clipped_to_joint_limits():
    with KukaSim(SimConfig(control_mode="position")) as sim:
        sim.reset(np.zeros(7))
        q = run(sim, np.full(7, 10.0), 40)
        assert np.all(q <= sim.upper_limits + 0.02)


def test_reset_outside_limits_is_an_error():
    with KukaSim() as sim, pytest.raises(ValueError, match="outside joint limits"):
        sim.reset(np.full(7, 4.0))


def test_render_shape_and_that_the_camera_sees_the_arm():
    cameras = make_cameras(2, 40)
    with KukaSim(cameras=cameras) as sim:
        sim.reset(HOME)
        a = sim.render(0)
        sim.reset(np.array([1.5, 1.0, 0.0, 0.5, 0.0, 0.0, 0.0]))
        b = sim.render(0)
        views = sim.render_all()
    assert a.shape == (40, 40, 3) and a.dtype == np.uint8
    assert len(views) == 2 and not np.array_equal(views[0], views[1])
    assert np.abs(a.astype(int) - b).mean() > 1.0  # a different pose looks different


def test_the_composited_frame_is_the_whole_scene_drawn_at_once():
    """render draws the arm alone over the plane's frame, rendered once per camera and
    light; the whole scene drawn in one pass (the non-tiny renderer path, which shows the
    plane, and which falls back to TinyRenderer without a display) gives the same pixels,
    also where a pose sinks links under the floor, in other light and a second camera."""
    cameras = [CameraConfig(width=48, height=40), CameraConfig(width=32, height=32, yaw=-70.0)]
    rng = np.random.default_rng(3)
    with KukaSim() as sim:
        poses = [HOME, *rng.uniform(sim.lower_limits, sim.upper_limits, size=(12, 7))]
        for i, pose in enumerate(poses):
            sim.reset(pose)
            camera = cameras[i % 2]
            light = (
                None if i % 3 else Lighting(direction=(10.0, -20.0, 80.0), color=(0.9, 0.8, 0.7))
            )
            drawn_at_once = sim.render(replace(camera, renderer="opengl"), light)
            np.testing.assert_array_equal(sim.render(camera, light), drawn_at_once)
    with KukaSim(SimConfig(ground_plane=False)) as bare, KukaSim() as scene:
        bare.reset(HOME)
        scene.reset(HOME)
        assert np.abs(scene.render(cameras[0]).astype(int) - bare.render(cameras[0])).max() > 30


def test_the_tool_makes_joint_7_visible():
    """The bare flange is a cylinder: turning A7 changes almost no pixel without the tool."""
    camera = CameraConfig(width=96, height=96, distance=0.8, target=(0.3, 0.0, 0.6))
    pose = np.array([0.3, 0.6, 0.0, -1.2, 0.0, 0.8, 0.0])
    turned = pose + np.array([0, 0, 0, 0, 0, 0, 1.5])
    changed = {}
    for tool in (False, True):
        with KukaSim(SimConfig(tool=tool)) as sim:
            sim.reset(pose)
            a = sim.render(camera)
            sim.reset(turned)
            b = sim.render(camera)
            sim.step(pose[:])  # position mode: the tool follows the flange as the arm moves
            assert not sim.in_collision()  # visual only: no contact with the arm
        changed[tool] = int((np.abs(a.astype(int) - b).max(axis=2) > 30).sum())
    assert changed[True] > 5 * max(changed[False], 1)
    assert changed[True] > 40


def test_keypoints_project_onto_what_the_camera_draws():
    """The red and green fingers' keypoints land on red and green pixels of the frame."""
    camera = CameraConfig(width=96, height=96)
    rng = np.random.default_rng(0)  # poses where neither finger is hidden
    with KukaSim(SimConfig(), [camera]) as sim:
        for _ in range(4):
            sim.reset(rng.uniform(-1.0, 1.0, 7))
            frame = sim.render(0).astype(int)
            points = sim.keypoints()
            assert points.shape == (10, 3)
            assert np.allclose(points[6], sim.ee_position())
            uv = camera.project(points)
            assert np.all(np.abs(uv) < 1.0)  # the default camera sees the whole arm
            columns, rows = ((uv[-2:] + 1.0) / 2.0 * 96).astype(int).T
            red, green = frame[rows[0], columns[0]], frame[rows[1], columns[1]]
            assert red[0] > red[1] + 60 and red[0] > red[2] + 60
            assert green[1] > green[0] + 60 and green[1] > green[2] + 60
    with KukaSim(SimConfig(tool=False)) as sim:
        assert sim.keypoints().shape == (7, 3)


def test_projection_puts_the_target_at_the_image_centre():
    camera = CameraConfig(width=64, height=48, yaw=20.0, pitch=-35.0, target=(0.1, 0.2, 0.5))
    assert np.allclose(
        camera.project(np.array([camera.target])), 0.0, atol=1e-6
    )  # float32 matrices
    with pytest.raises(ValueError, match="shaped"):
        camera.project(np.zeros(3))


def test_recordings_from_before_the_tool_replay_without_it():
    legacy = SimConfig().to_dict()
    del legacy["tool"], legacy["tool_scale"]
    assert SimConfig.from_dict(legacy).tool is False
    assert SimConfig.from_dict(SimConfig().to_dict()).tool is True
    assert SimConfig.from_dict(legacy).tool_scale == 1.0


def test_a_larger_tool_shows_the_wrist_turn_in_more_pixels():
    camera = CameraConfig(width=96, height=96)
    pose = np.array([0.3, 0.6, 0.0, -1.2, 0.0, 0.8, 0.0])
    changed, keypoints = {}, {}
    for scale in (1.0, 2.0):
        with KukaSim(SimConfig(tool_scale=scale)) as sim:
            sim.reset(pose)
            a = sim.render(camera)
            keypoints[scale] = sim.keypoints()
            sim.reset(pose + np.array([0, 0, 0, 0, 0, 0, 0.2]))
            b = sim.render(camera)
        changed[scale] = int((np.abs(a.astype(int) - b).max(axis=2) > 30).sum())
    assert changed[2.0] > 2 * changed[1.0] > 0
    flange = keypoints[1.0][6]
    assert np.allclose(keypoints[2.0][7:] - flange, 2 * (keypoints[1.0][7:] - flange))
    with pytest.raises(ValueError, match="tool_scale"):
        SimConfig(tool_scale=0.0)


def test_camera_config_round_trip_and_validation():
    camera = CameraConfig(name="side", width=96, height=64, fov=45, eye=(1.0, 1.0, 1.0))
    again = CameraConfig.from_dict(camera.to_dict())
    assert again == camera and again.view_matrix == camera.view_matrix
    k = camera.intrinsics()
    assert k[0, 2] == 48 and k[1, 2] == 32
    with pytest.raises(ValueError, match="fov"):
        CameraConfig(fov=0)
    with pytest.raises(ValueError, match="unknown camera config keys"):
        CameraConfig.from_dict({"widht": 3})
    yaws = [c.yaw for c in make_cameras(3, 32)]
    assert yaws[1] - yaws[0] == yaws[2] - yaws[1] >= 60  # views differ substantially


def test_sim_config_validation():
    with pytest.raises(ValueError, match="must divide"):
        SimConfig(control_rate=7)
    with pytest.raises(ValueError, match="control_mode|is not a valid"):
        SimConfig(control_mode="velocity")
    assert SimConfig.from_dict(SimConfig(control_rate=30).to_dict()) == SimConfig(control_rate=30)


def test_demonstration_is_deterministic_and_smooth(small_demo):
    again = record_demonstration(
        episode_seed(7, 0), make_cameras(2, 48), demo_config=DemoConfig(frames=40)
    )
    for a, b in zip(small_demo.frames, again.frames, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(small_demo.joint_positions, again.joint_positions)
    other = record_demonstration(
        episode_seed(7, 1), make_cameras(2, 48), demo_config=DemoConfig(frames=40)
    )
    assert not np.array_equal(other.joint_positions, small_demo.joint_positions)

    q = small_demo.joint_positions
    start, goal = np.array(small_demo.info["start"]), np.array(small_demo.info["goal"])
    np.testing.assert_allclose(q[0], start, atol=1e-6)
    assert np.linalg.norm(q[-1] - goal) < 0.05
    assert np.linalg.norm(goal - start) >= DemoConfig().min_joint_distance
    # Smooth: the arm tracks the minimum-jerk plan closely.
    targets = np.array(small_demo.info["targets"])
    assert np.abs(q - targets).max() < 0.1
    assert small_demo.frames[0].shape == (40, 48, 48, 3)


def test_plan_is_minimum_jerk_and_holds_the_goal():
    start, goal = np.zeros(7), np.ones(7)
    config = DemoConfig(frames=11, motion_fraction=0.5, joint_timing="synchronous")
    plan = plan_trajectory(start, goal, config)
    np.testing.assert_allclose(plan[0], start)
    np.testing.assert_allclose(plan[5:], np.ones((6, 7)))
    assert np.all(np.diff(plan[:, 0]) >= 0)
    np.testing.assert_allclose(plan[:6, 0], [0, 0.05792, 0.31744, 0.68256, 0.94208, 1], atol=1e-5)


def test_staggered_plan_moves_each_joint_in_its_own_window_within_speed_limits():
    start, goal = np.zeros(7), np.linspace(-2.0, 2.0, 7)
    config = DemoConfig(frames=100, motion_fraction=0.8, joint_timing="staggered")
    limits = np.full(7, 1.5)
    plan = plan_trajectory(start, goal, config, np.random.default_rng(0), limits, 20.0)
    np.testing.assert_allclose(plan[0], start)
    np.testing.assert_allclose(plan[80:], np.tile(goal, (20, 1)))
    # Monotone per joint, never past the goal, and the joints do not share one clock.
    steps = np.diff(plan, axis=0) * np.sign(goal - start)
    assert np.all(steps >= -1e-12)
    progress = (plan - start)[:, goal != 0] / (goal - start)[goal != 0]
    assert np.ptp(progress[40], axis=0) > 0.3
    assert np.abs(np.diff(plan, axis=0)).max(axis=0).max() * 20.0 <= 1.5 + 1e-6
    # Another draw gives other windows; without a generator it is refused.
    other = plan_trajectory(start, goal, config, np.random.default_rng(1), limits, 20.0)
    assert not np.allclose(plan, other)
    with pytest.raises(ValueError, match="random generator"):
        plan_trajectory(start, goal, config)
    assert DemoConfig().joint_timing == "synchronous"
    with pytest.raises(ValueError, match="joint_timing"):
        DemoConfig(joint_timing="sequential")
    # Recordings made before staggered timing load as synchronous.
    old = {k: v for k, v in DemoConfig().to_dict().items() if k not in ("joint_timing",)}
    assert DemoConfig.from_dict(old).joint_timing == "synchronous"


def test_babble_shows_an_independent_valid_configuration_every_frame():
    config = DemoConfig(frames=6, motion="babble")
    cameras = make_cameras(1, 32)
    babble = record_demonstration(episode_seed(3, 0), cameras, demo_config=config)
    q = babble.joint_positions
    assert q.shape == (6, 7) and babble.frames[0].shape == (6, 32, 32, 3)
    # Not a motion: consecutive poses are far apart, each one a frame of its own.
    assert np.linalg.norm(np.diff(q, axis=0), axis=1).min() > 0.3
    assert not np.array_equal(babble.frames[0][0], babble.frames[0][1])
    np.testing.assert_array_equal(babble.joint_velocities, 0.0)
    # Each pose is one the demonstration sampler accepts, and its frame renders that pose.
    with KukaSim(SimConfig(), cameras) as sim:
        lo, hi = sim.lower_limits, sim.upper_limits
        centre, half = (lo + hi) / 2, (hi - lo) / 2 * config.joint_range_fraction
        assert np.all(np.abs(q - centre) <= half + 1e-9)
        sim.reset(q[4])
        np.testing.assert_array_equal(sim.render(0), babble.frames[0][4])
        assert sim.link_heights()[1:].min() >= config.min_link_height
    again = record_demonstration(episode_seed(3, 0), cameras, demo_config=config)
    np.testing.assert_array_equal(again.joint_positions, q)
    with pytest.raises(ValueError, match="motion"):
        DemoConfig(motion="wander")
    old = {k: v for k, v in DemoConfig().to_dict().items() if k != "motion"}
    assert DemoConfig.from_dict(old).motion == "demonstration"


def test_pairs_show_a_configuration_then_a_small_valid_move_of_it():
    config = DemoConfig(frames=8, motion="pairs", pair_sigma=0.05)
    cameras = make_cameras(1, 32)
    pairs = record_demonstration(episode_seed(4, 0), cameras, demo_config=config)
    q = pairs.joint_positions
    moves = np.linalg.norm(q[1::2] - q[0::2], axis=1)
    jumps = np.linalg.norm(q[2::2] - q[1:-1:2], axis=1)
    # Within a pair a move of about sigma * sqrt(7); between pairs a new configuration.
    assert np.all(moves > 0.0) and np.all(moves < 0.05 * 7) and jumps.min() > 0.3
    with KukaSim(SimConfig(), cameras) as sim:
        assert np.all(q >= sim.lower_limits) and np.all(q <= sim.upper_limits)
        sim.reset(q[5])
        np.testing.assert_array_equal(sim.render(0), pairs.frames[0][5])
        assert sim.link_heights()[1:].min() >= config.min_link_height
    with pytest.raises(ValueError, match="even"):
        DemoConfig(frames=7, motion="pairs")
    with pytest.raises(ValueError, match="pair_sigma"):
        DemoConfig(motion="pairs", pair_sigma=float("nan"))
    # Recordings made before pairs existed load with the default sigma.
    old = {k: v for k, v in DemoConfig().to_dict().items() if k != "pair_sigma"}
    assert DemoConfig.from_dict(old).pair_sigma == DemoConfig().pair_sigma


def test_reach_goes_from_the_perturbed_home_to_the_perturbed_target():
    from kuka_sim.demo import REACH_HOME, REACH_TARGETS, ReachTask, minimum_jerk

    task, config, cameras = ReachTask(), DemoConfig(frames=30), make_cameras(1, 32)
    targets = np.array(REACH_TARGETS)
    pairwise = np.linalg.norm(targets[:, None] - targets[None], axis=2)[np.triu_indices(4, 1)]
    assert pairwise.min() > 1.5  # well separated against 0.4 rad between two perturbations
    episodes = [
        record_demonstration(episode_seed(5, k), cameras, demo_config=config, task=task, target=k)
        for k in range(4)
    ]
    with KukaSim(SimConfig(), cameras) as sim:
        for k, episode in enumerate(episodes):
            start, goal = np.array(episode.info["start"]), np.array(episode.info["goal"])
            assert episode.info["task"] == {"name": "reach", "target": k}
            assert np.abs(start - np.array(REACH_HOME)).max() <= 0.2
            assert np.abs(goal - targets[k]).max() <= 0.2
            assert np.abs(start - np.array(REACH_HOME)).max() > 0.0  # perturbed
            # The demonstrations' motion: minimum jerk over the motion span, then the hold.
            moving = round(config.motion_fraction * (config.frames - 1))
            s = minimum_jerk(np.arange(config.frames) / moving)[:, None]
            np.testing.assert_allclose(episode.info["targets"], start + (goal - start) * s)
            q = episode.joint_positions
            assert np.linalg.norm(q[-1] - goal) < 0.05 and np.linalg.norm(q[0] - start) < 1e-6
            # Nearer its own target than any other at the end.
            assert np.argmin(np.linalg.norm(targets - q[-1], axis=1)) == k
            for pose in (start, goal):
                sim.reset(pose)
                assert sim.link_heights()[1:].min() >= config.min_link_height
                assert not sim.in_collision()
    again = record_demonstration(
        episode_seed(5, 2), cameras, demo_config=config, task=task, target=2
    )
    np.testing.assert_array_equal(again.frames[0], episodes[2].frames[0])
    with pytest.raises(ValueError, match="motion 'babble' records none"):
        record_demonstration(
            episode_seed(5, 0),
            cameras,
            demo_config=DemoConfig(motion="babble"),
            task=task,
            target=0,
        )
    with pytest.raises(ValueError, match=r"target must be in \[0, 3\]"):
        record_demonstration(episode_seed(5, 0), cameras, demo_config=config, task=task, target=4)
    with pytest.raises(ValueError, match="needs the target"):
        record_demonstration(episode_seed(5, 0), cameras, demo_config=config, task=task)
    with pytest.raises(ValueError, match="home has 7 joints but the targets have"):
        ReachTask(targets=((0.0,) * 6,))
    assert ReachTask.from_dict(task.to_dict()) == task
