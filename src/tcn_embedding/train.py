"""Training of the TCN embedding: the paper's schedule, single- or multi-view, resumable.

The trainer is pure: it takes episodes as uint8 frame arrays already in memory
(decoded once, so the model and not the loader sets the pace), and exposes
``train_epoch``, ``evaluate``, ``state_dict`` and ``load_state_dict``. Where
checkpoints and logs go is the caller's business (``tcn train-embedding``).

The settings (:class:`TrainConfig`) come in sections: ``model`` (the network),
``objectives`` (what it minimises) and ``schedule`` (how long, how fast).

An epoch follows Sermanet et al.'s published schedule: draw
``schedule.videos_per_epoch`` training videos, sample ``schedule.triplets_per_video``
triplets from each, and make ``schedule.passes`` passes over those triplets in batches of
``schedule.batch_size``. With several views per episode the triplets are multi-view
(positive = same time in another view) or, with ``objectives.loss`` ``npairs``, batches of
time-aligned anchor/positive pairs from two views.

With ``schedule.pose_steps`` > 0 a first stage trains the pose reader: self-regression alone
on the robot's own frames (``pose_episodes``, e.g. ``tcn record --motion babble``), in epochs
of :data:`POSE_EPOCH_STEPS` steps, before the time-contrastive stage starts from its weights.

Resuming restores the model, optimiser, schedule and every random generator, so
a run interrupted after epoch ``k`` and resumed continues exactly as if it had
not stopped.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from tcn_embedding.factory import EmbeddingModel, build_embedding_model
from tcn_embedding.metrics import mean_alignment_error, triplet_accuracy
from tcn_embedding.model import SettingError, TCNConfig
from tcn_embedding.objectives import Step, objectives_for, pose_only
from tcn_embedding.sampling import (
    DEFAULT_MIN_SEPARATION,
    sample_multi_view_npairs,
    sample_multi_view_triplets,
    sample_single_view_triplets,
)
from tcn_embedding.smak import SMAKConfig

log = logging.getLogger(__name__)

Episodes = Sequence[Sequence[np.ndarray]]
"""Episodes x views, each view ``(T, H, W, 3)`` uint8 RGB."""

Architecture = Literal["tcn", "smak"]
Backbone = Literal["inception", "resnet18"]
Attention = Literal["att12", "att13", "att23", "att123"]
AttentionNormalization = Literal["sigmoid", "softmax"]
Loss = Literal["triplet", "npairs"]
Optimizer = Literal["sgd", "adam"]
LOSSES: tuple[str, ...] = typing.get_args(Loss)
OPTIMIZERS: tuple[str, ...] = typing.get_args(Optimizer)
POSE_EPOCH_STEPS = 100
"""Steps per epoch of the pose stage (``schedule.pose_steps``): its unit of checkpoints and
logs."""


@dataclass
class ModelSettings:
    """The network (:class:`TCNConfig`, or :class:`SMAKConfig` for ``architecture`` smak)."""

    architecture: Architecture = "tcn"
    """``tcn`` (spatial soft-argmax, Sermanet et al.) or ``smak`` (SMAK-Net: multi-level
    spatial attention, Ramachandrani et al.)."""
    backbone: Backbone = "resnet18"
    """``inception`` (Inception-v3 to Mixed_5d, the paper) or ``resnet18`` (to layer2, CPU)."""
    pretrained: str | None = None
    """Backbone weights: ``imagenet``, a state-dict file, or None (random initialisation)."""
    freeze_backbone: bool = False
    """Keep the backbone fixed (the published configuration)."""
    embedding_dim: int = 32
    """Size of the embedding (32 in the paper)."""
    alpha: float = 10.0
    """Norm of every embedding."""
    head_channels: tuple[int, ...] = (128, 64)
    """Channels of the two 3x3 conv + BatchNorm + ReLU layers before the soft-argmax (smak:
    of the extra conv layers before the global feature, used only with ``extended``)."""
    hidden_units: int = 256
    """Units of the hidden fully connected layer (the paper: 2048)."""
    image_size: int = 96
    """Square side of the network's input; frames are resized to it."""
    attention: Attention = "att123"
    """smak only: the trunk levels attended to."""
    attention_normalization: AttentionNormalization = "sigmoid"
    """smak only: attention weights by a sigmoid per position or a softmax over space."""
    extended: bool = False
    """smak only: extra conv layers (``head_channels``) before the global feature."""


