"""SMAK-Net: attention weights, variants, norm, checkpoints through the factory, training, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tcn_embedding.checkpoint import load_checkpoint, save_checkpoint
from tcn_embedding.factory import build_embedding_model, load_model_state
from tcn_embedding.model import TCN, TCNConfig, count_parameters
from tcn_embedding.smak import ATTENTION_VARIANTS, LEVELS, SMAKConfig, SMAKNet
from tcn_embedding.train import (
    EmbeddingTrainer,
    ModelSettings,
    ObjectiveSettings,
    ScheduleSettings,
    TrainConfig,
)

TINY = dict(backbone="resnet18", image_size=32, hidden_units=16, pretrained=None)

# The default preset without its pose stage and self-regression: triplets alone.
TRIPLETS_ONLY = [
    "--preset",
    "default",
    "--schedule.pose-steps",
    "0",
    "--objectives.self-regression",
    "0",
]


def tiny(**change) -> SMAKNet:
    torch.manual_seed(0)
    return SMAKNet(SMAKConfig(**{**TINY, "freeze_backbone": False, **change})).eval()


def images(n: int = 3, size: int = 32) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(1))


def test_sigmoid_attention_lies_in_unit_interval():
    maps = tiny(normalization="sigmoid").attention_maps(images())
    assert [tuple(m.shape) for m in maps] == [(3, 8, 8), (3, 4, 4), (3, 2, 2)]
    for m in maps:
        assert m.min() >= 0.0 and m.max() <= 1.0


def test_softmax_attention_sums_to_one_over_space():
    for m in tiny(normalization="softmax").attention_maps(images()):
        torch.testing.assert_close(m.sum(dim=(1, 2)), torch.ones(3))
        assert m.min() >= 0.0


def test_softmax_features_are_the_attention_weighted_sum_of_the_local_features():
    model = tiny(normalization="softmax", attention="att13")
    x = images(2)
    locals_, top = model._trunk(x)
    g = top.mean(dim=(2, 3))
    for level, local in zip(model.attention, locals_, strict=True):
        pooled, a = level(local, g)
        c = torch.einsum(
            "bchw,c->bhw", local + level.project(g)[:, :, None, None], level.u.weight[0, :, 0, 0]
        )
        expected_a = torch.softmax(c.flatten(1), dim=1).view_as(c)
        torch.testing.assert_close(a, expected_a)
        torch.testing.assert_close(pooled, torch.einsum("bchw,bhw->bc", local, expected_a))


@pytest.mark.parametrize("backbone", ["resnet18", "inception"])
@pytest.mark.parametrize("attention", sorted(ATTENTION_VARIANTS))
def test_each_variant_builds_with_its_levels_and_parameter_count(backbone, attention):
    size = 32 if backbone == "resnet18" else 75
    config = SMAKConfig(
        backbone=backbone, attention=attention, image_size=size, hidden_units=16, pretrained=None
    )
    model = SMAKNet(config).eval()
    levels = [LEVELS[backbone][i - 1] for i in ATTENTION_VARIANTS[attention]]
    assert model.level_names == [name for name, _ in levels]
    top = LEVELS[backbone][-1][1]
    channels = [c for _, c in levels]
    head = (
        sum(top * c + c + c for c in channels)  # projection of g (weight + bias), u (no bias)
        + sum(channels) * 16  # hidden fully connected layer (no bias)
        + 2 * 16  # its BatchNorm
        + 16 * 32  # output layer
        + 32
    )
    assert count_parameters(model) == count_parameters(model.backbone) + head
    assert count_parameters(model, trainable_only=True) == head  # backbone frozen by default
    maps = model.attention_maps(images(2, size))
    assert len(maps) == len(levels)
    assert [m.shape[1] for m in maps] == sorted((m.shape[1] for m in maps), reverse=True)


def test_extended_adds_conv_layers_before_the_global_feature():
    plain, extended = tiny(), tiny(extended=True, extended_channels=(8, 4))
    assert len(plain.extended_convs) == 0
    assert [m.out_channels for m in extended.extended_convs if isinstance(m, torch.nn.Conv2d)] == [
        8,
        4,
    ]
    assert extended.attention[0].project.in_features == 4
    assert extended(images()).shape == (3, 32)


@pytest.mark.parametrize("normalization", ["sigmoid", "softmax"])
def test_embeddings_have_norm_alpha(normalization):
    model = tiny(normalization=normalization, alpha=7.0)
    torch.testing.assert_close(model(images()).norm(dim=1), torch.full((3,), 7.0))
    frames = np.random.default_rng(0).integers(0, 256, (5, 40, 48, 3), dtype=np.uint8)
    emb = model.embed(frames, batch_size=2)
    assert emb.shape == (5, 32)
    torch.testing.assert_close(emb.norm(dim=1), torch.full((5,), 7.0))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"attention": "att4"}, "attention must be one of .* got 'att4'"),
        ({"normalization": "relu"}, "normalization must be one of .* got 'relu'"),
        ({"backbone": "vgg"}, "backbone must be one of .* got 'vgg'"),
        ({"image_size": 16}, "image_size must be at least 32 .* got 16"),
        ({"extended": 1}, "extended must be a bool, got 1"),
        ({"extended_channels": (8, 0)}, "extended_channels entry .* got 0"),
    ],
)
def test_bad_configs_say_what_is_wrong(change, match):
    with pytest.raises(ValueError, match=match):
        SMAKConfig(**{**TINY, **change})


def test_config_round_trip():
    config = SMAKConfig(**TINY, attention="att23", extended=True, extended_channels=(8,))
    assert SMAKConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown SMAKConfig fields"):
        SMAKConfig.from_dict({"head_channels": [8]})


def test_checkpoint_round_trip_through_the_factory(tmp_path):
    model = tiny(attention="att13", normalization="softmax")
    with torch.no_grad():  # move BatchNorm statistics off their defaults
        model.train()(images(4))
    model.eval()
    state = model.checkpoint_state()
    assert state["architecture"] == "smak"
    save_checkpoint(tmp_path / "smak.pt", state)
    restored = load_model_state(load_checkpoint(tmp_path / "smak.pt")).eval()
    assert isinstance(restored, SMAKNet) and restored.config == model.config
    torch.testing.assert_close(restored(images()), model(images()))
    with pytest.raises(ValueError, match="architecture must be one of"):
        load_model_state({**state, "architecture": "vit"})


def test_tcn_era_checkpoint_still_loads_as_tcn(tmp_path):
    tcn = TCN(
        TCNConfig(
            backbone="resnet18",
            image_size=32,
            head_channels=(8,),
            hidden_units=16,
            pretrained=None,
        )
    ).eval()
    state = tcn.checkpoint_state()
    assert state.pop("architecture") == "tcn"  # checkpoints from before SMAK-Net had no key
    save_checkpoint(tmp_path / "tcn.pt", state)
    restored = load_model_state(load_checkpoint(tmp_path / "tcn.pt")).eval()
    assert isinstance(restored, TCN)
    torch.testing.assert_close(restored(images()), tcn(images()))


def test_train_config_builds_the_chosen_architecture():
    def config(**model) -> TrainConfig:
        return TrainConfig(model=ModelSettings(**TINY, head_channels=(8,), **model), device="cpu")

    assert isinstance(build_embedding_model(config()), TCN)
    smak = config(architecture="smak", attention="att12", attention_normalization="softmax")
    model = build_embedding_model(smak)
    assert isinstance(model, SMAKNet)
    assert (model.config.attention, model.config.normalization) == ("att12", "softmax")
    assert model.config.extended_channels == (8,)
    assert TrainConfig.from_dict(smak.to_dict()) == smak
    with pytest.raises(ValueError, match="model.architecture must be one of .* got 'vit'"):
        config(architecture="vit")
    with pytest.raises(ValueError, match="model.attention must be one of"):
        config(architecture="smak", attention="att9")


def two_view_episodes(n: int, frames: int = 40) -> list[list[np.ndarray]]:
    """A bright square sliding across the image, seen at two heights (the two views)."""
    episodes = []
    for e in range(n):
        views = [np.zeros((frames, 32, 32, 3), np.uint8) for _ in range(2)]
        for v, video in enumerate(views):
            for t in range(frames):
                x = int(t * 24 / frames) + (e % 3)
                video[t, 4 + 8 * v : 12 + 8 * v, x : x + 6] = 255
        episodes.append(views)
    return episodes


def test_multi_view_npairs_training_step_runs():
    data = two_view_episodes(2)
    config = TrainConfig(
        model=ModelSettings(**TINY, architecture="smak", freeze_backbone=False),
        objectives=ObjectiveSettings(loss="npairs", self_regression=0.0),
        schedule=ScheduleSettings(
            pose_steps=0,
            batch_size=4,
            epochs=1,
            videos_per_epoch=2,
            triplets_per_video=4,
            passes=1,
            optimizer="adam",
            lr=1e-3,
            eval_triplets=20,
        ),
        device="cpu",
    )
    trainer = EmbeddingTrainer(config, data, data[:1])
    assert isinstance(trainer.model, SMAKNet)
    before = [p.detach().clone() for p in trainer.model.attention.parameters()]
    stats = trainer.train_epoch()
    assert np.isfinite(stats["train/loss"]) and stats["train/steps"] > 0
    after = list(trainer.model.attention.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))
    assert "val/triplet_accuracy" in trainer.evaluate()
    assert trainer.state_dict()["architecture"] == "smak"


def test_plot_attention_writes_a_png(tmp_path):
    from tcn.plots import plot_attention

    model = tiny(attention="att13")
    frames = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    maps = model.attention_maps(model.preprocess(frames))
    plot_attention(frames, maps, tmp_path / "attention.png", labels=model.level_names)
    assert (tmp_path / "attention.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="attention map 0 must be shaped"):
        plot_attention(frames, [maps[0][:1]], tmp_path / "bad.png")


def test_cli_trains_and_evaluates_smak(tmp_path, capsys):
    from tcn.cli import main

    data = tmp_path / "mv"
    record = ["record", "--out", str(data), "--episodes", "3", "--val-episodes", "2"]
    record += ["--frames", "36", "--image-size", "32", "--views", "2", "--no-progress"]
    assert main(record) == 0
    run = tmp_path / "run"
    train = ["train-embedding", "--data", str(data), "--out", str(run), *TRIPLETS_ONLY]
    train += ["--model.architecture", "smak", "--model.attention", "att13"]
    train += ["--model.image-size", "32", "--model.hidden-units", "16"]
    train += ["--schedule.batch-size", "4", "--schedule.videos-per-epoch", "2"]
    train += ["--schedule.triplets-per-video", "4", "--objectives.loss", "npairs"]
    train += ["--schedule.epochs", "1", "--schedule.eval-every", "1"]
    train += ["--schedule.eval-triplets", "20", "--no-progress"]
    assert main(train) == 0
    assert load_checkpoint(run / "checkpoints" / "last.pt")["architecture"] == "smak"
    out = tmp_path / "eval"
    assert (
        main(["evaluate-embedding", "--model", str(run), "--data", str(data), "--out", str(out)])
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["views"] == 2 and 0.0 <= metrics["alignment_error"] <= 1.0
    assert (out / "attention.png").read_bytes()[:4] == b"\x89PNG"

    # A run saved before the settings had sections (flat, in the checkpoint and in config.yaml)
    # is refused with the settings it does not know, and the run is left as it was.
    import yaml

    from tcn.runs import flat_settings

    tcn_run = tmp_path / "tcn_run"
    tcn_train = ["train-embedding", "--data", str(data), "--out", str(tcn_run), *TRIPLETS_ONLY]
    tcn_train += ["--model.image-size", "32", "--model.head-channels", "8"]
    tcn_train += ["--model.hidden-units", "16", "--schedule.batch-size", "4"]
    tcn_train += ["--schedule.videos-per-epoch", "2", "--schedule.triplets-per-video", "4"]
    tcn_train += ["--schedule.eval-every", "0", "--no-progress"]
    assert main([*tcn_train, "--schedule.epochs", "1"]) == 0

    def old(settings: dict) -> dict:
        return {k.rsplit(".", 1)[-1]: v for k, v in flat_settings(settings).items()}

    state = load_checkpoint(tcn_run / "checkpoints" / "last.pt")
    state["train_config"] = old(state["train_config"])
    save_checkpoint(tcn_run / "checkpoints" / "last.pt", state)
    stored = yaml.safe_load((tcn_run / "config.yaml").read_text())
    stored["train"] = old(stored["train"])
    (tcn_run / "config.yaml").write_text(yaml.safe_dump(stored))
    before = {f: f.read_bytes() for f in sorted(tcn_run.rglob("*")) if f.is_file()}
    resume = ["train-embedding", "--data", str(data), "--out", str(tcn_run), "--resume"]
    assert main([*resume, "--schedule.epochs", "2", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "unknown training config fields" in err and "'batch_size'" in err
    assert {f: f.read_bytes() for f in sorted(tcn_run.rglob("*")) if f.is_file()} == before
