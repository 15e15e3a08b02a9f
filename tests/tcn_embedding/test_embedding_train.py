"""The embedding trainer: the loss goes down, resume is exact, configs are validated."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from tcn_embedding.objectives import PairChange, SelfRegression, Step
from tcn_embedding.train import SECTIONS, EmbeddingTrainer, TrainConfig

TINY = {
    "model": dict(
        backbone="resnet18",
        pretrained=None,
        freeze_backbone=False,
        head_channels=(8, 8),
        hidden_units=16,
        image_size=32,
    ),
    "objectives": dict(self_regression=0.0, pose_batch=0),
    "schedule": dict(
        pose_steps=0,
        epochs=3,
        batch_size=6,
        videos_per_epoch=2,
        triplets_per_video=6,
        passes=1,
        optimizer="adam",
        lr=1e-3,
        eval_every=1,
        eval_triplets=50,
        augment=True,
    ),
    "device": "cpu",
}


def tiny(**changes) -> TrainConfig:
    """TINY with ``changes`` by setting name (``epochs=4``), each put in its section."""
    values = {k: dict(v) if isinstance(v, dict) else v for k, v in TINY.items()}
    section_of = {f.name: s for s, kind in SECTIONS.items() for f in dataclasses.fields(kind)}
    for key, value in changes.items():
        if key in section_of:
            values[section_of[key]][key] = value
        else:
            values[key] = value
    return TrainConfig.from_dict(values)


def synthetic_episodes(n: int, views: int = 1, frames: int = 40) -> list[list[np.ndarray]]:
    """A bright square sliding across the image: position encodes time."""
    episodes = []
    for e in range(n):
        per_view = []
        for v in range(views):
            video = np.zeros((frames, 32, 32, 3), np.uint8)
            for t in range(frames):
                x = int(t * 24 / frames) + (e % 3)
                video[t, 4 + 8 * v : 12 + 8 * v, x : x + 6] = 255
            per_view.append(video)
        episodes.append(per_view)
    return episodes


def weights(trainer: EmbeddingTrainer) -> list[torch.Tensor]:
    return [p.detach().clone() for p in trainer.model.state_dict().values()]


def test_resume_continues_exactly():
    data = synthetic_episodes(3)
    straight = EmbeddingTrainer(tiny(), data, data[:1])
    for _ in range(2):
        straight.train_epoch()

    first = EmbeddingTrainer(tiny(), data, data[:1])
    first.train_epoch()
    state = first.state_dict()
    resumed = EmbeddingTrainer(tiny(), data, data[:1])
    resumed.load_state_dict(state)
    resumed.train_epoch()
    assert resumed.epoch == straight.epoch == 2
    for a, b in zip(weights(straight), weights(resumed), strict=True):
        torch.testing.assert_close(a, b)


def test_training_lowers_the_loss_and_reports_accuracy():
    data = synthetic_episodes(3)
    config = tiny(**{"epochs": 4, "triplets_per_video": 12, "augment": False})
    trainer = EmbeddingTrainer(config, data, data[:2])
    losses = [trainer.train_epoch()["train/loss"] for _ in range(4)]
    assert losses[-1] < losses[0]
    metrics = trainer.evaluate()
    assert 0.0 <= metrics["val/triplet_accuracy_margin"] <= metrics["val/triplet_accuracy"] <= 1


def square_positions(episodes: list[list[np.ndarray]]) -> list[np.ndarray]:
    """A stand-in for proprioception: the square's left edge and top edge (one row per frame)."""
    out = []
    for episode in episodes:
        lit = episode[0][..., 0] > 0
        x = lit.any(axis=1).argmax(axis=1) / 32.0
        y = lit.any(axis=2).argmax(axis=1) / 32.0
        out.append(np.stack([x, y], axis=1).astype(np.float32))
    return out


@pytest.mark.parametrize(("architecture", "pose_batch"), [("tcn", 0), ("tcn", 8), ("smak", 8)])
def test_self_regression_trains_a_pose_head_that_checkpoints_carry(architecture, pose_batch):
    from tcn_embedding.factory import load_model_state

    data = synthetic_episodes(3)
    joints = square_positions(data)
    config = tiny(
        **{"augment": False, "triplets_per_video": 24},
        architecture=architecture,
        self_regression=5.0,
        pose_joints=2,
        pose_batch=pose_batch,
    )
    trainer = EmbeddingTrainer(config, data, data[:1], train_joints=joints, val_joints=joints[:1])
    before = trainer.evaluate()["val/pose_rmse"]
    rmse = [trainer.train_epoch()["train/pose_rmse"] for _ in range(6)]
    assert rmse[-1] < rmse[0]
    assert trainer.evaluate()["val/pose_rmse"] < before
    model = load_model_state(trainer.state_dict())
    weight, bias = model.pose_decoder()
    assert weight.shape == (2, 32) and bias.shape == (2,)
    z = model.embed(data[0][0][:5])
    np.testing.assert_allclose(
        z.numpy() @ weight.T + bias, model.pose(z).detach().numpy(), atol=1e-4
    )
    assert EmbeddingTrainer(tiny(), data).model.pose_decoder() is None


