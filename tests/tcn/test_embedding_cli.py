"""A tiny train -> resume -> embed -> evaluate through the `tcn` CLI, multi-view."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

from tcn.cli import main
from tcn.runs import read_history
from tcn_embedding.checkpoint import load_checkpoint

TINY = [
    "--model.image-size",
    "32",
    "--model.head-channels",
    "8",
    "8",
    "--model.hidden-units",
    "16",
    "--schedule.batch-size",
    "6",
    "--schedule.videos-per-epoch",
    "2",
    "--schedule.triplets-per-video",
    "6",
    "--schedule.eval-every",
    "1",
    "--schedule.eval-triplets",
    "60",
    "--no-progress",
]

# The default preset without its pose stage and self-regression: triplets alone.
TRIPLETS_ONLY = [
    "--preset",
    "default",
    "--schedule.pose-steps",
    "0",
    "--objectives.self-regression",
    "0",
]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "mv"
    assert (
        main(
            [
                "record",
                "--out",
                str(out),
                "--episodes",
                "4",
                "--val-episodes",
                "2",
                "--frames",
                "36",
                "--image-size",
                "32",
                "--views",
                "2",
                "--no-progress",
            ]
        )
        == 0
    )
    return out


def test_train_resume_embed_evaluate(dataset, tmp_path, capsys, caplog):
    run = tmp_path / "run"
    train = [
        "train-embedding",
        "--data",
        str(dataset),
        "--out",
        str(run),
        *TRIPLETS_ONLY,
        *TINY,
    ]
    assert main([*train, "--schedule.epochs", "1"]) == 0
    assert main([*train, "--schedule.epochs", "2"]) == 2  # an existing run needs --resume
    assert "pass --resume" in capsys.readouterr().err
    # Continue, as after an interruption: the run's own settings, not the preset's, so the
    # flags it was started with need not be repeated; ones that may not change are refused.
    resume = ["train-embedding", "--data", str(dataset), "--out", str(run), "--resume"]
    assert main([*resume, "--schedule.epochs", "2", "--schedule.lr", "0.5"]) == 2
    assert "schedule.lr: 0.0002 -> 0.5" in capsys.readouterr().err
    assert main([*resume, "--schedule.epochs", "2"]) == 0
    assert [r["epoch"] for r in read_history(run)] == [1, 2]
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    assert state["epoch"] == 2 and state["train_config"]["model"]["image_size"] == 32
    assert (run / "config.yaml").is_file() and list((run / "logs").iterdir())
    assert (run / "training_curves.png").stat().st_size > 0

    assert (
        main(["embed", "--model", str(run), "--data", str(dataset), "--out", str(tmp_path / "e")])
        == 0
    )
    embedding = np.load(tmp_path / "e" / "episode_0000.npy")
    assert embedding.shape == (36, 32) and embedding.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embedding, axis=1), 10.0, rtol=1e-4)

    out = tmp_path / "eval"
    caplog.set_level(logging.INFO, logger="tcn.embedding_run")
    assert (
        main(
            [
                "evaluate-embedding",
                "--model",
                str(run / "checkpoints" / "best.pt"),
                "--data",
                str(dataset),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["split"] == "val" and metrics["episodes"] == 2 and metrics["views"] == 2
    for key in ("triplet_accuracy", "triplet_accuracy_margin", "alignment_error"):
        assert 0.0 <= metrics[key] <= 1.0, key
    # Random start-to-goal demonstrations have no task labels: no classification error.
    assert not [key for key in metrics if key.startswith("classification")]
    assert "no classification error: " in caplog.text and "--task reach" in caplog.text
    assert np.isfinite(metrics["joint_probe_r2"])
    for picture in ("tsne.png", "distance_matrix.png", "training_curves.png"):
        assert (out / picture).read_bytes()[:4] == b"\x89PNG"


def test_evaluation_on_a_reach_dataset_reports_the_classification_error_and_its_floors(
    tmp_path,
):
    data, run, out = tmp_path / "reach", tmp_path / "run", tmp_path / "eval"
    record = ["record", "--out", str(data), "--episodes", "6", "--val-episodes", "2"]
    record += ["--frames", "36", "--image-size", "32", "--task", "reach", "--no-progress"]
    assert main(record) == 0
    train = ["train-embedding", "--data", str(data), "--out", str(run), *TRIPLETS_ONLY, *TINY]
    assert main([*train, "--schedule.epochs", "1"]) == 0
    threads = torch.get_num_threads()
    try:
        evaluate = ["evaluate-embedding", "--model", str(run), "--data", str(data)]
        assert main([*evaluate, "--out", str(out), "--threads", "1"]) == 0
        assert torch.get_num_threads() == 1  # as asked, beside other runs
    finally:
        torch.set_num_threads(threads)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["classification_train_episodes"] == 4
    for key in (
        "classification_error",
        "classification_error_floor",
        "classification_error_random",
    ):
        assert 0.0 <= metrics[key] <= 1.0, key
        per_attribute = metrics[f"{key}_per_attribute"]
        assert set(per_attribute) == {"target", "phase"}, key
        assert metrics[key] == pytest.approx(np.mean(list(per_attribute.values()))), key
    # The exact joints are near perfect, a random embedding near chance.
    assert metrics["classification_error_floor"] < 0.2 < metrics["classification_error_random"]


def test_unknown_preset_and_bad_model_are_clear_errors(dataset, tmp_path, capsys):
    assert (
        main(
            [
                "train-embedding",
                "--data",
                str(dataset),
                "--out",
                str(tmp_path / "r"),
                "--preset",
                "gpu-xl",
            ]
        )
        == 2
    )
    error = capsys.readouterr().err
    assert "unknown preset 'gpu-xl'; available: contrastive, default, paper" in error
    assert (
        main(
            [
                "embed",
                "--model",
                str(tmp_path / "nothing"),
                "--data",
                str(dataset),
                "--out",
                str(tmp_path / "e"),
            ]
        )
        == 2
    )
    assert "no such run directory or checkpoint file" in capsys.readouterr().err


def test_self_regression_on_babble_recorded_with_the_same_cameras(
    dataset, tmp_path, capsys, caplog
):
    import logging

    import yaml

    def record(out, views, *extra):
        args = ["record", "--out", str(out), "--episodes", "2", "--val-episodes", "0"]
        args += ["--frames", "5", "--image-size", "32", "--views", str(views), "--no-progress"]
        return main([*args, "--motion", "babble", *extra])

    babble, other, bigger = tmp_path / "babble", tmp_path / "babble1", tmp_path / "babble_t2"
    assert record(babble, 2) == 0 and record(other, 1) == 0
    assert record(bigger, 2, "--tool-scale", "1") == 0  # the default scene's tool is 2
    train = [
        "train-embedding",
        "--data",
        str(dataset),
        *TRIPLETS_ONLY,
        *TINY,
    ]
    train += ["--objectives.self-regression", "1", "--schedule.epochs", "1"]
    run = tmp_path / "run"
    assert main([*train, "--out", str(run), "--pose-data", str(babble)]) == 0
    assert yaml.safe_load((run / "config.yaml").read_text())["pose_data"] == str(babble)
    assert np.isfinite(read_history(run)[-1]["train/pose_rmse"])
    # --resume carries on with the self-observation the run began with.
    resume = ["train-embedding", "--data", str(dataset), "--out", str(run), "--resume"]
    with caplog.at_level(logging.INFO, logger="tcn.embedding_run"):
        assert main([*resume, "--schedule.epochs", "2", "--no-progress"]) == 0
    assert "resuming with the run's --pose-data" in caplog.text
    assert yaml.safe_load((run / "config.yaml").read_text())["pose_data"] == str(babble)
    # Frames from another camera set would teach the pose head another view.
    assert main([*train, "--out", str(tmp_path / "r1"), "--pose-data", str(other)]) == 2
    assert "other cameras or another scene" in capsys.readouterr().err
    # So would another tool on the flange, with the same cameras.
    assert main([*train, "--out", str(tmp_path / "r2"), "--pose-data", str(bigger)]) == 2
    assert "other cameras or another scene" in capsys.readouterr().err


def test_pair_weight_trains_on_pairs_and_refuses_other_pose_data(dataset, tmp_path, capsys):
    def record(out, motion):
        args = ["record", "--out", str(out), "--episodes", "2", "--val-episodes", "0"]
        args += ["--frames", "6", "--image-size", "32", "--views", "2", "--no-progress"]
        return main([*args, "--motion", motion, "--pair-sigma", "0.05"])

    pairs, babble = tmp_path / "pairs", tmp_path / "babble"
    assert record(pairs, "pairs") == 0 and record(babble, "babble") == 0
    train = [
        "train-embedding",
        "--data",
        str(dataset),
        *TRIPLETS_ONLY,
        *TINY,
    ]
    train += ["--objectives.self-regression", "1", "--schedule.epochs", "1"]
    train += ["--objectives.pair-weight", "1"]
    run = tmp_path / "run"
    assert main([*train, "--out", str(run), "--pose-data", str(pairs)]) == 0
    assert np.isfinite(read_history(run)[-1]["train/pair_rmse"])
    assert main([*train, "--out", str(tmp_path / "r1"), "--pose-data", str(babble)]) == 2
    assert "recorded in pairs" in capsys.readouterr().err
    assert main([*train, "--out", str(tmp_path / "r2")]) == 2
    assert "recorded in pairs" in capsys.readouterr().err


def test_init_from_starts_a_new_run_from_a_trained_network(dataset, tmp_path, capsys):
    train = [
        "train-embedding",
        "--data",
        str(dataset),
        *TRIPLETS_ONLY,
        *TINY,
    ]
    train += ["--objectives.self-regression", "1", "--schedule.epochs", "1"]
    first = tmp_path / "first"
    assert main([*train, "--out", str(first)]) == 0
    start = load_checkpoint(first / "checkpoints" / "last.pt")["model"]
    # A rate too small to move the weights: the new run holds the first run's network.
    tuned = tmp_path / "tuned"
    slow = ["--schedule.lr", "1e-12", "--schedule.min-lr", "1e-12"]
    assert main([*train, *slow, "--out", str(tuned), "--init-from", str(first)]) == 0
    after = load_checkpoint(tuned / "checkpoints" / "last.pt")["model"]
    fresh = tmp_path / "fresh"
    assert main([*train, *slow, "--seed", "1", "--out", str(fresh)]) == 0
    other = load_checkpoint(fresh / "checkpoints" / "last.pt")["model"]
    weights = [k for k, v in start.items() if v.is_floating_point() and "running" not in k]
    assert weights and all(np.allclose(after[k], start[k], atol=1e-6) for k in weights)
    assert not all(np.allclose(other[k], start[k], atol=1e-6) for k in weights)
    import yaml

    assert yaml.safe_load((tuned / "config.yaml").read_text())["init_from"] == str(first)
    # Resumed, it continues from its own checkpoint and keeps the record of where it began.
    resume = ["train-embedding", "--data", str(dataset), "--out", str(tuned), "--resume"]
    assert main([*resume, "--schedule.epochs", "2", "--no-progress"]) == 0
    assert yaml.safe_load((tuned / "config.yaml").read_text())["init_from"] == str(first)
    # Another network shape is refused by name, before any training.
    assert (
        main(
            [
                *train,
                "--out",
                str(tmp_path / "r1"),
                "--init-from",
                str(first),
                "--model.embedding-dim",
                "8",
            ]
        )
        == 2
    )
    assert "embedding_dim: 32 there, 8 here" in capsys.readouterr().err
    assert not (tmp_path / "r1" / "checkpoints").exists()
