"""A tiny train-agent -> resume -> evaluate-agent through the `tcn` CLI."""

from __future__ import annotations

import json

import pytest

from tcn.cli import main
from tcn.runs import read_config
from tcn_embedding.checkpoint import save_checkpoint
from tcn_embedding.model import TCN, TCNConfig

TINY = [
    "--ppo.n-envs",
    "2",
    "--ppo.n-steps",
    "32",
    "--ppo.batch-size",
    "32",
    "--ppo.n-epochs",
    "1",
    "--policy.net-arch",
    "16",
    "--vec-env",
    "dummy",
    "--no-progress",
]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("agent")
    data = root / "demos"
    assert (
        main(
            [
                "record",
                "--out",
                str(data),
                "--episodes",
                "3",
                "--val-episodes",
                "1",
                "--frames",
                "33",
                "--image-size",
                "32",
                "--no-progress",
            ]
        )
        == 0
    )
    model = TCN(
        TCNConfig(
            backbone="resnet18",
            image_size=32,
            pretrained=None,
            freeze_backbone=False,
            head_channels=(8, 8),
            hidden_units=16,
        )
    )
    checkpoint = save_checkpoint(root / "tcn.pt", model.checkpoint_state())
    return data, checkpoint


def test_train_resume_evaluate(setup, tmp_path, capsys):
    data, checkpoint = setup
    run = tmp_path / "agent"
    train = [
        "train-agent",
        "--embedding",
        str(checkpoint),
        "--demos",
        str(data),
        "--out",
        str(run),
        *TINY,
    ]
    assert main([*train, "--ppo.timesteps", "64"]) == 0
    assert json.loads((run / "checkpoints" / "progress.json").read_text())["timesteps"] == 64
    assert main([*train, "--ppo.timesteps", "128"]) == 2
    assert "pass --resume" in capsys.readouterr().err
    resume = ["train-agent", "--embedding", str(checkpoint), "--demos", str(data)]
    assert (
        main([*resume, "--out", str(run), "--ppo.timesteps", "128", "--resume"]) == 0
    )  # own settings
    assert json.loads((run / "checkpoints" / "progress.json").read_text())["timesteps"] == 128

    out = tmp_path / "eval"
    evaluate = ["evaluate-agent", "--agent", str(run), "--demos", str(data), "--out", str(out)]
    assert main([*evaluate, "--reader", "recorded"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["split"] == "val" and metrics["demos"] == ["episode_0002"]
    for key in ("success_rate", "mean_joint_error", "final_joint_error", "final_ee_error"):
        assert metrics[key] >= 0
    assert (out / "side_by_side.gif").read_bytes()[:3] == b"GIF"
    assert (out / "rollout.png").read_bytes()[:4] == b"\x89PNG"


def test_baselines_in_the_same_harness(setup, tmp_path):
    data, checkpoint = setup
    results = {}
    for baseline in ("replay", "idle"):
        out = tmp_path / baseline
        assert (
            main(
                [
                    "evaluate-agent",
                    "--baseline",
                    baseline,
                    "--embedding",
                    str(checkpoint),
                    "--demos",
                    str(data),
                    "--out",
                    str(out),
                    "--no-video",
                ]
            )
            == 0
        )
        results[baseline] = json.loads((out / "metrics.json").read_text())["success_rate"]
    assert results == {"replay": 1.0, "idle": 0.0}


def test_read_demos_caches_resumes_and_feeds_training_and_evaluation(
    setup, tmp_path, capsys, caplog
):
    import logging

    import numpy as np

    data, checkpoint = setup
    cheap = ["--read.every", "16", "--read.iterations", "2", "--read.final-iterations", "2"]
    cheap += ["--read.population", "4", "--read.elites", "2", "--read.refine-iterations", "2"]
    cheap += ["--read.refine-turns", "1", "--read.refine-pairs", "0"]
    read = ["read-demos", "--embedding", str(checkpoint), "--demos", str(data), "--no-progress"]
    with caplog.at_level(logging.INFO, logger="tcn.reading"):
        assert main([*read, *cheap]) == 0
    assert "reading 1 of 1 demonstrations (render-compare" in caplog.text
    printed = json.loads(capsys.readouterr().out.split("\nper demonstration")[0])
    assert printed["demos"] == 1 and 0 <= printed["final_success_rate"] <= 1
    cache = checkpoint.parent / "readings" / "render-compare"
    report = json.loads((cache / "report-val.json").read_text())
    assert report["per_demo"]["episode_0002"]["final_error"] == printed["final_error_mean"]
    (cached,) = cache.glob("episode_0002-*.npy")
    assert cached.with_suffix(".camera.json").is_file()  # the camera it was read through
    reading = np.load(cached)
    assert reading.shape == (33, 7) and np.all(np.isfinite(reading))
    # Run again: nothing is read, the cache answers with the same numbers.
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tcn.reading"):
        assert main([*read, *cheap]) == 0
    assert "reading 1 of" not in caplog.text
    # A damaged cache file (or an empty one, what a crash leaves) is read again.
    for damage in (b"not an array", b""):
        cached.write_bytes(damage)
        with caplog.at_level(logging.INFO, logger="tcn.reading"):
            assert main([*read, *cheap]) == 0
        assert "unreadable reading" in caplog.text
        np.testing.assert_array_equal(np.load(cached), reading)
    # The recorded reader is exact; the pose head needs an embedding that has one.
    capsys.readouterr()
    assert main([*read, "--reader", "recorded"]) == 0
    assert json.loads(capsys.readouterr().out.split("\nper")[0])["final_error_mean"] == 0.0
    assert main([*read, "--reader", "pose-head"]) == 2
    assert "self-regression" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: an unknown setting, named
        main([*read, "--read.evry", "3"])
    assert "--read.evry" in capsys.readouterr().err
    assert main([*read, "--read.elites", "30"]) == 2  # more elites than the population
    assert "--read settings" in capsys.readouterr().err

    # The servo and an agent trained on recorded joints evaluate on the cached reading.
    servo = ["evaluate-agent", "--baseline", "servo", "--embedding", str(checkpoint)]
    servo += ["--demos", str(data), "--no-video", "--out", str(tmp_path / "servo"), *cheap]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tcn.reading"):
        assert main(servo) == 0
    assert "reading 1 of" not in caplog.text
    metrics = json.loads((tmp_path / "servo" / "metrics.json").read_text())
    assert metrics["reader"] == "render-compare" and metrics["reader_settings"]["every"] == 16
    (episode,) = metrics["per_episode"]
    assert episode["reading_final_error"] == metrics["reading"]["final_error_mean"]
    run = tmp_path / "agent"
    train = ["train-agent", "--embedding", str(checkpoint), "--demos", str(data), *TINY]
    assert main([*train, "--out", str(run), "--ppo.timesteps", "32"]) == 0
    assert read_config(run)["deploy"]["control_mode"] == "position_delta"
    evaluate = ["evaluate-agent", "--agent", str(run), "--demos", str(data), "--no-video"]
    assert main([*evaluate, "--out", str(tmp_path / "e"), *cheap]) == 0
    assert json.loads((tmp_path / "e" / "metrics.json").read_text())["reader"] == "render-compare"

    # An agent trained on readings of its training demonstrations reads (and caches) them.
    reading_run = tmp_path / "reading"
    train_read = [
        *train,
        "--observation.train-reader",
        "render-compare",
        "--out",
        str(reading_run),
    ]
    assert main([*train_read, "--ppo.timesteps", "32", *cheap]) == 0
    names = sorted(p.name.split("-")[0] for p in cache.glob("*.npy"))
    assert names == ["episode_0000", "episode_0001", "episode_0002"]
    assert read_config(reading_run)["reader_settings"]["every"] == 16
    # Resumed, it keeps learning from the same targets: other settings are refused.
    resume = [*train_read, "--resume", "--ppo.timesteps", "64"]
    assert main([*resume, "--read.every", "8"]) == 2
    assert "was started on demonstrations read with" in capsys.readouterr().err
    assert main([*resume, *cheap]) == 0
    # Evaluated, it reads held-out demonstrations with the settings it was trained on.
    assert (
        main([*evaluate[:2], str(reading_run), *evaluate[3:], "--out", str(tmp_path / "i")]) == 0
    )
    assert (
        json.loads((tmp_path / "i" / "metrics.json").read_text())["reader_settings"]["every"] == 16
    )
