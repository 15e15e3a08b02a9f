"""Demonstration readers (imitation_agent.readers) on a tiny recorded demonstration."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from imitation_agent import (
    READERS,
    Demonstration,
    EnvConfig,
    ImagineConfig,
    ImitationEnv,
    PoseDecoder,
    PoseHeadReader,
    RecordedJoints,
    RenderAndCompare,
    make_reader,
    readers,
    reading_errors,
)
from imitation_agent.imagine import resting_frames, still_frames
from kuka_sim import (
    DemoConfig,
    KukaSim,
    SimConfig,
    episode_seed,
    make_cameras,
    perturbed_camera,
    record_demonstration,
)

CAMERA = make_cameras(1, 32)[0]
CHEAP = ImagineConfig(
    every=6,
    iterations=2,
    final_iterations=2,
    population=4,
    elites=2,
    refine_iterations=3,
    refine_turns=1,
    refine_pairs=0,
)


def pixels(frames: np.ndarray) -> np.ndarray:
    """Downsampled pixels as the first stage's space (any embedding will do)."""
    return frames[:, ::4, ::4].reshape(len(frames), -1).astype(np.float32) / 255.0


@pytest.fixture(scope="module")
def demo() -> Demonstration:
    episode = record_demonstration(episode_seed(4, 0), [CAMERA], demo_config=DemoConfig(frames=24))
    frames = episode.frames[0]
    return Demonstration("d", episode.joint_positions, pixels(frames), CAMERA, frames=frames)


def test_every_reader_gives_the_trajectorys_shape_and_the_recorded_one_is_exact(demo):
    recorded = RecordedJoints().read(demo)
    np.testing.assert_array_equal(recorded, demo.joint_positions)
    assert reading_errors(recorded, demo.joint_positions) == {
        "final_error": 0.0,
        "mean_error": 0.0,
    }
    decoder = PoseDecoder(np.full((7, demo.embeddings.shape[1]), 1e-3), np.arange(7.0))
    head = PoseHeadReader(decoder).read(demo)
    assert head.shape == (len(demo), 7)
    np.testing.assert_allclose(head, decoder(demo.embeddings))
    with pytest.raises(ValueError, match="self-regression"):
        PoseHeadReader(None).read(demo)
    assert RecordedJoints.privileged and not PoseHeadReader.privileged
    assert not RenderAndCompare.privileged and READERS[0] == "render-compare"


def test_render_and_compare_keeps_an_exact_pose_at_zero_difference(demo):
    """A demonstration rendered at the recorded poses, by the scene it names, is read back:
    where the search starts at the exact pose the frame difference is zero and stays so."""
    reader = make_reader("render-compare", embed=pixels, settings=CHEAP.to_dict())
    try:
        reading = reader.read(demo)
        assert reading.shape == (len(demo), 7) and np.all(np.isfinite(reading))
        np.testing.assert_array_equal(reading[0], demo.joint_positions[0])  # the known start
        # A demonstration at rest at a known pose: every frame is the one rendered there, the
        # frame difference is zero from the start, and the pose is read back exactly.
        rest = Demonstration(
            "rest",
            np.repeat(demo.joint_positions[-1:], 8, axis=0),
            np.repeat(demo.embeddings[-1:], 8, axis=0),
            CAMERA,
            frames=np.repeat(demo.frames[-1:], 8, axis=0),
        )
        assert still_frames(rest.frames) == len(rest)
        np.testing.assert_array_equal(reader.read(rest), rest.joint_positions)
    finally:
        reader.close()
    with pytest.raises(ValueError, match="needs the demonstration's frames"):
        RenderAndCompare(pixels, CHEAP).read(
            Demonstration("x", demo.joint_positions, demo.embeddings, CAMERA, sim=SimConfig())
        )


def test_a_reading_is_the_same_whatever_the_reader_read_before(demo, monkeypatch):
    """PyBullet's TinyRenderer carries state from one call to the next, so each estimate
    and each reading gets a simulator of its own, closed after it: a demonstration reads the
    same first, after another, again, or by another reader (a pool worker's history)."""
    made, closed = [], set()

    class Counted(KukaSim):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

        def close(self):
            closed.add(id(self))
            super().close()

    monkeypatch.setattr(readers, "KukaSim", Counted)
    other = Demonstration(
        "other",
        demo.joint_positions[::-1].copy(),
        demo.embeddings[::-1].copy(),
        CAMERA,
        frames=demo.frames[::-1].copy(),
    )
    reader = RenderAndCompare(pixels, CHEAP)
    first = reader.read(demo)
    assert len(made) == 2  # the camera and light estimate, then the reading
    reader.read(other)
    again = reader.read(demo)
    assert len(made) == 5  # the estimate is kept: a fresh simulator for the reading alone
    assert {id(sim) for sim in made} <= closed
    np.testing.assert_array_equal(again, first)
    np.testing.assert_array_equal(RenderAndCompare(pixels, CHEAP).read(demo), first)