@dataclass
class ObjectiveSettings:
    """What the network is trained to minimise (:func:`objectives_for`): the time-contrastive
    loss, self-regression and the local pose loss, each at its weight."""

    loss: Loss = "triplet"
    """``triplet`` (single- or multi-view triplets) or ``npairs`` (multi-view only)."""
    margin: float = 2.0
    """Triplet margin on squared L2 distances."""
    pos_range: int = 10
    """Single-view positives lie within this many frames of the anchor."""
    neg_margin: int = 30
    """Negatives lie at least this many frames from the anchor."""
    npairs_l2_reg: float = 0.002
    """Weight of the embedding L2 regulariser of the n-pairs loss."""
    self_regression: float = 5.0
    """Weight of self-regression (0: off): a linear pose head on the embedding predicts the
    robot's own joint positions of every training frame (mean squared error in rad^2), as in
    the TCN paper's pose imitation. The targets are the robot's proprioception recorded with
    its own frames; the demonstrations an agent later imitates are never used."""
    pose_joints: int = 7
    """Joints the pose head predicts when ``self_regression`` > 0."""
    pose_batch: int = 32
    """Self-regression frames per step, drawn uniformly from every training episode and view
    and embedded in the same forward pass as the step's tuples (the presets use 32). 0:
    regress on the tuples' own frames, which all come from the epoch's
    ``schedule.videos_per_epoch`` episodes (runs made before the field; the head then barely
    learnt, docs/embedding.md)."""
    pair_weight: float = 0.0
    """Weight of the local pose loss (0: off). Needs pose episodes recorded in pairs (``tcn
    record --motion pairs``: frame ``2i + 1`` a small move of frame ``2i``); the pose batch
    then holds ``pose_batch / 2`` such pairs, and the pose head's change over each pair must
    equal the move (mean squared error in rad^2). A closed loop compares two readings, the
    demonstration's and its own, so what it needs is this change, not the absolute reading
    (docs/embedding.md)."""


@dataclass
class ScheduleSettings:
    """The pose-reader stage, then the time-contrastive epochs and their validation."""

    pose_steps: int = 6000
    """Steps of a first stage that trains self-regression alone, the pose reader (0: no such
    stage): ``pose_stage_batch`` frames per step from every pose episode, Adam at
    ``pose_lr`` annealed to 0 by a cosine, no augmentation. The time-contrastive epochs then
    start from its weights with a fresh optimiser. Needs ``objectives.self_regression`` > 0."""
    pose_stage_batch: int = 64
    """Frames per step of the pose stage."""
    pose_lr: float = 1e-3
    """Adam's starting learning rate in the pose stage (annealed to 0 by a cosine)."""
    epochs: int = 60
    """Epochs of the time-contrastive stage."""
    batch_size: int = 32
    """Triplets (or n-pairs) per optimisation step."""
    videos_per_epoch: int = 8
    """Training videos drawn for each epoch."""
    triplets_per_video: int = 40
    """Triplets (or n-pairs) sampled from each of the epoch's videos."""
    passes: int = 1
    """Passes over each epoch's triplets."""
    optimizer: Optimizer = "adam"
    """The time-contrastive stage's optimiser: SGD with momentum (the paper) or Adam."""
    lr: float = 2e-4
    """Learning rate of the time-contrastive stage at its first epoch."""
    momentum: float = 0.9
    """SGD's momentum (unused by Adam)."""
    weight_decay: float = 0.0
    """L2 weight decay of the optimiser."""
    lr_decay_every: int = 30
    """Epochs between steps of the learning rate's decay (by ``lr_decay``)."""
    lr_decay: float = 0.3
    """Factor the learning rate is multiplied by every ``lr_decay_every`` epochs, in (0, 1]
    (the paper: 0.1)."""
    min_lr: float = 1e-5
    """Floor of the decaying learning rate."""
    augment: bool = False
    """Random shifts (pad 4 %, crop back) and brightness/contrast jitter of training frames."""
    eval_every: int = 20
    """Epochs between validation triplet accuracies (0: never)."""
    eval_triplets: int = 1000
    """Validation triplets the triplet accuracy is measured on."""


SECTIONS = {"model": ModelSettings, "objectives": ObjectiveSettings, "schedule": ScheduleSettings}
"""TrainConfig's sections by name."""


