"""Time-Contrastive Network embedding: network, sampling, losses, training, evaluation, reward.

Pure: depends on torch, torchvision, numpy and scikit-learn only (never rclpy, rosbags,
``tcn`` or ``kuka_sim``). Frames are ``(T, H, W, 3) uint8 RGB`` per episode and view, joint
positions ``(T, 7)``.

Modules:
    model       ``TCN``, ``TCNConfig``, ``SpatialSoftArgmax``, backbone weights loading.
    smak        ``SMAKNet``, ``SMAKConfig``: multi-level spatial attention instead of soft-argmax.
    factory     ``build_embedding_model``, ``load_model_state``: either network by architecture.
    losses      ``triplet_loss``, ``npairs_loss``, ``squared_l2``.
    objectives  ``Triplet``, ``NPairs``, ``SelfRegression``, ``PairChange`` composed with
                weights by ``WeightedObjectives`` (what a step of training minimises).
    sampling    single-/multi-view triplet and n-pairs index samplers.
    metrics     triplet accuracy, alignment error, classification error (the reach task's
                ``target`` and ``phase`` labels), joint probe.
    train       ``TrainConfig`` (sections ``model``, ``objectives``, ``schedule``) and the
                trainer: the paper's schedule, resumable.
    reward      ``tcn_reward``, ``embedding_reward``, ``RewardConfig``.
    checkpoint  atomic ``save_checkpoint`` / ``load_checkpoint`` (weights_only).
"""

from tcn_embedding.checkpoint import load_checkpoint, save_checkpoint
from tcn_embedding.factory import build_embedding_model, load_model_state
from tcn_embedding.losses import (
    DEFAULT_MARGIN,
    DEFAULT_NPAIRS_L2_REG,
    Distance,
    npairs_loss,
    squared_l2,
    triplet_loss,
)
from tcn_embedding.metrics import (
    PHASE_BOUNDS,
    TARGET_FROM,
    UNLABELLED,
    alignment_error,
    classification_error,
    classification_errors,
    joint_probe_r2,
    mean_alignment_error,
    path_fraction,
    reach_attributes,
    reach_attributes_for_episodes,
    reach_classification_error,
    reach_classification_floors,
    triplet_accuracy,
)
from tcn_embedding.model import (
    BACKBONES,
    IMAGENET_MEAN,
    IMAGENET_STD,
    TCN,
    IncompatibleWeightsError,
    SpatialSoftArgmax,
    TCNConfig,
    WeightsUnavailableError,
    count_parameters,
    imagenet_weights_file,
    preprocess_frames,
)
from tcn_embedding.objectives import (
    NPairs,
    PairChange,
    SelfRegression,
    Step,
    Triplet,
    WeightedObjectives,
    objectives_for,
)
from tcn_embedding.reward import RewardConfig, embedding_reward, tcn_reward
from tcn_embedding.sampling import (
    DEFAULT_MIN_SEPARATION,
    DEFAULT_NEG_MARGIN,
    DEFAULT_POS_RANGE,
    sample_multi_view_npairs,
    sample_multi_view_triplets,
    sample_single_view_triplets,
    valid_anchor_times,
)
from tcn_embedding.smak import SMAKConfig, SMAKNet
from tcn_embedding.train import TrainConfig

__all__ = [
    "NPairs",
    "PairChange",
    "SelfRegression",
    "Step",
    "Triplet",
    "WeightedObjectives",
    "objectives_for",
    "BACKBONES",
    "DEFAULT_MARGIN",
    "DEFAULT_MIN_SEPARATION",
    "DEFAULT_NEG_MARGIN",
    "DEFAULT_NPAIRS_L2_REG",
    "DEFAULT_POS_RANGE",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "TCN",
    "Distance",
    "IncompatibleWeightsError",
    "PHASE_BOUNDS",
    "RewardConfig",
    "SMAKConfig",
    "SMAKNet",
    "SpatialSoftArgmax",
    "TARGET_FROM",
    "TCNConfig",
    "TrainConfig",
    "UNLABELLED",
    "WeightsUnavailableError",
    "alignment_error",
    "build_embedding_model",
    "classification_error",
    "classification_errors",
    "count_parameters",
    "embedding_reward",
    "imagenet_weights_file",
    "joint_probe_r2",
    "load_checkpoint",
    "load_model_state",
    "mean_alignment_error",
    "npairs_loss",
    "path_fraction",
    "preprocess_frames",
    "reach_attributes",
    "reach_attributes_for_episodes",
    "reach_classification_error",
    "reach_classification_floors",
    "sample_multi_view_npairs",
    "sample_multi_view_triplets",
    "sample_single_view_triplets",
    "save_checkpoint",
    "squared_l2",
    "tcn_reward",
    "triplet_accuracy",
    "triplet_loss",
    "valid_anchor_times",
]
