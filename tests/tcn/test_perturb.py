"""`tcn perturb`: demonstrations filmed again off calibration, in other light, with noise."""

from __future__ import annotations

import numpy as np
import pytest

from imitation_agent.imagine import still_frames
from kuka_sim import DemoConfig, make_cameras
from tcn.bags import read_episode
from tcn.cli import main
from tcn.dataset import episode_paths, load_index
from tcn.perturb import Perturbation, degrade_frames
from tcn.record import record_dataset


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("perturb") / "demos"
    record_dataset(out, 3, make_cameras(1, 32), seed=5, demo=DemoConfig(frames=24), val_episodes=2)
    return out


def test_the_frames_change_but_not_the_stored_camera(data, tmp_path):
    args = ["perturb", "--demos", str(data), "--out", str(tmp_path / "off")]
    assert main([*args, "--camera-offset", "0.05", "--camera-degrees", "3", "--noise", "5"]) == 0
    assert main([*args[:3], "--out", str(tmp_path / "same")]) == 0  # all zero
    names = [p.name for p in episode_paths(tmp_path / "off")]
    assert names == load_index(data).names("val") and len(names) == 2
    for name in names:
        recorded = read_episode(data / name)
        off, same = read_episode(tmp_path / "off" / name), read_episode(tmp_path / "same" / name)
        assert off.cameras == recorded.cameras  # the calibration a reader is given
        filmed = off.info["perturbation"]["cameras"][0]
        assert filmed != recorded.cameras[0].to_dict()
        assert np.abs(off.frames[0].astype(int) - recorded.frames[0]).mean() > 2
        np.testing.assert_array_equal(same.frames[0], recorded.frames[0])
        np.testing.assert_array_equal(off.joint_positions, recorded.joint_positions)
    index = load_index(tmp_path / "off")
    assert index.settings["perturbation"]["camera_offset"] == 0.05
    # Resumes with the same settings; refuses other ones in the same place.
    assert main([*args, "--camera-offset", "0.05", "--camera-degrees", "3", "--noise", "5"]) == 0
    assert main([*args, "--noise", "1"]) == 2


def test_noise_and_jpeg_degrade_every_frame_and_bad_settings_are_refused():
    frames = np.full((3, 16, 16, 3), 128, np.uint8)
    degraded = degrade_frames(frames, 5.0, 75, np.random.default_rng(0))
    assert degraded.shape == frames.shape and degraded.dtype == np.uint8
    assert still_frames(degraded, tolerance=0.0) == 1 and still_frames(degraded) == 3
    with pytest.raises(ValueError, match="jpeg quality"):
        Perturbation(jpeg=100)
    with pytest.raises(ValueError, match="camera_offset must be >= 0"):
        Perturbation(camera_offset=-1.0)


def test_a_demonstration_filmed_again_is_read_again(data, tmp_path):
    """Same name, joints and stored camera: only the frames tell the reading cache apart."""
    from imitation_agent import Demonstration
    from tcn.reading import reading_key

    assert (
        main(["perturb", "--demos", str(data), "--out", str(tmp_path / "n"), "--noise", "3"]) == 0
    )
    name = load_index(data).names("val")[0]
    keys = []
    for directory in (data, tmp_path / "n"):
        episode = read_episode(directory / name)
        frames = episode.frames[0]
        embeddings = np.zeros((len(frames), 4))
        keys.append(
            reading_key(
                "m",
                "render-compare",
                {},
                Demonstration(
                    name, episode.joint_positions, embeddings, episode.cameras[0], frames=frames
                ),
            )
        )
    assert keys[0] != keys[1]
