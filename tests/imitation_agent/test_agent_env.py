"""The imitation env, the batched reward wrapper and the evaluation harness."""

from __future__ import annotations

import numpy as np
import pytest
from stable_baselines3.common.env_checker import check_env
from stable_baselines3.common.vec_env import DummyVecEnv

from imitation_agent import ENV_ID, Demonstration, EnvConfig, ImitationEnv, PoseDecoder
from imitation_agent.batched_reward import BatchedEmbeddingReward
from imitation_agent.evaluate import DemoReplayPolicy, IdlePolicy, ServoPolicy, evaluate
from kuka_sim import DemoConfig, episode_seed, make_cameras, record_demonstration

CAMERA = make_cameras(1, 24)[0]
PROJECTION = np.random.default_rng(0).normal(size=(24 * 24 * 3, 6)).astype(np.float32) / 50
DECODER = PoseDecoder(np.random.default_rng(1).normal(size=(7, 6)), np.arange(7.0))


def embed(frames: np.ndarray) -> np.ndarray:
    """A cheap deterministic stand-in for the TCN: a fixed random projection of the pixels."""
    return (frames.reshape(len(frames), -1).astype(np.float32) / 255.0) @ PROJECTION


@pytest.fixture(scope="module")
def demos():
    out = []
    for i in range(3):
        episode = record_demonstration(
            episode_seed(5, i), [CAMERA], demo_config=DemoConfig(frames=40)
        )
        out.append(
            Demonstration(
                f"d{i}",
                episode.joint_positions,
                embed(episode.frames[0]),
                CAMERA,
                frames=episode.frames[0],
                reading=episode.joint_positions,  # the recorded reader's
            )
        )
    return out


def test_env_passes_sb3_check_env_and_is_registered(demos):
    import gymnasium as gym

    check_env(ImitationEnv(demos, embedder=embed))
    env = gym.make(ENV_ID, demos=demos, embedder=embed)
    # The default observation: joints, velocities, the reading ahead, joints again (own
    # pose), their difference, and t / T.
    assert env.observation_space.shape == (7 + 7 + 7 * 3 + 1,)
    paper = EnvConfig(pose_features=False, embedding_obs=True)
    paper_env = ImitationEnv(demos, paper, embedder=embed)
    assert paper_env.observation_space.shape == (7 + 7 + 6 * 3 + 1,)


def test_reward_equals_the_papers_formula(demos):
    config = EnvConfig(
        reward_alpha=0.5,
        reward_beta=2.0,
        reward_gamma=0.01,
        pose_features=False,
        embedding_obs=True,
    )
    env = ImitationEnv(demos, config, embedder=embed)
    env.reset(seed=0, options={"demo": 1})
    obs, reward, _, _, info = env.step(np.full(7, 0.3, np.float32))
    frame = env.render()
    d = float(((embed(frame[None])[0] - demos[1].embeddings[1]) ** 2).sum())
    assert reward == pytest.approx(-0.5 * d - 2.0 * np.sqrt(0.01 + d), rel=1e-5)
    np.testing.assert_allclose(obs[env.layout.w], embed(frame[None])[0], rtol=1e-6)
    np.testing.assert_allclose(obs[env.layout.v], demos[1].embeddings[1])
    np.testing.assert_allclose(obs[env.layout.ahead], demos[1].embeddings[2])
    assert obs[-1] == pytest.approx(1 / 39)


def test_agent_renders_with_the_demonstrations_camera(demos):
    env = ImitationEnv(demos, embedder=embed)
    env.reset(seed=0, options={"demo": 0})
    np.testing.assert_array_equal(env.render(), demos[0].frames[0])  # same camera, same pose


def test_oracle_and_pixel_rewards(demos):
    env = ImitationEnv(demos, EnvConfig(reward="oracle"), embedder=embed)
    env.reset(seed=0, options={"demo": 0})
    _, reward, _, _, info = env.step(np.zeros(7, np.float32))
    assert reward == pytest.approx(-info["joint_error"])
    env = ImitationEnv(demos, EnvConfig(reward="pixels"), embedder=embed)
    env.reset(seed=0, options={"demo": 0})
    assert env.step(np.zeros(7, np.float32))[1] < 0