def test_pose_batch_draws_frames_from_every_episode_and_view():
    data = synthetic_episodes(5, views=2)
    joints = square_positions(data)
    config = tiny(self_regression=1.0, pose_joints=2, pose_batch=16)
    trainer = EmbeddingTrainer(config, data, train_joints=joints)
    batches = [trainer._pose_batch() for _ in range(20)]
    frames = np.stack([f for batch, _ in batches for f in batch])
    targets = np.concatenate([q for _, q in batches])
    assert frames.shape == (320, 32, 32, 3) and targets.shape == (320, 2)
    # Every pose frame is some episode's frame with that episode's joints at that time.
    lookup = {
        (e, v, t): joints[e][t]
        for e, episode in enumerate(data)
        for v, view in enumerate(episode)
        for t in range(len(view))
    }
    found = set()
    for frame, target in zip(frames, targets, strict=True):
        keys = [k for k in lookup if np.array_equal(data[k[0]][k[1]][k[2]], frame)]
        assert keys and any(np.array_equal(lookup[k], target) for k in keys)
        found.update((e, v) for e, v, _ in keys)
    assert {e for e, _ in found} == set(range(5)) and {v for _, v in found} == {0, 1}
    # Each step embeds the tuples and the pose frames together.
    stats = trainer.train_epoch()
    assert np.isfinite(stats["train/pose_rmse"])
    assert EmbeddingTrainer(tiny(), data)._pose_batch() is None
    with pytest.raises(ValueError, match="pose_batch"):
        tiny(pose_batch=-1)


def test_pose_episodes_replace_the_training_frames_for_self_regression():
    data = synthetic_episodes(3)
    babble = synthetic_episodes(4, frames=10)[1:]  # other frames, other joints
    babble_joints = [q + 5.0 for q in square_positions(babble)]
    config = tiny(self_regression=1.0, pose_joints=2, pose_batch=16)

    def trainer(config=config, episodes=babble, joints=babble_joints):
        return EmbeddingTrainer(
            config,
            data,
            train_joints=square_positions(data),
            pose_episodes=episodes,
            pose_joints=joints,
        )

    _, targets = trainer()._pose_batch()
    assert targets.min() >= 5.0  # every target is a babble frame's
    assert np.isfinite(trainer().train_epoch()["train/pose_rmse"])
    with pytest.raises(ValueError, match="pose_batch > 0"):
        trainer(config=tiny(self_regression=1.0, pose_joints=2, pose_batch=0))
    with pytest.raises(ValueError, match="views"):
        two_views = synthetic_episodes(2, views=2)
        trainer(episodes=two_views, joints=square_positions(two_views))
    with pytest.raises(ValueError, match="one row per frame"):
        trainer(joints=[q[:3] for q in babble_joints])