def test_render_and_compare_reads_through_the_camera_it_estimates(demo):
    """Filmed 3 cm and 2 degrees off the stored camera: the reader estimates the camera from
    the first frame at the first pose, nearer the true one than the stored one is (32 px
    frames; test_calibrate states the precision at 64 px), and reads through it."""
    true = perturbed_camera(CAMERA, 0.03, 2.0, np.random.default_rng(1))
    sim = KukaSim()
    frames = []
    for q in demo.joint_positions:
        sim.reset(q)
        frames.append(sim.render(true))
    sim.close()
    frames = np.stack(frames)
    off = Demonstration("off", demo.joint_positions, pixels(frames), CAMERA, frames=frames)
    # At 32 px an outline is a pixel or two wide: compare pixels (edges are for 96 px).
    reader = RenderAndCompare(pixels, replace(CHEAP, calibrate_compare="pixels"))
    try:
        estimate = reader.camera(off)
        assert np.linalg.norm(estimate.pose()[0] - true.pose()[0]) < 0.02
        assert reader.camera(off) is estimate  # estimated once
        assert reader.camera(demo) is CAMERA  # the stored camera renders the first frame
        assert reader.read(off).shape == (len(off), 7)
    finally:
        reader.close()
    assert RenderAndCompare(pixels, replace(CHEAP, calibrate=False)).camera(off) is CAMERA
    assert RecordedJoints().camera(off) is CAMERA


def test_a_noisy_demonstration_is_detected_still_where_it_rests(demo):
    """Sensor noise of 8-bit standard deviation 5 on every frame: no two frames are equal,
    yet the rest at the end is found, and the moving frames are not taken for it."""
    rng = np.random.default_rng(0)
    rest = np.repeat(demo.frames[-1:], 10, axis=0)
    frames = np.concatenate([demo.frames, rest])
    noisy = np.clip(frames + rng.normal(0.0, 5.0, frames.shape), 0, 255).astype(np.uint8)
    assert still_frames(noisy, tolerance=0.0) == 1
    exact = still_frames(frames)
    assert exact >= 10 and abs(still_frames(noisy) - exact) <= 2
    moving = np.linalg.norm(np.diff(demo.joint_positions, axis=0), axis=1) > 0.01
    assert still_frames(noisy[: int(np.flatnonzero(moving)[-1]) + 1]) <= 2
    rested = resting_frames(noisy, still_frames(noisy))
    noise = np.abs(rested[-1].astype(float) - frames[-1]).mean()
    assert noise < np.abs(noisy[-1].astype(float) - frames[-1]).mean() / 2  # averaged away
    assert resting_frames(frames, exact) is frames


def test_make_reader_refuses_what_does_not_apply():
    with pytest.raises(ValueError, match="unknown reader"):
        make_reader("oracle")
    with pytest.raises(ValueError, match="takes no settings"):
        make_reader("recorded", settings={"every": 3})
    with pytest.raises(ValueError, match="needs an embed"):
        make_reader("render-compare")
    with pytest.raises(ValueError, match="unknown imagine settings"):
        make_reader("render-compare", embed=pixels, settings={"evry": 3})


def test_env_observes_the_reading_as_the_demonstrations_target(demo):
    reading = demo.joint_positions + 0.05
    read = Demonstration("d", demo.joint_positions, demo.embeddings, CAMERA, reading=reading)
    config = EnvConfig(lookahead=2, random_start=False)  # the defaults observe a reading
    env = ImitationEnv([read], config, embedder=pixels)
    env.reset(seed=0)
    obs = env.step(np.full(7, 0.2, np.float32))[0]
    q = env.sim.joint_positions()
    np.testing.assert_allclose(obs[env.layout.pose_w], q, atol=1e-6)
    np.testing.assert_allclose(obs[env.layout.pose_target], reading[3], atol=1e-6)
    np.testing.assert_allclose(obs[env.layout.pose_error], reading[3] - q, atol=1e-6)
    env.close()
    with pytest.raises(ValueError, match="needs each demonstration's reading"):
        ImitationEnv([Demonstration("d", demo.joint_positions, demo.embeddings, CAMERA)], config)
    with pytest.raises(ValueError, match="reading"):
        Demonstration("d", demo.joint_positions, demo.embeddings, CAMERA, reading=reading[:-1])
