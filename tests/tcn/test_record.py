"""`tcn record`: datasets that are deterministic, parallel, resumable and never half-written."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from kuka_sim import DemoConfig, make_cameras
from tcn.bags import read_episode
from tcn.cli import main
from tcn.dataset import episode_paths, load_index
from tcn.errors import DatasetError
from tcn.record import record_dataset

DEMO = DemoConfig(frames=32)


def record(out, workers=1, **kwargs):
    return record_dataset(
        out, 3, make_cameras(1, 32), seed=3, demo=DEMO, workers=workers, **kwargs
    )


def frames_of(directory):
    return [read_episode(p).frames[0] for p in episode_paths(directory)]


def test_workers_do_not_change_the_data(tmp_path):
    one = record(tmp_path / "one", workers=1)
    two = record(tmp_path / "two", workers=2)
    assert (
        one.episodes
        == two.episodes
        == {"episode_0000": "train", "episode_0001": "train", "episode_0002": "val"}
    )
    for a, b in zip(frames_of(tmp_path / "one"), frames_of(tmp_path / "two"), strict=True):
        np.testing.assert_array_equal(a, b)


def test_index_records_seed_cameras_and_split(tmp_path):
    record(tmp_path / "d", val_episodes=1)
    index = load_index(tmp_path / "d")
    assert index.seed == 3 and index.cameras == make_cameras(1, 32)
    assert index.settings["demo"]["frames"] == 32
    assert [p.name for p in episode_paths(tmp_path / "d", "val")] == ["episode_0002"]
    assert len(episode_paths(tmp_path / "d", "train")) == 2
    episode = read_episode(tmp_path / "d" / "episode_0001")
    assert episode.cameras == index.cameras and episode.info["episode_index"] == 1


def test_interrupted_recording_keeps_complete_episodes_and_resumes(tmp_path):
    out = tmp_path / "d"

    def interrupt_after_first(name):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        record(out, on_episode=interrupt_after_first)
    index = yaml.safe_load((out / "dataset.yaml").read_text())
    assert [e["name"] for e in index["episodes"]] == ["episode_0000"]
    (out / ".episode_0001.partial" / "episode_0001").mkdir(parents=True)  # a bag cut off mid-write
    record(out)
    assert not list(out.glob(".*partial"))
    assert load_index(out).names() == ["episode_0000", "episode_0001", "episode_0002"]
    record(tmp_path / "whole")
    for a, b in zip(frames_of(out), frames_of(tmp_path / "whole"), strict=True):
        np.testing.assert_array_equal(a, b)


def test_other_settings_in_the_same_directory_are_refused(tmp_path):
    record(tmp_path / "d")
    with pytest.raises(DatasetError, match="other settings"):
        record_dataset(tmp_path / "d", 3, make_cameras(1, 32), seed=4, demo=DEMO)


def test_dataset_without_index_reads_every_bag(tmp_path):
    record(tmp_path / "d")
    (tmp_path / "d" / "dataset.yaml").unlink()
    assert len(episode_paths(tmp_path / "d", "val")) == 3  # no split: all episodes


def test_cli_record_and_inspect(tmp_path, capsys):
    out = tmp_path / "cli"
    args = [
        "record",
        "--out",
        str(out),
        "--episodes",
        "2",
        "--frames",
        "31",
        "--image-size",
        "24",
        "--views",
        "2",
        "--no-progress",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "2/2 episodes (1 train, 1 val)" in printed and "episode_0001    val" in printed
    assert main(["inspect", str(out / "episode_0000")]) == 0
    printed = capsys.readouterr().out
    assert "/camera_1/image_raw" in printed and "sensor_msgs/msg/JointState" in printed


def test_cli_record_places_the_cameras_and_sizes_the_tool(tmp_path):
    out = tmp_path / "wide"
    args = ["record", "--out", str(out), "--episodes", "1", "--frames", "3", "--views", "2"]
    args += ["--image-size", "24", "--camera-distance", "1.9", "--camera-pitch", "-30"]
    assert main([*args, "--tool-scale", "2", "--no-progress"]) == 0
    index = load_index(out)
    assert [(c.distance, c.pitch) for c in index.cameras] == [(1.9, -30.0)] * 2
    assert index.cameras[1].yaw - index.cameras[0].yaw == 75.0  # still views 75 degrees apart
    assert index.settings["sim"]["tool_scale"] == 2.0


def test_cli_reports_errors_without_traceback(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "missing")]) == 2
    assert "no such bag or dataset directory" in capsys.readouterr().err
    assert main(["record", "--out", str(tmp_path), "--episodes", "0"]) == 2
    assert "episodes must be at least 1" in capsys.readouterr().err


def test_help_lists_subcommands_with_examples(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "record" in out and "inspect" in out and "examples:" in out
    with pytest.raises(SystemExit):
        main(["record", "--help"])
    assert "tcn record --out" in capsys.readouterr().out


def test_reach_dataset_names_each_episodes_target_and_populates_every_class(tmp_path):
    from kuka_sim.demo import ReachTask
    from tcn.dataset import episode_targets
    from tcn.record import reach_targets
    from tcn_embedding import reach_attributes_for_episodes

    assert reach_targets(10, 4, 4) == [0, 1, 2, 3, 0, 1, 0, 1, 2, 3]
    task = ReachTask()
    # 4 training and 4 validation episodes, two views, two workers.
    index = record_dataset(
        tmp_path / "reach",
        8,
        make_cameras(2, 24),
        seed=1,
        demo=DemoConfig(frames=32),
        val_episodes=4,
        workers=2,
        task=task,
    )
    assert index.settings["task"] == {"name": "reach", **task.to_dict()}
    stored = yaml.safe_load((tmp_path / "reach" / "dataset.yaml").read_text())
    assert [e["target"] for e in stored["episodes"]] == [0, 1, 2, 3, 0, 1, 2, 3]
    for split in ("train", "val"):
        paths = episode_paths(tmp_path / "reach", split)
        targets = episode_targets(tmp_path / "reach", [p.name for p in paths])
        episodes = [read_episode(p) for p in paths]
        assert [e.info["task"] for e in episodes] == [
            {"name": "reach", "target": t} for t in targets
        ]
        assert all(e.num_views == 2 for e in episodes)
        labels = reach_attributes_for_episodes([e.joint_positions for e in episodes], targets)
        assert set(np.concatenate(labels["target"])) == {-1, 0, 1, 2, 3}, split
        assert set(np.concatenate(labels["phase"])) == {0, 1, 2}, split
    # Resuming finds the same settings; the random demonstrations' index has no task.
    assert (
        record_dataset(
            tmp_path / "reach",
            8,
            make_cameras(2, 24),
            seed=1,
            demo=DemoConfig(frames=32),
            val_episodes=4,
            task=task,
        ).targets
        == index.targets
    )
    plain = record(tmp_path / "plain")
    assert "task" not in plain.settings and not plain.targets
    assert episode_targets(tmp_path / "plain", plain.names()) is None
    stored = yaml.safe_load((tmp_path / "plain" / "dataset.yaml").read_text())
    assert all(set(e) == {"name", "split"} for e in stored["episodes"])


def test_reach_refuses_motions_that_are_not_demonstrations(tmp_path, capsys):
    from kuka_sim.demo import ReachTask

    with pytest.raises(ValueError, match="not motion 'pairs'"):
        record_dataset(
            tmp_path / "d",
            2,
            make_cameras(1, 24),
            demo=DemoConfig(frames=4, motion="pairs"),
            task=ReachTask(),
        )
    args = ["record", "--out", str(tmp_path / "cli"), "--episodes", "2", "--task", "reach"]
    assert main([*args, "--motion", "babble", "--no-progress"]) == 2
    assert "--task reach records demonstrations" in capsys.readouterr().err
    assert not (tmp_path / "cli").exists()