def test_pair_weight_fits_the_readings_change_over_recorded_pairs():
    data = synthetic_episodes(3)
    pairs = synthetic_episodes(4, frames=10)  # frame 2i + 1 stands for a move of frame 2i
    pair_joints = [q + 100.0 * e for e, q in enumerate(square_positions(pairs))]  # unique
    config = tiny(self_regression=1.0, pose_joints=2, pose_batch=8, pair_weight=2.0)

    def trainer(config=config, episodes=pairs, joints=pair_joints):
        return EmbeddingTrainer(
            config, data, train_joints=square_positions(data),
            pose_episodes=episodes, pose_joints=joints,
        )  # fmt: skip

    t = trainer()
    frames, targets = t._pose_batch()
    assert len(frames) == 8 and targets.shape == (8, 2)
    for first, second, q1, q2 in zip(
        frames[:4], frames[4:], targets[:4], targets[4:], strict=True
    ):
        [(e, k)] = [(e, k) for e, q in enumerate(pair_joints) for k in range(10)
                    if np.array_equal(q[k], q1)]  # fmt: skip
        assert k % 2 == 0  # a pair's first frame, then its second
        np.testing.assert_array_equal(first, pairs[e][0][k])
        np.testing.assert_array_equal(second, pairs[e][0][k + 1])
        np.testing.assert_array_equal(q2, pair_joints[e][k + 1])
    # The local loss: the pose head's change over each pair against the pair's move.
    z = torch.randn(8, config.model.embedding_dim)
    pose_step = t._pose_step(z, targets, Step())
    absolute, local = SelfRegression()(pose_step), PairChange()(pose_step)
    reading = t.model.pose(z)
    moves = torch.as_tensor(targets[4:] - targets[:4], dtype=torch.float32)
    torch.testing.assert_close(
        local, torch.nn.functional.mse_loss(reading[4:] - reading[:4], moves)
    )
    torch.testing.assert_close(
        absolute, torch.nn.functional.mse_loss(reading, torch.as_tensor(targets))
    )
    stats = t.train_epoch()
    assert np.isfinite(stats["train/pair_rmse"]) and np.isfinite(stats["train/pose_rmse"])
    assert (
        "train/pair_rmse"
        not in trainer(config=tiny(self_regression=1.0, pose_joints=2, pose_batch=8)).train_epoch()
    )
    with pytest.raises(ValueError, match="recorded in pairs"):
        odd = [[v[:9] for v in e] for e in pairs]
        trainer(episodes=odd, joints=[q[:9] for q in pair_joints])
    with pytest.raises(ValueError, match="recorded in pairs"):
        EmbeddingTrainer(config, data, train_joints=square_positions(data))
    with pytest.raises(ValueError, match="pose_batch >= 2"):
        tiny(self_regression=1.0, pose_joints=2, pair_weight=1.0)
    with pytest.raises(ValueError, match="pair_weight"):
        tiny(self_regression=1.0, pose_batch=8, pair_weight=float("nan"))


def test_self_regression_needs_one_joint_row_per_frame():
    data = synthetic_episodes(2)
    config = tiny(self_regression=1.0, pose_joints=2)
    with pytest.raises(ValueError, match="joint positions"):
        EmbeddingTrainer(config, data)
    with pytest.raises(ValueError, match=r"shaped \(39, 2\), expected \(40, 2\)"):
        EmbeddingTrainer(config, data, train_joints=[q[:-1] for q in square_positions(data)])
    with pytest.raises(ValueError, match="no pose head"):
        EmbeddingTrainer(tiny(), data).model.pose(torch.zeros(1, 32))


def test_multi_view_npairs_trains():
    data = synthetic_episodes(2, views=2)
    trainer = EmbeddingTrainer(tiny(**{"loss": "npairs"}), data, data[:1])
    stats = trainer.train_epoch()
    assert np.isfinite(stats["train/loss"]) and stats["train/steps"] > 0


def test_multi_view_validation_reports_alignment_as_evaluation_does():
    from tcn_embedding.metrics import mean_alignment_error

    data = synthetic_episodes(3, views=2)
    joints = [np.concatenate([q, q[:, ::-1], q], axis=1) for q in square_positions(data)]
    trainer = EmbeddingTrainer(tiny(**{"loss": "npairs"}), data, data, val_joints=joints)
    trainer.train_epoch()
    metrics = trainer.evaluate()
    views = [trainer.embed_episodes(data, v) for v in range(2)]
    expected = mean_alignment_error([[a, b] for a, b in zip(*views, strict=True)])
    assert metrics["val/alignment_error"] == pytest.approx(expected)
    assert 0.0 <= metrics["val/alignment_error"] <= 1.0
    # The classification error takes every training frame and the reach task's labels:
    # tcn evaluate-embedding reports it, not the trainer.
    assert "val/classification_error" not in metrics
    # No pose head without self-regression, and single-view runs report no alignment.
    assert "val/pose_rmse" not in metrics
    single = EmbeddingTrainer(tiny(), data_view0 := [e[:1] for e in data], data_view0)
    assert "val/alignment_error" not in single.evaluate()


