"""A tiny train-agent -> resume -> evaluate-agent through the `tcn` CLI."""

from __future__ import annotations

import json

import pytest

from tcn.cli import main
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