@dataclass
class TrainConfig:
    """Every setting of an embedding training run, in sections (a preset is one of these).

    ``model`` is passed to :class:`TCNConfig` (``model.architecture`` tcn) or
    :class:`~tcn_embedding.smak.SMAKConfig` (smak). The built-in defaults are the ``default``
    preset (``config/presets/embedding_default.yaml``; a test keeps them equal): a ResNet-18
    trunk to layer2 from random weights at 96 px, a 6000-step pose-reader stage on
    self-regression alone, then 60 epochs of triplets plus self-regression. The paper's
    settings are the ``paper`` preset.
    """

    model: ModelSettings = field(default_factory=ModelSettings)
    objectives: ObjectiveSettings = field(default_factory=ObjectiveSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    seed: int = 0
    """Seeds the network's initialisation, the sampling and the augmentation."""
    device: str = "auto"
    """``auto`` (CUDA when available), ``cpu`` or ``cuda[:i]``."""
    amp: bool = True
    """Mixed precision (bfloat16 autocast) and channels_last on CUDA; ignored on CPU."""

    def __post_init__(self) -> None:
        m, o, s = self.model, self.objectives, self.schedule
        m.head_channels = tuple(int(c) for c in m.head_channels)
        if m.pretrained in ("", "none", "None"):
            m.pretrained = None
        for section, kind in SECTIONS.items():  # the choices (Literal types)
            for name, hint in typing.get_type_hints(kind).items():
                value, allowed = getattr(getattr(self, section), name), typing.get_args(hint)
                if typing.get_origin(hint) is Literal and value not in allowed:
                    raise ValueError(f"{section}.{name} must be one of {allowed}, got {value!r}")
        for section, name in (
            *(("schedule", n) for n in ("epochs", "batch_size", "videos_per_epoch")),
            *(("schedule", n) for n in ("triplets_per_video", "passes", "lr_decay_every")),
            ("objectives", "pos_range"),
            ("objectives", "neg_margin"),
        ):
            value = getattr(getattr(self, section), name)
            if int(value) < 1:
                raise ValueError(f"{section}.{name} must be at least 1, got {value!r}")
        if not (math.isfinite(o.self_regression) and o.self_regression >= 0):
            raise ValueError(f"objectives.self_regression must be >= 0, got {o.self_regression!r}")
        if o.pose_batch < 0:
            raise ValueError(f"objectives.pose_batch must be >= 0, got {o.pose_batch}")
        if not (math.isfinite(o.pair_weight) and o.pair_weight >= 0):
            raise ValueError(f"objectives.pair_weight must be >= 0, got {o.pair_weight!r}")
        if o.pair_weight > 0 and (o.self_regression <= 0 or o.pose_batch < 2):
            raise ValueError(
                "objectives.pair_weight needs self-regression with a pose batch of at least "
                "one pair: objectives.self_regression > 0 and objectives.pose_batch >= 2, got "
                f"{o.self_regression} and {o.pose_batch}"
            )
        if s.pose_steps < 0 or s.pose_stage_batch < 2:
            raise ValueError(
                "need schedule.pose_steps >= 0 and schedule.pose_stage_batch >= 2, got "
                f"{s.pose_steps} and {s.pose_stage_batch}"
            )
        if s.pose_steps and o.self_regression <= 0:
            raise ValueError(
                "schedule.pose_steps trains self-regression: it needs "
                "objectives.self_regression > 0"
            )
        if not (math.isfinite(s.pose_lr) and s.pose_lr > 0):
            raise ValueError(f"schedule.pose_lr must be > 0, got {s.pose_lr!r}")
        if s.eval_every < 0:
            raise ValueError(f"schedule.eval_every must be >= 0, got {s.eval_every}")
        if not (s.lr > 0 and 0 < s.lr_decay <= 1 and 0 < s.min_lr <= s.lr):
            raise ValueError(
                "need schedule.lr > 0, 0 < schedule.lr_decay <= 1 and 0 < schedule.min_lr <= "
                f"schedule.lr; got lr={s.lr}, lr_decay={s.lr_decay}, min_lr={s.min_lr}"
            )
        if o.neg_margin <= o.pos_range:
            raise ValueError(
                f"objectives.neg_margin ({o.neg_margin}) must exceed objectives.pos_range "
                f"({o.pos_range})"
            )
        try:
            self.model_config()  # validates the model fields too
        except SettingError as exc:
            raise exc.renamed(_network_setting(self, exc.setting)) from None

    @property
    def pose_epochs(self) -> int:
        """Epochs of the pose stage (:data:`POSE_EPOCH_STEPS` steps each, the last maybe
        fewer)."""
        return -(-self.schedule.pose_steps // POSE_EPOCH_STEPS)

    @property
    def total_epochs(self) -> int:
        """Pose-stage epochs plus time-contrastive epochs."""
        return self.pose_epochs + self.schedule.epochs

    def model_config(self) -> TCNConfig | SMAKConfig:
        """The network's config: :class:`TCNConfig` or :class:`SMAKConfig` by architecture,
        its fields from the settings :func:`_network_fields` names."""
        values = {
            field: getattr(getattr(self, section), name)
            for field, (section, name) in _network_fields(self).items()
        }
        if self.objectives.self_regression <= 0:
            values["pose_joints"] = 0
        kind = SMAKConfig if self.model.architecture == "smak" else TCNConfig
        return kind(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested data (sections as mappings, tuples as lists), as presets hold it."""
        data = dataclasses.asdict(self)
        data["model"]["head_channels"] = list(self.model.head_channels)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys (a setting outside its section) raise
        ``ValueError`` naming them and the known ones."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown training config fields {unknown}; known: {sorted(known)}")
        values = dict(data)
        for name, kind in SECTIONS.items():
            section = dict(values.get(name) or {})
            names = {f.name for f in dataclasses.fields(kind)}
            unknown = sorted(set(section) - names)
            if unknown:
                raise ValueError(
                    f"unknown training config fields {[f'{name}.{k}' for k in unknown]}; known "
                    f"in {name}: {sorted(names)}"
                )
            values[name] = kind(**section)
        return cls(**values)


_COMMON_FIELDS = (
    "backbone",
    "embedding_dim",
    "alpha",
    "hidden_units",
    "image_size",
    "pretrained",
    "freeze_backbone",
)


def _network_fields(config: TrainConfig) -> dict[str, tuple[str, str]]:
    """The network config's fields -> the (section, setting) each is taken from."""
    fields = {name: ("model", name) for name in _COMMON_FIELDS}
    fields["pose_joints"] = ("objectives", "pose_joints")
    if config.model.architecture == "smak":
        fields["attention"] = ("model", "attention")
        fields["normalization"] = ("model", "attention_normalization")
        fields["extended"] = ("model", "extended")
        fields["extended_channels"] = ("model", "head_channels")
    else:
        fields["head_channels"] = ("model", "head_channels")
    return fields


def _network_setting(config: TrainConfig, field: str) -> str:
    """The dotted setting (``model.image_size``) the network field ``field`` comes from."""
    return ".".join(_network_fields(config).get(field, ("model", field)))


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _check_episodes(
    episodes: Episodes, what: str, config: TrainConfig, tuples: bool = True
) -> int:
    """The episodes' number of views; ``tuples``: they must also hold training tuples."""
    if not episodes:
        raise ValueError(f"no {what} episodes")
    views = {len(e) for e in episodes}
    if len(views) != 1:
        raise ValueError(f"{what} episodes have different numbers of views: {sorted(views)}")
    for i, episode in enumerate(episodes):
        lengths = {len(v) for v in episode}
        if len(lengths) != 1:
            raise ValueError(f"{what} episode {i}: views have different lengths {sorted(lengths)}")
        neg_margin = config.objectives.neg_margin
        if tuples and next(iter(lengths)) <= neg_margin:
            raise ValueError(
                f"{what} episode {i} has {next(iter(lengths))} frames; triplets need more than "
                f"neg_margin={neg_margin} (record longer episodes or lower "
                "--objectives.neg-margin)"
            )
    n_views = views.pop()
    if tuples and config.objectives.loss == "npairs" and n_views < 2:
        raise ValueError("loss 'npairs' needs multi-view episodes (record with --views 2 or more)")
    return n_views


class EmbeddingTrainer:
    """Trains a TCN or SMAK-Net (``config.model.architecture``) on in-memory episodes; see the
    module docstring."""

    def __init__(
        self,
        config: TrainConfig,
        train_episodes: Episodes,
        val_episodes: Episodes | None = None,
        model: EmbeddingModel | None = None,
        train_joints: Sequence[np.ndarray] | None = None,
        val_joints: Sequence[np.ndarray] | None = None,
        pose_episodes: Episodes | None = None,
        pose_joints: Sequence[np.ndarray] | None = None,
    ) -> None:
        self.config = config
        o = config.objectives
        self.n_views = _check_episodes(train_episodes, "training", config)
        self.train_joints = None
        self.val_joints = None  # for the pose head (self-regression)
        if o.self_regression > 0:
            self.train_joints = _check_joints(train_joints, train_episodes, o.pose_joints)
        # Where the pose_batch frames come from: the training episodes, or separate
        # self-observation recordings (tcn record --motion babble).
        self.pose_episodes, self.pose_targets = train_episodes, self.train_joints
        if pose_episodes is not None:
            if o.self_regression <= 0 or o.pose_batch <= 0:
                raise ValueError(
                    "pose episodes feed self-regression: they need objectives.self_regression "
                    f"> 0 and objectives.pose_batch > 0, got {o.self_regression} and "
                    f"{o.pose_batch}"
                )
            _check_episodes(pose_episodes, "pose", config, tuples=False)
            found = (len(pose_episodes[0]), pose_episodes[0][0].shape[1:])
            wanted = (self.n_views, train_episodes[0][0].shape[1:])
            if found != wanted:
                raise ValueError(
                    f"pose episodes have {found[0]} views of {found[1]} frames, the training "
                    f"episodes {wanted[0]} of {wanted[1]}; record them with the same cameras"
                )
            self.pose_episodes = pose_episodes
            self.pose_targets = _check_joints(pose_joints, pose_episodes, o.pose_joints)
        if o.pair_weight > 0:
            odd = [i for i, e in enumerate(self.pose_episodes) if len(e[0]) % 2]
            if pose_episodes is None or odd:
                raise ValueError(
                    "objectives.pair_weight needs pose episodes recorded in pairs (tcn record "
                    "--motion pairs, an even number of frames each), got "
                    + ("none" if pose_episodes is None else f"odd lengths in episodes {odd}")
                )
        if val_episodes:
            _check_episodes(val_episodes, "validation", config)
            if val_joints is not None and o.self_regression > 0:
                self.val_joints = _check_joints(val_joints, val_episodes, o.pose_joints)
        self.train_episodes = train_episodes
        self.val_episodes = val_episodes or []
        self.device = resolve_device(config.device)
        torch.manual_seed(config.seed)
        self.rng = np.random.default_rng(config.seed)
        self.model = (model or build_embedding_model(config.model_config())).to(self.device)
        self.use_amp = config.amp and self.device.type == "cuda"
        if self.use_amp:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = self._optimizer(pose_stage=config.pose_epochs > 0)
        self.objectives = objectives_for(config)
        self.pose_objective = pose_only()
        self.epoch = 0  # epochs completed
        self.step = 0  # optimisation steps completed

    def _optimizer(self, pose_stage: bool) -> torch.optim.Optimizer:
        """Adam at ``schedule.pose_lr`` for the pose stage, else ``schedule.optimizer``."""
        s = self.config.schedule
        params = [p for p in self.model.parameters() if p.requires_grad]
        if pose_stage:
            return torch.optim.Adam(params, lr=s.pose_lr)
        if s.optimizer == "sgd":
            return torch.optim.SGD(
                params, lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay
            )
        return torch.optim.Adam(params, lr=s.lr, weight_decay=s.weight_decay)

    # ------------------------------------------------------------------ schedule
    def learning_rate(self, epoch: int) -> float:
        """Step decay: ``lr * lr_decay ** (epoch // lr_decay_every)``, floored at ``min_lr``;
        ``epoch`` counts the time-contrastive epochs (all of them ``schedule``'s)."""
        s = self.config.schedule
        return max(s.lr * s.lr_decay ** (epoch // s.lr_decay_every), s.min_lr)

    def pose_learning_rate(self, step: int) -> float:
        """The pose stage's cosine: ``schedule.pose_lr`` at step 0 down to 0 at
        ``schedule.pose_steps``."""
        s = self.config.schedule
        return 0.5 * s.pose_lr * (1.0 + math.cos(math.pi * min(step, s.pose_steps) / s.pose_steps))

    @property
    def in_pose_stage(self) -> bool:
        return self.epoch < self.config.pose_epochs

    # ------------------------------------------------------------------ batches
    def _frames(self, items: np.ndarray) -> list[np.ndarray]:
        """uint8 frames ``(H, W, 3)`` for rows ``(episode, view, t)``."""
        return [self.train_episodes[e][v][t] for e, v, t in items]

    def _epoch_tuples(self) -> tuple[np.ndarray, int]:
        """This epoch's training tuples as rows of ``(episode, view, t)`` per member.

        Returns ``(tuples (N, k, 3), k)``: k = 3 for triplets (anchor, positive,
        negative), 2 for n-pairs (anchor, positive).
        """
        s, o = self.config.schedule, self.config.objectives
        count = min(s.videos_per_epoch, len(self.train_episodes))
        videos = self.rng.choice(len(self.train_episodes), size=count, replace=False)
        chunks = []
        for e in videos:
            length = len(self.train_episodes[e][0])
            if o.loss == "npairs":
                # One n-pairs batch per chunk: its time steps are distinct classes, so
                # at most as many as fit DEFAULT_MIN_SEPARATION frames apart.
                fits = (length - 1) // DEFAULT_MIN_SEPARATION + 1
                per_batch = min(s.batch_size, fits)
                for _ in range(max(1, s.triplets_per_video // per_batch)):
                    anchor, positive = sample_multi_view_npairs(
                        length, self.n_views, per_batch, self.rng
                    )
                    chunks.append(_with_episode(e, np.stack([anchor, positive], axis=1)))
            elif self.n_views > 1:
                anchor, positive, negative = sample_multi_view_triplets(
                    length,
                    self.n_views,
                    s.triplets_per_video,
                    self.rng,
                    neg_margin=o.neg_margin,
                )
                chunks.append(_with_episode(e, np.stack([anchor, positive, negative], axis=1)))
            else:
                triplets = sample_single_view_triplets(
                    length,
                    s.triplets_per_video,
                    self.rng,
                    pos_range=o.pos_range,
                    neg_margin=o.neg_margin,
                )
                views = np.zeros_like(triplets)
                chunks.append(_with_episode(e, np.stack([views, triplets], axis=-1)))
        if o.loss == "npairs":
            return np.stack(chunks), 2  # (batches, B, 2, 3): each chunk is one batch
        return np.concatenate(chunks), 3

    def _augment(self, x: Tensor) -> Tensor:
        """Random shifts and brightness/contrast jitter of normalised images ``(B, 3, S, S)``."""
        b, _, s, _ = x.shape
        pad = max(1, s // 25)
        padded = F.pad(x, (pad, pad, pad, pad), mode="replicate")
        gen = torch.Generator().manual_seed(int(self.rng.integers(2**31)))
        ox = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
        oy = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
        rows = torch.stack([padded[i, :, oy[i] : oy[i] + s, ox[i] : ox[i] + s] for i in range(b)])
        scale = 1.0 + 0.2 * (torch.rand(b, 1, 1, 1, generator=gen) - 0.5)
        shift = 0.2 * (torch.rand(b, 1, 1, 1, generator=gen) - 0.5)
        return (rows * scale.to(x) + shift.to(x)).contiguous()

    def _embed_batch(self, frames: np.ndarray, augment: bool | None = None) -> Tensor:
        """Embeddings of uint8 ``frames``, augmented when ``augment`` (default: the config's)."""
        x = self.model.preprocess(frames)
        if self.config.schedule.augment if augment is None else augment:
            x = self._augment(x)
        if self.use_amp:
            x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                return self.model(x).float()
        return self.model(x)

    def _pose_batch(self) -> tuple[list[np.ndarray], np.ndarray] | None:
        """Frames (``n`` of ``(H, W, 3)``) and joint targets ``(n, J)`` of this step's
        self-regression batch, drawn uniformly over every frame and view of the pose
        episodes (None: no self-regression, or ``objectives.pose_batch`` 0). With
        ``objectives.pair_weight``, ``n // 2`` pairs: the first frames of every pair, then
        their second frames."""
        if self.pose_targets is None or self.config.objectives.pose_batch == 0:
            return None
        return self._pose_frames(self.config.objectives.pose_batch)

    def _pose_frames(self, n: int) -> tuple[list[np.ndarray], np.ndarray]:
        """``n`` self-regression frames and their joints (see :meth:`_pose_batch`)."""
        pairs = self.config.objectives.pair_weight > 0
        m = n // 2 if pairs else n
        episodes = self.rng.integers(len(self.pose_episodes), size=m)
        views = self.rng.integers(self.n_views, size=m)
        lengths = [len(self.pose_episodes[e][0]) for e in episodes]
        if pairs:
            times = [2 * int(self.rng.integers(length // 2)) for length in lengths]
            times = times + [t + 1 for t in times]
            episodes, views = np.tile(episodes, 2), np.tile(views, 2)
        else:
            times = [int(self.rng.integers(length)) for length in lengths]
        rows = list(zip(episodes, views, times, strict=True))
        frames = [self.pose_episodes[e][v][t] for e, v, t in rows]
        return frames, np.stack([self.pose_targets[e][t] for e, _, t in rows])

    def _pose_step(self, z: Tensor, target: np.ndarray, step: Step) -> Step:
        """``step`` with the pose head's readings of embeddings ``z`` and the joints
        ``(n, J)`` they show (pairs in :meth:`_pose_batch`'s order with a pair weight)."""
        step.pose = self.model.pose(z.float())
        step.pose_target = torch.as_tensor(target, dtype=torch.float32, device=z.device)
        step.paired = self.config.objectives.pair_weight > 0
        return step

    # ------------------------------------------------------------------ training
    def train_epoch(self) -> dict[str, float]:
        """One epoch (of the pose stage while it lasts); returns ``train/loss``,
        ``train/lr``, ``time/images_per_s`` (and ``train/pose_stage`` 1 in the pose stage)."""
        if self.in_pose_stage:
            return self._pose_epoch()
        c, s = self.config, self.config.schedule
        if c.pose_epochs and self.epoch == c.pose_epochs:
            self.optimizer = self._optimizer(pose_stage=False)  # the stages share no moments
        lr = self.learning_rate(self.epoch - c.pose_epochs)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.model.train()
        tuples, k = self._epoch_tuples()
        losses: list[float] = []
        terms: dict[str, list[float]] = {}
        images, start = 0, time.perf_counter()
        for _ in range(s.passes):
            if k == 2:
                batches = [tuples[i] for i in self.rng.permutation(len(tuples))]
            else:
                order = self.rng.permutation(len(tuples))
                batches = [
                    tuples[order[i : i + s.batch_size]] for i in range(0, len(order), s.batch_size)
                ]
            for batch in batches:
                if len(batch) < 2:
                    continue  # BatchNorm needs more than one sample
                items = batch.reshape(-1, 3)
                frames = self._frames(items)
                extra = self._pose_batch()
                flat = self._embed_batch(np.stack(frames if extra is None else frames + extra[0]))
                pose = None  # (embeddings, joint targets) to self-regress on
                if extra is not None:
                    pose = flat[len(items) :], extra[1]
                elif self.train_joints is not None:  # pose_batch 0: the tuples' own frames
                    pose = flat, np.stack([self.train_joints[e][t] for e, _, t in items])
                step = Step(tuples=flat[: len(items)].view(len(batch), k, -1))
                if pose is not None:
                    self._pose_step(*pose, step)
                loss = self.objectives(step)
                for name, value in self.objectives.terms.items():
                    terms.setdefault(name, []).append(value)
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"non-finite loss at epoch {self.epoch}, step {self.step}; "
                        f"lower --schedule.lr (now {lr})"
                    )
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                losses.append(float(loss.detach()))
                images += len(flat)
                self.step += 1
        seconds = time.perf_counter() - start
        self.epoch += 1
        extra = {f"train/objective/{name}": float(np.mean(v)) for name, v in terms.items()}
        if "self_regression" in terms:
            extra["train/pose_rmse"] = math.sqrt(extra["train/objective/self_regression"])
        if "pair" in terms:
            extra["train/pair_rmse"] = math.sqrt(extra["train/objective/pair"])
        return {
            **extra,
            "train/loss": float(np.mean(losses)) if losses else math.nan,
            "train/lr": lr,
            "train/steps": float(self.step),
            "time/images_per_s": images / seconds if seconds > 0 else math.nan,
        }

    def _pose_epoch(self) -> dict[str, float]:
        """Up to :data:`POSE_EPOCH_STEPS` steps of self-regression alone (the pose stage)."""
        s = self.config.schedule
        self.model.train()
        steps = min(POSE_EPOCH_STEPS, s.pose_steps - self.step)
        losses, images, start = [], 0, time.perf_counter()
        for _ in range(steps):
            lr = self.pose_learning_rate(self.step)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            frames, target = self._pose_frames(s.pose_stage_batch)
            z = self._embed_batch(np.stack(frames), augment=False)
            loss = self.pose_objective(self._pose_step(z, target, Step()))
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"non-finite pose loss at step {self.step}; lower --schedule.pose-lr (now "
                    f"{s.pose_lr})"
                )
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            losses.append(float(loss.detach()))
            images += len(frames)
            self.step += 1
        seconds = time.perf_counter() - start
        self.epoch += 1
        return {
            "train/pose_stage": 1.0,
            "train/pose_rmse": math.sqrt(float(np.mean(losses))),
            "train/loss": float(np.mean(losses)),
            "train/lr": self.pose_learning_rate(self.step),
            "train/steps": float(self.step),
            "time/images_per_s": images / seconds if seconds > 0 else math.nan,
        }

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def embed_episodes(self, episodes: Episodes, view: int = 0) -> list[np.ndarray]:
        return [self.model.embed(e[view]).numpy() for e in episodes]

    def evaluate(self) -> dict[str, float]:
        """Validation metrics, as ``tcn evaluate-embedding`` defines them (ARCHITECTURE.md):

        - ``val/triplet_accuracy`` (paper protocol) with and without margin, view 0;
        - ``val/alignment_error`` over all view pairs, with multi-view episodes;
        - with self-regression and ``val_joints``, ``val/pose_rmse``: the pose head's root
          mean square error over the validation frames and joints (rad: what an agent
          reading the head would be off by, per joint).

        Not the classification error: its neighbours are every frame of every training
        episode and its labels the reach task's, so ``tcn evaluate-embedding`` reports it,
        beside its floors.
        """
        if not self.val_episodes:
            return {}
        views = [self.embed_episodes(self.val_episodes, v) for v in range(self.n_views)]
        embeddings = views[0]
        acc, acc_margin = triplet_accuracy(
            embeddings,
            n_triplets=self.config.schedule.eval_triplets,
            margin=self.config.objectives.margin,
            seed=self.config.seed,
        )
        metrics = {"val/triplet_accuracy": acc, "val/triplet_accuracy_margin": acc_margin}
        if self.n_views > 1:
            per_episode = [list(episode) for episode in zip(*views, strict=True)]
            metrics["val/alignment_error"] = mean_alignment_error(per_episode)
        if self.val_joints is not None:
            with torch.no_grad():
                pose = self.model.pose(torch.from_numpy(np.concatenate(embeddings))).numpy()
            error = pose - np.concatenate(self.val_joints)
            metrics["val/pose_rmse"] = float(np.sqrt((error**2).mean()))
        return metrics

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: weights, optimiser, counters, RNG states."""
        return {
            # "config", "model" (and "architecture" for smak): what load_model_state reads.
            **self.model.checkpoint_state(),
            "train_config": self.config.to_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "numpy_rng": _plain(self.rng.bit_generator.state),
            "torch_rng": torch.get_rng_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.epoch = int(state["epoch"])
        self.optimizer = self._optimizer(pose_stage=self.in_pose_stage)
        if self.epoch != self.config.pose_epochs or not self.config.pose_epochs:
            # (at the end of the pose stage the next epoch starts a fresh optimiser anyway)
            self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        self.rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"])


def _check_joints(
    joints: Sequence[np.ndarray] | None, episodes: Episodes, n_joints: int
) -> list[np.ndarray]:
    """Per-episode joint positions ``(T, n_joints)`` matching the episodes' frames."""
    if joints is None:
        raise ValueError(
            "objectives.self_regression needs the training episodes' joint positions "
            "(train_joints)"
        )
    if len(joints) != len(episodes):
        raise ValueError(f"{len(joints)} joint arrays for {len(episodes)} training episodes")
    out = []
    for i, (q, episode) in enumerate(zip(joints, episodes, strict=True)):
        q = np.asarray(q, dtype=np.float32)
        if q.shape != (len(episode[0]), n_joints):
            raise ValueError(
                f"training episode {i}: joint positions shaped {q.shape}, expected "
                f"({len(episode[0])}, {n_joints}) (one row per frame)"
            )
        out.append(q)
    return out


def _with_episode(episode: int, rows: np.ndarray) -> np.ndarray:
    """Prefix ``(view, t)`` rows (..., 2) with the episode index -> (..., 3)."""
    return np.concatenate([np.full(rows.shape[:-1] + (1,), episode, dtype=np.int64), rows], -1)


def _plain(value: Any) -> Any:
    """numpy generator state as plain python (loadable with ``weights_only=True``)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.integer):
        return int(value)
    return value