def test_learning_rate_schedule_is_the_papers_step_decay():
    trainer = EmbeddingTrainer(
        tiny(**{"lr": 0.1, "lr_decay_every": 500, "lr_decay": 0.1, "min_lr": 1e-4}),
        synthetic_episodes(2),
    )
    assert [trainer.learning_rate(e) for e in (0, 499, 500, 1000, 1500, 5000)] == pytest.approx(
        [0.1, 0.1, 0.01, 0.001, 1e-4, 1e-4]
    )


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"loss": "contrastive"}, "objectives.loss must be one of"),
        ({"neg_margin": 5}, r"objectives.neg_margin \(5\) must exceed objectives.pos_range"),
        ({"min_lr": 1.0}, "schedule.min_lr <= schedule.lr"),
        ({"backbone": "vgg"}, "model.backbone must be one of"),
        ({"image_size": 8}, "^model.image_size must be at least 32"),
        (
            {"architecture": "smak", "extended": True, "head_channels": ()},
            "^model.head_channels must name at least one layer",
        ),
        ({"self_regression": 1.0, "pose_joints": -1}, "^objectives.pose_joints must be >= 0"),
        ({"batch_size": 0}, "schedule.batch_size must be at least 1"),
    ],
)
def test_bad_configs_say_what_is_wrong(change, match):
    with pytest.raises(ValueError, match=match):
        tiny(**{**change})


def test_short_episodes_and_single_view_npairs_are_refused():
    with pytest.raises(ValueError, match="has 20 frames; triplets need more than neg_margin=30"):
        EmbeddingTrainer(tiny(), synthetic_episodes(2, frames=20))
    with pytest.raises(ValueError, match="npairs' needs multi-view"):
        EmbeddingTrainer(tiny(**{"loss": "npairs"}), synthetic_episodes(2))


def test_config_round_trip_in_sections():
    config = tiny()
    data = config.to_dict()
    assert set(data) == {"model", "objectives", "schedule", "seed", "device", "amp"}
    assert data["model"]["head_channels"] == [8, 8] and data["schedule"]["epochs"] == 3
    assert TrainConfig.from_dict(data) == config
    with pytest.raises(ValueError, match="unknown training config fields"):
        TrainConfig.from_dict({"learning_rate": 1})
    with pytest.raises(ValueError, match=r"\['schedule.learning_rate'\]; known in schedule"):
        TrainConfig.from_dict({"schedule": {"learning_rate": 1}})


def test_a_flat_config_is_refused_naming_its_settings():
    flat = {**TINY["schedule"], "device": "cpu"}
    with pytest.raises(
        ValueError, match=r"unknown training config fields \['augment', 'batch_size'"
    ):
        TrainConfig.from_dict(flat)


def test_the_choices_are_the_ones_the_networks_take():
    import typing

    from tcn_embedding.factory import ARCHITECTURES
    from tcn_embedding.model import BACKBONES
    from tcn_embedding.smak import ATTENTION_VARIANTS, LEVELS, NORMALIZATIONS
    from tcn_embedding.train import Architecture, Attention, AttentionNormalization, Backbone

    assert set(typing.get_args(Architecture)) == set(ARCHITECTURES)
    assert set(typing.get_args(Backbone)) == set(BACKBONES) == set(LEVELS)
    assert set(typing.get_args(Attention)) == set(ATTENTION_VARIANTS)
    assert set(typing.get_args(AttentionNormalization)) == set(NORMALIZATIONS)


def test_pose_stage_trains_self_regression_alone_then_the_tcn_resumably():
    data = synthetic_episodes(3)
    joints = square_positions(data)
    config = tiny(self_regression=1.0, pose_joints=2, pose_batch=8, pose_steps=150)
    assert config.pose_epochs == 2 and config.total_epochs == 2 + config.schedule.epochs

    def trainer() -> EmbeddingTrainer:
        return EmbeddingTrainer(config, data, data[:1], train_joints=joints, val_joints=joints[:1])

    straight = trainer()
    first = straight.train_epoch()
    assert first["train/pose_stage"] == 1.0 and straight.step == 100
    assert first["train/lr"] < config.schedule.pose_lr  # the cosine has begun
    stage_optimizer = straight.optimizer
    second = straight.train_epoch()
    assert second["train/pose_stage"] == 1.0 and straight.step == 150
    assert second["train/lr"] == pytest.approx(0.0, abs=1e-12)  # annealed to 0
    third = straight.train_epoch()
    assert "train/pose_stage" not in third and straight.optimizer is not stage_optimizer
    assert third["train/lr"] == config.schedule.lr
    # Interrupted after the pose stage and resumed: the same as straight through.
    interrupted = trainer()
    interrupted.train_epoch()
    interrupted.train_epoch()
    state = interrupted.state_dict()
    resumed = trainer()
    resumed.load_state_dict(state)
    assert resumed.train_epoch()["train/loss"] == pytest.approx(third["train/loss"], rel=1e-5)
    with pytest.raises(ValueError, match="self_regression > 0"):
        tiny(pose_steps=10)
