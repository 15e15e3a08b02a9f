"""A tiny train-agent -> resume -> evaluate-agent through the `tcn` CLI."""

from __future__ import annotations

import json

import pytest

from tcn.cli import main
from tcn.runs import read_config
from tcn_embedding.checkpoint import save_checkpoint
from tcn_embedding.model import TCN, TCNConfig

TINY = [
    "--n-envs",
    "2",
    "--n-steps",
    "32",
    "--batch-size",
    "32",
    "--n-epochs",
    "1",
    "--net-arch",
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
    assert main([*train, "--timesteps", "64"]) == 0
    assert json.loads((run / "checkpoints" / "progress.json").read_text())["timesteps"] == 64
    assert main([*train, "--timesteps", "128"]) == 2
    assert "pass --resume" in capsys.readouterr().err
    resume = ["train-agent", "--embedding", str(checkpoint), "--demos", str(data)]
    assert (
        main([*resume, "--out", str(run), "--timesteps", "128", "--resume"]) == 0
    )  # own settings
    assert json.loads((run / "checkpoints" / "progress.json").read_text())["timesteps"] == 128

    out = tmp_path / "eval"
    assert (
        main(["evaluate-agent", "--agent", str(run), "--demos", str(data), "--out", str(out)]) == 0
    )
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


def test_imagined_pose_source_is_computed_once_and_replaces_an_agents_source(
    setup, tmp_path, capsys, caplog
):
    import logging

    import numpy as np

    data, checkpoint = setup
    search = ["--imagine", "every=16", "iterations=2", "final_iterations=2", "population=4"]
    search += ["elites=2", "refine_iterations=2", "refine_turns=1"]
    search += ["refine_pairs=0"]
    servo = ["evaluate-agent", "--baseline", "servo", "--pose-source", "imagined"]
    servo += ["--embedding", str(checkpoint), "--demos", str(data), "--no-video", *search]
    with caplog.at_level(logging.INFO, logger="tcn.agent_run"):
        assert main([*servo, "--out", str(tmp_path / "servo")]) == 0
    assert "imagined episode_0002 (1 of 1)" in caplog.text
    metrics = json.loads((tmp_path / "servo" / "metrics.json").read_text())
    assert metrics["policy"] == "baseline:servo" and metrics["pose_source"] == "imagined"
    assert metrics["imagine"]["every"] == 16 and metrics["imagine"]["population"] == 4
    (episode,) = metrics["per_episode"]
    assert metrics["imagined_final_error"] == episode["imagined_final_error"] >= 0
    assert metrics["imagined_success_rate"] == float(episode["imagined_final_error"] < 0.2)
    (cached,) = (checkpoint.parent / "imagined").glob("episode_0002-*.npy")
    imagined = np.load(cached)
    assert imagined.shape == (33, 7) and np.all(np.isfinite(imagined))

    # Computed once: the second evaluation reads the cache, with the same result.
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tcn.agent_run"):
        assert main([*servo, "--out", str(tmp_path / "again")]) == 0
    assert "imagined episode_0002" not in caplog.text
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert again["final_joint_error"] == metrics["final_joint_error"]
    # A damaged cache file is imagined again.
    cached.write_bytes(b"not an array")
    with caplog.at_level(logging.INFO, logger="tcn.agent_run"):
        assert main([*servo, "--out", str(tmp_path / "mended")]) == 0
    assert "unreadable imagined trajectory" in caplog.text
    np.testing.assert_array_equal(np.load(cached), imagined)
    cached.write_bytes(b"")  # what a crash between create and write leaves
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tcn.agent_run"):
        assert main([*servo, "--out", str(tmp_path / "mended")]) == 0
    assert "unreadable imagined trajectory" in caplog.text
    np.testing.assert_array_equal(np.load(cached), imagined)

    # An agent trained on the true pose, evaluated on the imagined one.
    run = tmp_path / "agent"
    train = ["train-agent", "--embedding", str(checkpoint), "--demos", str(data), *TINY]
    train += ["--pose-features", "--pose-source", "truth", "--no-embedding-obs"]
    assert main([*train, "--out", str(run), "--timesteps", "64"]) == 0
    evaluate = ["evaluate-agent", "--agent", str(run), "--demos", str(data), "--no-video"]
    assert (
        main([*evaluate, "--out", str(tmp_path / "e"), "--pose-source", "imagined", *search]) == 0
    )
    assert json.loads((tmp_path / "e" / "metrics.json").read_text())["pose_source"] == "imagined"
    # An agent trained on imagined demonstrations imagines (and caches) the training split.
    imagining = tmp_path / "imagining"
    train_imagined = [*train[:-3], "--pose-source", "imagined", "--no-embedding-obs"]
    train_imagined += ["--out", str(imagining), *search]
    assert main([*train_imagined, "--timesteps", "32"]) == 0
    cached = sorted(p.name.split("-")[0] for p in (checkpoint.parent / "imagined").glob("*.npy"))
    assert cached == ["episode_0000", "episode_0001", "episode_0002"]
    assert read_config(imagining)["imagine"]["every"] == 16
    # Resumed, it keeps learning from the same targets: other settings are refused.
    resume = [*train_imagined[: -len(search)], "--resume", "--timesteps", "64"]
    assert main([*resume, "--imagine", "every=8"]) == 2
    assert "was started on demonstrations imagined with" in capsys.readouterr().err
    assert main([*resume, *search]) == 0  # the same settings are accepted
    # Evaluated, it reads held-out demonstrations as it was trained to (its recorded settings).
    assert main([*evaluate[:2], str(imagining), *evaluate[3:], "--out", str(tmp_path / "i")]) == 0
    assert json.loads((tmp_path / "i" / "metrics.json").read_text())["imagine"]["every"] == 16
    plain = tmp_path / "plain"
    assert (
        main(
            [
                "train-agent",
                "--embedding",
                str(checkpoint),
                "--demos",
                str(data),
                *TINY,
                "--out",
                str(plain),
                "--timesteps",
                "32",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "evaluate-agent",
                "--agent",
                str(plain),
                "--demos",
                str(data),
                "--no-video",
                "--out",
                str(tmp_path / "p"),
                "--pose-source",
                "imagined",
            ]
        )
        == 2
    )
    assert "observes no pose features" in capsys.readouterr().err
    assert main([*servo[:10], "--out", str(tmp_path / "bad"), "--imagine", "evry=3"]) == 2
    assert "SETTING one of" in capsys.readouterr().err
    head = [*servo[:3], *servo[5:10], "--out", str(tmp_path / "head"), *search]
    assert main(head) == 2
    assert "--imagine sets the search of --pose-source imagined" in capsys.readouterr().err