def test_same_seed_same_rollout(demos):
    def rollout(seed):
        env = ImitationEnv(demos, embedder=embed)
        obs, _ = env.reset(seed=seed)
        rng = np.random.default_rng(seed)
        observations = [obs]
        for _ in range(10):
            obs, _, terminated, truncated, _ = env.step(rng.uniform(-1, 1, 7).astype(np.float32))
            observations.append(env.reset()[0] if terminated or truncated else obs)
        return np.array(observations)

    np.testing.assert_array_equal(rollout(3), rollout(3))
    assert not np.array_equal(rollout(3), rollout(4))


def test_pose_features_are_the_pose_head_of_own_and_target_embeddings(demos):
    config = EnvConfig(pose_features=True, pose_source="head", embedding_obs=True, lookahead=2)
    with pytest.raises(ValueError, match="self-regression"):
        ImitationEnv(demos, config, embedder=embed)
    with pytest.raises(ValueError, match="expected 6-d to 7"):
        ImitationEnv(
            demos, config, embedder=embed, pose_decoder=PoseDecoder(np.ones((7, 5)), np.zeros(7))
        )
    env = ImitationEnv(demos, config, embedder=embed, pose_decoder=DECODER)
    check_env(env)
    env.reset(seed=0, options={"demo": 2})
    obs = env.step(np.full(7, -0.2, np.float32))[0]
    w = embed(env.render()[None])[0]
    assert obs.shape == (7 + 7 + 6 * 3 + 7 + 7 + 7 + 1,)
    np.testing.assert_allclose(obs[env.layout.pose_w], DECODER(w), rtol=1e-5, atol=1e-5)
    target = DECODER(demos[2].embeddings[3])
    np.testing.assert_allclose(obs[env.layout.pose_target], target, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(obs[env.layout.pose_error], target - DECODER(w), atol=1e-4)
    assert obs[-1] == pytest.approx(1 / 39)


def test_reading_pose_features_are_the_measured_joints_and_the_reading(demos):
    config = EnvConfig(pose_features=True, pose_source="reading", lookahead=2)
    with pytest.raises(ValueError, match="only used with pose_source 'head'"):
        ImitationEnv(demos, config, embedder=embed, pose_decoder=DECODER)
    env = ImitationEnv(demos, config, embedder=embed)
    env.reset(seed=0, options={"demo": 1})
    obs = env.step(np.full(7, 0.4, np.float32))[0]
    np.testing.assert_allclose(obs[env.layout.pose_w], env.sim.joint_positions(), atol=1e-6)
    np.testing.assert_allclose(obs[env.layout.pose_target], demos[1].joint_positions[3], atol=1e-6)
    np.testing.assert_allclose(
        obs[env.layout.pose_error],
        demos[1].joint_positions[3] - env.sim.joint_positions(),
        atol=1e-6,
    )
    with pytest.raises(ValueError, match="pose_source must be one of"):
        EnvConfig(pose_source="guess")


@pytest.mark.parametrize(
    ("pose_features", "embedding_obs"), [(False, True), (True, True), (True, False)]
)
def test_batched_and_unbatched_rewards_agree_across_resets(demos, pose_features, embedding_obs):
    config = EnvConfig(  # whole episodes, so that each env restarts once in 45 steps
        pose_features=pose_features,
        pose_source="head",
        embedding_obs=embedding_obs,
        random_start=False,
        cut_distance=0.0,
    )
    decoder = DECODER if pose_features else None
    unbatched = DummyVecEnv(
        [lambda: ImitationEnv(demos, config, embedder=embed, pose_decoder=decoder)] * 2
    )
    batched = BatchedEmbeddingReward(
        DummyVecEnv([lambda: ImitationEnv(demos, config, pose_decoder=decoder)] * 2),
        embed,
        ImitationEnv.layout_for(demos, config),
        config.reward_config,
        decoder,
    )
    unbatched.seed(1)
    batched.seed(1)
    np.testing.assert_allclose(unbatched.reset(), batched.reset(), atol=1e-5)
    actions = np.random.default_rng(2).uniform(-1, 1, (45, 2, 7)).astype(np.float32)
    resets = 0
    for a in actions:  # 45 steps: every env finishes its 39-step episode and restarts
        o1, r1, d1, i1 = unbatched.step(a)
        o2, r2, d2, i2 = batched.step(a)
        np.testing.assert_allclose(o1, o2, atol=1e-5)
        np.testing.assert_allclose(r1, r2, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(d1, d2)
        for k in np.flatnonzero(d1):
            resets += 1
            np.testing.assert_allclose(
                i1[k]["terminal_observation"], i2[k]["terminal_observation"], atol=1e-5
            )
    assert resets == 2 and batched.forward_passes == 46  # one forward pass per step


def test_embeddings_can_stay_out_of_the_observation_but_not_out_of_the_reward(demos):
    head = EnvConfig(pose_features=True, pose_source="head", embedding_obs=True)
    with_embeddings = ImitationEnv(demos, head, embed, DECODER)
    without = ImitationEnv(
        demos,
        EnvConfig(pose_features=True, pose_source="head", embedding_obs=False),
        embed,
        DECODER,
    )
    assert without.layout.size == with_embeddings.layout.size - 3 * 6
    full = with_embeddings.reset(seed=0, options={"demo": 1})[0]
    slim = without.reset(seed=0, options={"demo": 1})[0]
    keep = [with_embeddings.layout.q, with_embeddings.layout.qd]
    np.testing.assert_allclose(slim[:14], np.concatenate([full[k] for k in keep]))
    np.testing.assert_allclose(slim[14:], full[with_embeddings.layout.pose_w.start :], atol=1e-6)
    action = np.full(7, 0.3, np.float32)
    _, r_full, *_ = with_embeddings.step(action)
    _, r_slim, *_ = without.step(action)
    assert r_slim == pytest.approx(r_full) and r_slim < 0


def test_harness_replay_succeeds_and_idle_fails(demos):
    env = ImitationEnv(demos, embedder=embed)
    replay, _ = evaluate(env, DemoReplayPolicy(env))
    idle, results = evaluate(env, IdlePolicy())
    assert replay["success_rate"] == 1.0 and replay["final_joint_error"] < 0.05
    assert replay["final_ee_error"] < 0.01
    assert idle["success_rate"] == 0.0 and idle["final_joint_error"] > 1.0
    assert len(results[0].joint_errors) == 40 and len(results[0].rewards) == 39


def test_servo_on_true_pose_features_imitates_and_needs_them(demos):
    """The observation's pose error is enough for a fixed law: the servo on the truth
    succeeds everywhere; on a head that reads nothing useful it does not."""
    truth = ImitationEnv(demos, EnvConfig(pose_features=True, pose_source="reading"), embed)
    servo, _ = evaluate(truth, ServoPolicy(truth))
    assert servo["success_rate"] == 1.0 and servo["final_joint_error"] < 0.05
    blind = PoseDecoder(np.zeros((7, 6)), np.zeros(7))
    head = ImitationEnv(
        demos, EnvConfig(pose_features=True, pose_source="head"), embed, pose_decoder=blind
    )
    assert evaluate(head, ServoPolicy(head))[0]["success_rate"] == 0.0
    with pytest.raises(ValueError, match="needs position_delta actions and pose_features"):
        ServoPolicy(ImitationEnv(demos, EnvConfig(pose_features=False), embedder=embed))


def test_servo_reference_joints_compares_the_demonstrations_reading_with_the_joints(demos):
    decoder = PoseDecoder(np.zeros((7, 6)), np.full(7, 0.3))  # reads every frame as 0.3
    env = ImitationEnv(
        demos, EnvConfig(pose_features=True, pose_source="head"), embed, pose_decoder=decoder
    )
    obs, _ = env.reset(seed=0, options={"demo": 0})
    layout, delta = env.layout, env.config.max_position_delta
    # Both readings are 0.3: the loop on readings sees no error, the one on joints does.
    np.testing.assert_allclose(ServoPolicy(env)(obs), 0.0, atol=1e-5)
    expected = np.clip((0.3 - obs[layout.q]) / delta, -1, 1)
    np.testing.assert_allclose(ServoPolicy(env, reference="joints")(obs), expected, rtol=1e-6)
    truth = ImitationEnv(demos, EnvConfig(pose_features=True, pose_source="reading"), embed)
    servo, _ = evaluate(truth, ServoPolicy(truth, reference="joints"))
    assert servo["success_rate"] == 1.0
    with pytest.raises(ValueError, match="reference"):
        ServoPolicy(env, reference="pixels")


def test_torque_actions_move_the_arm(demos):
    env = ImitationEnv(demos, EnvConfig(action="torque"), embedder=embed)
    obs, _ = env.reset(seed=0, options={"demo": 0})
    action = np.zeros(7, np.float32)
    action[0] = 1.0
    for _ in range(5):
        moved, *_ = env.step(action)
    assert moved[0] - obs[0] > 0.1


def test_bad_input_is_refused(demos):
    env = ImitationEnv(demos, embedder=embed)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="7 finite values"):
        env.step(np.array([np.nan] * 7))
    with pytest.raises(ValueError, match="reward must be one of"):
        EnvConfig(reward="sparse")
    bare = [Demonstration("x", d.joint_positions, d.embeddings, CAMERA) for d in demos]
    with pytest.raises(ValueError, match="pixels reward needs"):
        ImitationEnv(bare, EnvConfig(reward="pixels", pose_features=False))


def test_a_reading_is_required_where_it_is_observed(demos):
    bare = [Demonstration(d.name, d.joint_positions, d.embeddings, CAMERA) for d in demos]
    with pytest.raises(ValueError, match="needs each demonstration's reading"):
        ImitationEnv(bare, embedder=embed)
    with pytest.raises(ValueError, match="reading"):
        Demonstration(
            "x", demos[0].joint_positions, demos[0].embeddings, CAMERA, reading=np.zeros((3, 7))
        )


def test_training_episodes_start_on_the_demonstration_and_end_where_the_arm_loses_it(demos):
    config = EnvConfig(random_start=True, cut_distance=0.3)
    env = ImitationEnv(demos, config, embedder=embed)
    starts = set()
    for seed in range(8):
        obs, _ = env.reset(seed=seed)
        assert 0 <= env.t < len(env.demo) - 1
        np.testing.assert_allclose(obs[env.layout.q], env.demo.reading[env.t], atol=1e-5)
        starts.add(env.t)
    assert len(starts) > 1  # drawn, not fixed
    # An arm driven away from the demonstration is cut, truncated (PPO bootstraps it).
    env.reset(seed=0)
    env.t = 0
    env.sim.reset(env.demo.reading[0])
    steps, done = 0, False
    while not done:
        _, _, terminated, done, _ = env.step(np.ones(7, np.float32))
        assert not terminated
        steps += 1
    assert steps < len(env.demo) - 1
    # Evaluation episodes (reset with a demo) start at frame 0 and run to the end.
    obs, _ = env.reset(seed=0, options={"demo": 2})
    assert env.t == 0
    np.testing.assert_allclose(obs[env.layout.q], demos[2].joint_positions[0], atol=1e-5)
    steps, done = 0, False
    while not done:
        done = env.step(np.ones(7, np.float32))[3]
        steps += 1
    assert steps == len(demos[2]) - 1
    with pytest.raises(ValueError, match="cut_distance"):
        EnvConfig(cut_distance=-1.0)


def test_with_a_reading_the_own_pose_is_the_measured_joints_even_beside_a_pose_head():
    """The ROS node hands build_observation the live embedding and the TCN's pose head; an
    agent that observes a reading must still see its measured joints as its own pose (as in
    training, where the env has no decoder), not the head's reading of the embedding."""
    from imitation_agent.env import ObsLayout, build_observation

    layout = ObsLayout(0, False, True, True)
    q, qd = np.linspace(-1.0, 1.0, 7), np.zeros(7)
    embeddings = np.zeros((5, 4), np.float32)
    reading = np.tile(np.arange(7.0), (5, 1))
    head = lambda w: np.full(7, 9.0)  # noqa: E731 - a pose head that is far off
    obs = build_observation(layout, 1, q, qd, np.ones(4), embeddings, 2, head, reading)
    np.testing.assert_allclose(obs[layout.pose_target], np.arange(7.0))
    np.testing.assert_allclose(obs[layout.pose_w], q, rtol=1e-6)
    np.testing.assert_allclose(obs[layout.pose_error], np.arange(7.0) - q, rtol=1e-6)
    without_head = build_observation(layout, 1, q, qd, None, embeddings, 2, None, reading)
    np.testing.assert_array_equal(obs, without_head)
