"""Training of the TCN embedding: the paper's schedule, single- or multi-view, resumable.

The trainer is pure: it takes episodes as uint8 frame arrays already in memory
(decoded once, so the model and not the loader sets the pace), and exposes
``train_epoch``, ``evaluate``, ``state_dict`` and ``load_state_dict``. Where
checkpoints and logs go is the caller's business (``tcn train-embedding``).

An epoch follows Sermanet et al.'s published schedule: draw
``videos_per_epoch`` training videos, sample ``triplets_per_video`` triplets
from each, and make ``passes`` passes over those triplets in batches of
``batch_size``. With several views per episode the triplets are multi-view
(positive = same time in another view) or, with ``loss="npairs"``, batches of
time-aligned anchor/positive pairs from two views.

With ``pose_steps`` > 0 a first stage trains the pose reader: self-regression alone on the
robot's own frames (``pose_episodes``, e.g. ``tcn record --motion babble``), in epochs of
:data:`POSE_EPOCH_STEPS` steps, before the time-contrastive stage starts from its weights.

Resuming restores the model, optimiser, schedule and every random generator, so
a run interrupted after epoch ``k`` and resumed continues exactly as if it had
not stopped.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from tcn_embedding.factory import ARCHITECTURES, EmbeddingModel, build_embedding_model
from tcn_embedding.metrics import (
    BAND_JOINTS,
    joint_classification_error,
    mean_alignment_error,
    triplet_accuracy,
)
from tcn_embedding.model import TCNConfig
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

LOSSES = ("triplet", "npairs")
OPTIMIZERS = ("sgd", "adam")
POSE_EPOCH_STEPS = 100
"""Steps per epoch of the pose stage (``pose_steps``): its unit of checkpoints and logs."""


@dataclass
class TrainConfig:
    """Every hyperparameter of an embedding training run (a preset is one of these).

    Model fields are passed to :class:`TCNConfig` (``architecture="tcn"``) or
    :class:`~tcn_embedding.smak.SMAKConfig` (``"smak"``). The built-in defaults are the
    ``default`` preset (``config/presets/embedding_default.yaml``; a test keeps them equal):
    a ResNet-18 trunk to layer2 from random weights at 96 px, a 6000-step pose-reader stage
    on self-regression alone, then 60 epochs of triplets plus self-regression. The paper's
    settings are the ``paper`` preset.
    """

    # --- model
    architecture: str = "tcn"
    """``tcn`` (spatial soft-argmax, Sermanet et al.) or ``smak`` (SMAK-Net: multi-level
    spatial attention, Ramachandrani et al.)."""
    backbone: str = "resnet18"
    """``inception`` (Inception-v3 to Mixed_5d, the paper) or ``resnet18`` (to layer2, CPU)."""
    pretrained: str | None = None
    """Backbone weights: ``imagenet``, a state-dict file, or None (random initialisation)."""
    freeze_backbone: bool = False
    """Keep the backbone fixed (the published configuration)."""
    embedding_dim: int = 32
    alpha: float = 10.0
    """Norm of every embedding."""
    head_channels: tuple[int, ...] = (128, 64)
    """Channels of the two 3x3 conv + BatchNorm + ReLU layers before the soft-argmax (smak:
    of the extra conv layers before the global feature, used only with ``extended``)."""
    hidden_units: int = 256
    image_size: int = 96
    """Square side of the network's input; frames are resized to it."""
    attention: str = "att123"
    """smak only: attended levels, ``att12``, ``att13``, ``att23`` or ``att123``."""
    attention_normalization: str = "sigmoid"
    """smak only: attention weights by ``sigmoid`` or ``softmax`` over space."""
    extended: bool = False
    """smak only: extra conv layers (``head_channels``) before the global feature."""
    # --- objective
    loss: str = "triplet"
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
    regress on the tuples' own frames, which all come from the epoch's ``videos_per_epoch``
    episodes (runs made before the field; the head then barely learnt, docs/embedding.md)."""
    pair_weight: float = 0.0
    """Weight of the local pose loss (0: off). Needs pose episodes recorded in pairs (``tcn
    record --motion pairs``: frame ``2i + 1`` a small move of frame ``2i``); the pose batch
    then holds ``pose_batch / 2`` such pairs, and the pose head's change over each pair must
    equal the move (mean squared error in rad^2). A closed loop compares two readings, the
    demonstration's and its own, so what it needs is this change, not the absolute reading
    (docs/embedding.md)."""
    # --- schedule
    pose_steps: int = 6000
    """Steps of a first stage that trains self-regression alone, the pose reader (0: no such
    stage): ``pose_stage_batch`` frames per step from every pose episode, Adam at
    ``pose_lr`` annealed to 0 by a cosine, no augmentation. The time-contrastive epochs then
    start from its weights with a fresh optimiser. Needs ``self_regression`` > 0."""
    pose_stage_batch: int = 64
    pose_lr: float = 1e-3
    epochs: int = 60
    """Epochs of the time-contrastive stage."""
    batch_size: int = 32
    """Triplets (or n-pairs) per optimisation step."""
    videos_per_epoch: int = 8
    triplets_per_video: int = 40
    passes: int = 1
    """Passes over each epoch's triplets."""
    optimizer: str = "adam"
    lr: float = 2e-4
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_decay_every: int = 30
    """Divide the learning rate by ``1 / lr_decay`` every this many epochs..."""
    lr_decay: float = 0.3
    min_lr: float = 1e-5
    """...down to this floor."""
    augment: bool = False
    """Random shifts (pad 4 %, crop back) and brightness/contrast jitter of training frames."""
    # --- bookkeeping
    eval_every: int = 20
    """Epochs between validation triplet accuracies (0: never)."""
    eval_triplets: int = 1000
    seed: int = 0
    device: str = "auto"
    """``auto`` (CUDA when available), ``cpu`` or ``cuda[:i]``."""
    amp: bool = True
    """Mixed precision (bfloat16 autocast) and channels_last on CUDA; ignored on CPU."""

    def __post_init__(self) -> None:
        self.head_channels = tuple(int(c) for c in self.head_channels)
        if self.pretrained in ("", "none", "None"):
            self.pretrained = None
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        for name in (
            "epochs",
            "batch_size",
            "videos_per_epoch",
            "triplets_per_video",
            "passes",
            "lr_decay_every",
            "pos_range",
            "neg_margin",
        ):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if not (math.isfinite(self.self_regression) and self.self_regression >= 0):
            raise ValueError(f"self_regression must be >= 0, got {self.self_regression!r}")
        if self.pose_batch < 0:
            raise ValueError(f"pose_batch must be >= 0, got {self.pose_batch}")
        if not (math.isfinite(self.pair_weight) and self.pair_weight >= 0):
            raise ValueError(f"pair_weight must be >= 0, got {self.pair_weight!r}")
        if self.pair_weight > 0 and (self.self_regression <= 0 or self.pose_batch < 2):
            raise ValueError(
                "pair_weight needs self-regression with a pose batch of at least one pair: "
                f"self_regression > 0 and pose_batch >= 2, got {self.self_regression} and "
                f"{self.pose_batch}"
            )
        if self.pose_steps < 0 or self.pose_stage_batch < 2:
            raise ValueError(
                f"need pose_steps >= 0 and pose_stage_batch >= 2, got {self.pose_steps} and "
                f"{self.pose_stage_batch}"
            )
        if self.pose_steps and self.self_regression <= 0:
            raise ValueError("pose_steps trains self-regression: it needs self_regression > 0")
        if not (math.isfinite(self.pose_lr) and self.pose_lr > 0):
            raise ValueError(f"pose_lr must be > 0, got {self.pose_lr!r}")
        if self.eval_every < 0:
            raise ValueError(f"eval_every must be >= 0, got {self.eval_every}")
        if not (self.lr > 0 and 0 < self.lr_decay <= 1 and 0 < self.min_lr <= self.lr):
            raise ValueError(
                f"need lr > 0, 0 < lr_decay <= 1 and 0 < min_lr <= lr; got lr={self.lr}, "
                f"lr_decay={self.lr_decay}, min_lr={self.min_lr}"
            )
        if self.neg_margin <= self.pos_range:
            raise ValueError(
                f"neg_margin ({self.neg_margin}) must exceed pos_range ({self.pos_range})"
            )
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                f"architecture must be one of {sorted(ARCHITECTURES)}, got {self.architecture!r}"
            )
        self.model_config()  # validates the model fields too

    @property
    def pose_epochs(self) -> int:
        """Epochs of the pose stage (:data:`POSE_EPOCH_STEPS` steps each, the last maybe
        fewer)."""
        return -(-self.pose_steps // POSE_EPOCH_STEPS)

    @property
    def total_epochs(self) -> int:
        """Pose-stage epochs plus time-contrastive epochs."""
        return self.pose_epochs + self.epochs

    def model_config(self) -> TCNConfig | SMAKConfig:
        """The network's config: :class:`TCNConfig` or :class:`SMAKConfig` by architecture."""
        if self.architecture == "smak":
            return SMAKConfig(
                backbone=self.backbone,
                attention=self.attention,
                normalization=self.attention_normalization,
                extended=self.extended,
                extended_channels=self.head_channels,
                embedding_dim=self.embedding_dim,
                alpha=self.alpha,
                hidden_units=self.hidden_units,
                image_size=self.image_size,
                pretrained=self.pretrained,
                freeze_backbone=self.freeze_backbone,
                pose_joints=self.pose_joints if self.self_regression > 0 else 0,
            )
        return TCNConfig(
            backbone=self.backbone,
            embedding_dim=self.embedding_dim,
            alpha=self.alpha,
            head_channels=self.head_channels,
            hidden_units=self.hidden_units,
            image_size=self.image_size,
            pretrained=self.pretrained,
            freeze_backbone=self.freeze_backbone,
            pose_joints=self.pose_joints if self.self_regression > 0 else 0,
        )

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["head_channels"] = list(self.head_channels)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown training config fields {unknown}; known: {sorted(known)}")
        return cls(**data)


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
        if tuples and next(iter(lengths)) <= config.neg_margin:
            raise ValueError(
                f"{what} episode {i} has {next(iter(lengths))} frames; triplets need more than "
                f"neg_margin={config.neg_margin} (record longer episodes or lower --neg-margin)"
            )
    n_views = views.pop()
    if tuples and config.loss == "npairs" and n_views < 2:
        raise ValueError("loss 'npairs' needs multi-view episodes (record with --views 2 or more)")
    return n_views


class EmbeddingTrainer:
    """Trains a TCN or SMAK-Net (``config.architecture``) on in-memory episodes; see the
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
        self.n_views = _check_episodes(train_episodes, "training", config)
        self.train_joints = None
        self.val_joints = None  # for the pose head (self-regression)
        self.val_positions = None  # for the classification error
        if config.self_regression > 0:
            self.train_joints = _check_joints(train_joints, train_episodes, config.pose_joints)
        # Where the pose_batch frames come from: the training episodes, or separate
        # self-observation recordings (tcn record --motion babble).
        self.pose_episodes, self.pose_targets = train_episodes, self.train_joints
        if pose_episodes is not None:
            if config.self_regression <= 0 or config.pose_batch <= 0:
                raise ValueError(
                    "pose episodes feed self-regression: they need self_regression > 0 and "
                    f"pose_batch > 0, got {config.self_regression} and {config.pose_batch}"
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
            self.pose_targets = _check_joints(pose_joints, pose_episodes, config.pose_joints)
        if config.pair_weight > 0:
            odd = [i for i, e in enumerate(self.pose_episodes) if len(e[0]) % 2]
            if pose_episodes is None or odd:
                raise ValueError(
                    "pair_weight needs pose episodes recorded in pairs (tcn record --motion "
                    "pairs, an even number of frames each), got "
                    + ("none" if pose_episodes is None else f"odd lengths in episodes {odd}")
                )
        if val_episodes:
            _check_episodes(val_episodes, "validation", config)
            if val_joints is not None:
                width = int(np.shape(val_joints[0])[-1]) if len(val_joints) else 0
                checked = _check_joints(val_joints, val_episodes, width)
                if config.self_regression > 0:
                    self.val_joints = _check_joints(val_joints, val_episodes, config.pose_joints)
                if len(checked) >= 2 and width > max(BAND_JOINTS):
                    self.val_positions = checked
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
        """Adam at ``pose_lr`` for the pose stage, else the configured optimiser."""
        c = self.config
        params = [p for p in self.model.parameters() if p.requires_grad]
        if pose_stage:
            return torch.optim.Adam(params, lr=c.pose_lr)
        if c.optimizer == "sgd":
            return torch.optim.SGD(
                params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay
            )
        return torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay)

    # ------------------------------------------------------------------ schedule
    def learning_rate(self, epoch: int) -> float:
        """Step decay: ``lr * lr_decay ** (epoch // lr_decay_every)``, floored at ``min_lr``;
        ``epoch`` counts the time-contrastive epochs."""
        c = self.config
        return max(c.lr * c.lr_decay ** (epoch // c.lr_decay_every), c.min_lr)

    def pose_learning_rate(self, step: int) -> float:
        """The pose stage's cosine: ``pose_lr`` at step 0 down to 0 at ``pose_steps``."""
        c = self.config
        return 0.5 * c.pose_lr * (1.0 + math.cos(math.pi * min(step, c.pose_steps) / c.pose_steps))

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
        c = self.config
        count = min(c.videos_per_epoch, len(self.train_episodes))
        videos = self.rng.choice(len(self.train_episodes), size=count, replace=False)
        chunks = []
        for e in videos:
            length = len(self.train_episodes[e][0])
            if c.loss == "npairs":
                # One n-pairs batch per chunk: its time steps are distinct classes, so
                # at most as many as fit DEFAULT_MIN_SEPARATION frames apart.
                fits = (length - 1) // DEFAULT_MIN_SEPARATION + 1
                per_batch = min(c.batch_size, fits)
                for _ in range(max(1, c.triplets_per_video // per_batch)):
                    anchor, positive = sample_multi_view_npairs(
                        length, self.n_views, per_batch, self.rng
                    )
                    chunks.append(_with_episode(e, np.stack([anchor, positive], axis=1)))
            elif self.n_views > 1:
                anchor, positive, negative = sample_multi_view_triplets(
                    length,
                    self.n_views,
                    c.triplets_per_video,
                    self.rng,
                    neg_margin=c.neg_margin,
                )
                chunks.append(_with_episode(e, np.stack([anchor, positive, negative], axis=1)))
            else:
                triplets = sample_single_view_triplets(
                    length,
                    c.triplets_per_video,
                    self.rng,
                    pos_range=c.pos_range,
                    neg_margin=c.neg_margin,
                )
                views = np.zeros_like(triplets)
                chunks.append(_with_episode(e, np.stack([views, triplets], axis=-1)))
        if c.loss == "npairs":
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
        if self.config.augment if augment is None else augment:
            x = self._augment(x)
        if self.use_amp:
            x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                return self.model(x).float()
        return self.model(x)

    def _pose_batch(self) -> tuple[list[np.ndarray], np.ndarray] | None:
        """Frames (``n`` of ``(H, W, 3)``) and joint targets ``(n, J)`` of this step's
        self-regression batch, drawn uniformly over every frame and view of the pose
        episodes (None: no self-regression, or ``pose_batch`` 0). With ``pair_weight``,
        ``n // 2`` pairs: the first frames of every pair, then their second frames."""
        if self.pose_targets is None or self.config.pose_batch == 0:
            return None
        return self._pose_frames(self.config.pose_batch)

    def _pose_frames(self, n: int) -> tuple[list[np.ndarray], np.ndarray]:
        """``n`` self-regression frames and their joints (see :meth:`_pose_batch`)."""
        pairs = self.config.pair_weight > 0
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
        ``(n, J)`` they show (pairs in :meth:`_pose_batch`'s order with ``pair_weight``)."""
        step.pose = self.model.pose(z.float())
        step.pose_target = torch.as_tensor(target, dtype=torch.float32, device=z.device)
        step.paired = self.config.pair_weight > 0
        return step

    # ------------------------------------------------------------------ training
    def train_epoch(self) -> dict[str, float]:
        """One epoch (of the pose stage while it lasts); returns ``train/loss``,
        ``train/lr``, ``time/images_per_s`` (and ``train/pose_stage`` 1 in the pose stage)."""
        if self.in_pose_stage:
            return self._pose_epoch()
        c = self.config
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
        for _ in range(c.passes):
            if k == 2:
                batches = [tuples[i] for i in self.rng.permutation(len(tuples))]
            else:
                order = self.rng.permutation(len(tuples))
                batches = [
                    tuples[order[i : i + c.batch_size]] for i in range(0, len(order), c.batch_size)
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
                        f"lower --lr (now {lr})"
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
        c = self.config
        self.model.train()
        steps = min(POSE_EPOCH_STEPS, c.pose_steps - self.step)
        losses, images, start = [], 0, time.perf_counter()
        for _ in range(steps):
            lr = self.pose_learning_rate(self.step)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            frames, target = self._pose_frames(c.pose_stage_batch)
            z = self._embed_batch(np.stack(frames), augment=False)
            loss = self.pose_objective(self._pose_step(z, target, Step()))
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"non-finite pose loss at step {self.step}; lower pose_lr (now {c.pose_lr})"
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
        - ``val/classification_error`` with ``val_joints`` for two or more episodes;
        - with self-regression and ``val_joints``, ``val/pose_rmse``: the pose head's root
          mean square error over the validation frames and joints (rad: what an agent
          reading the head would be off by, per joint).
        """
        if not self.val_episodes:
            return {}
        views = [self.embed_episodes(self.val_episodes, v) for v in range(self.n_views)]
        embeddings = views[0]
        acc, acc_margin = triplet_accuracy(
            embeddings,
            n_triplets=self.config.eval_triplets,
            margin=self.config.margin,
            seed=self.config.seed,
        )
        metrics = {"val/triplet_accuracy": acc, "val/triplet_accuracy_margin": acc_margin}
        if self.n_views > 1:
            per_episode = [list(episode) for episode in zip(*views, strict=True)]
            metrics["val/alignment_error"] = mean_alignment_error(per_episode)
        if self.val_positions is not None:
            error, _ = joint_classification_error(embeddings, self.val_positions)
            metrics["val/classification_error"] = error
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
            "self_regression needs the training episodes' joint positions (train_joints)"
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
