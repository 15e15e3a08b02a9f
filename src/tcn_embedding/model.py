"""The Time-Contrastive Network (Sermanet et al. 2017, arXiv:1704.06888) in plain torch.

Architecture (``inception_conv_ss_fc`` in the authors' published TensorFlow code,
``tensorflow/models/research/tcn/model.py`` with ``configs/tcn_default.yml``)::

    image (B, 3, H, W), ImageNet-normalised
      -> backbone trunk: Inception-v3 up to Mixed_5d          (B, 288, h, w)
         or ResNet-18 up to layer2 (small CPU option)         (B, 128, h, w)
      -> len(head_channels) x [3x3 conv (same padding) + BatchNorm + ReLU]  (B, C, h, w)
      -> spatial soft-argmax                                  (B, 2C)
      -> fully connected + BatchNorm + ReLU                   (B, hidden_units)
      -> fully connected                                      (B, embedding_dim)
      -> L2 normalise, times alpha                            (B, embedding_dim), norm alpha

Defaults follow the published config: head channels (512, 512), one hidden layer of 2048
units, a 32-d embedding, a frozen ImageNet backbone (``finetune: false``). Scaling the
normalised embedding by ``alpha`` (default 10) follows L2-constrained softmax (Ranjan et al.
2017); it sets the range of squared distances to [0, 4 alpha^2].

Usage::

    cfg = TCNConfig(backbone="resnet18", image_size=96, pretrained=None)
    model = TCN(cfg)
    emb = model(model.preprocess(frames_uint8_nhwc))        # (B, 32), each row has norm 10
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models import Inception_V3_Weights, ResNet18_Weights
from torchvision.models.inception import BasicConv2d, InceptionA
from torchvision.models.resnet import BasicBlock

logger = logging.getLogger(__name__)

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
"""Channel means of torchvision's ImageNet weights (their ``transforms()`` normalise with it)."""
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
"""Channel standard deviations of torchvision's ImageNet weights."""


@dataclass(frozen=True)
class BackboneSpec:
    """What differs between backbones; the head is the same for all of them."""

    builder: str
    """torchvision builder whose state dict the trunk shares keys with."""
    weights: Any
    """torchvision ``WeightsEnum`` member used for ``pretrained="imagenet"``."""
    out_channels: int
    """Channels of the trunk's output feature map."""
    default_image_size: int
    """Image side the weights were trained at (used when ``image_size`` is None)."""
    min_image_size: int
    """Smallest image side accepted (gives a feature map of at least 4x4)."""


BACKBONES: dict[str, BackboneSpec] = {
    # Up to Mixed_5d: 299 px -> 35x35, 75 px -> 7x7 (75 is torchvision's documented minimum
    # for the whole network; the trunk alone would run down to 27 px, where it yields 1x1).
    "inception": BackboneSpec("inception_v3", Inception_V3_Weights.IMAGENET1K_V1, 288, 299, 75),
    # Up to layer2 (stride 8): 224 px -> 28x28, 32 px -> 4x4.
    "resnet18": BackboneSpec("resnet18", ResNet18_Weights.IMAGENET1K_V1, 128, 224, 32),
}


class WeightsUnavailableError(RuntimeError):
    """Backbone weights were asked for but cannot be obtained (offline, not cached, bad file)."""


class IncompatibleWeightsError(WeightsUnavailableError):
    """A weights file was read but does not fit the backbone trunk (missing keys, shapes)."""


class SettingError(ValueError):
    """A setting's value is invalid: ``setting`` names it, ``problem`` says why, and the
    message is both (``image_size must be at least 75 ...``). A config that passes its
    settings on under other names re-raises it with its own name: :meth:`renamed`."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting} {problem}")
        self.setting, self.problem = setting, problem

    def renamed(self, setting: str) -> SettingError:
        return SettingError(setting, self.problem)


def _check_positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SettingError(name, f"must be a positive integer, got {value!r}")


def _positive_int_tuple(name: str, values: object) -> tuple[int, ...]:
    """``values`` as a tuple of positive ints (a sequence of channel counts)."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise SettingError(name, f"must be a sequence of positive integers, got {values!r}")
    values = tuple(values)
    for value in values:
        _check_positive_int(f"{name} entry (in {values!r})", value)
    return values


def validate_embedding_fields(config: Any) -> None:
    """Check and normalise the fields every embedding network's config has: ``embedding_dim``,
    ``hidden_units``, ``alpha``, ``image_size`` (None: the backbone's native size),
    ``pretrained``, ``freeze_backbone`` and ``pose_joints``. ``config.backbone`` must already
    be valid."""
    spec = BACKBONES[config.backbone]
    _check_positive_int("embedding_dim", config.embedding_dim)
    if isinstance(config.pose_joints, bool) or not isinstance(config.pose_joints, int):
        raise SettingError("pose_joints", f"must be an integer >= 0, got {config.pose_joints!r}")
    if config.pose_joints < 0:
        raise SettingError("pose_joints", f"must be >= 0, got {config.pose_joints}")
    _check_positive_int("hidden_units", config.hidden_units)
    if isinstance(config.alpha, bool) or not isinstance(config.alpha, (int, float)):
        raise SettingError("alpha", f"must be a positive number, got {config.alpha!r}")
    if not (math.isfinite(config.alpha) and config.alpha > 0):
        raise SettingError("alpha", f"must be a positive finite number, got {config.alpha!r}")
    config.alpha = float(config.alpha)
    if config.image_size is None:
        config.image_size = spec.default_image_size
    _check_positive_int("image_size", config.image_size)
    if config.image_size < spec.min_image_size:
        raise SettingError(
            "image_size",
            f"must be at least {spec.min_image_size} for backbone {config.backbone!r}, got "
            f"{config.image_size}",
        )
    if isinstance(config.pretrained, os.PathLike):
        config.pretrained = os.fspath(config.pretrained)
    if config.pretrained is not None and (
        not isinstance(config.pretrained, str) or not config.pretrained
    ):
        raise SettingError(
            "pretrained",
            f"must be 'imagenet', a path to a state dict file, or None, got {config.pretrained!r}",
        )
    if not isinstance(config.freeze_backbone, bool):
        raise SettingError("freeze_backbone", f"must be a bool, got {config.freeze_backbone!r}")
    if config.freeze_backbone and config.pretrained is None:
        logger.warning(
            "freeze_backbone=True with pretrained=None: the backbone stays at its random "
            "initialisation"
        )


@dataclass
class TCNConfig:
    """Hyperparameters of :class:`TCN`; validated on construction.

    ``to_dict`` gives plain python values (safe for ``torch.load(weights_only=True)``
    and YAML); ``from_dict`` reverses it.
    """

    backbone: str = "inception"
    """Trunk: ``"inception"`` (Inception-v3 up to Mixed_5d, as in the paper) or
    ``"resnet18"`` (ResNet-18 up to layer2, for CPUs: at equal image size about the same
    FLOPs as the Inception trunk, 0.36 GFLOP at 96 px, but a few plain layers that ran 2-3x
    faster on a 2-core CPU; its native size is 224 rather than 299)."""
    embedding_dim: int = 32
    """Size of the embedding (32 in the paper)."""
    alpha: float = 10.0
    """Norm of every embedding: the output is ``alpha * x / ||x||``."""
    head_channels: tuple[int, ...] = (512, 512)
    """Output channels of the 3x3 conv + BatchNorm + ReLU layers on top of the trunk
    (published code: two layers of 512)."""
    hidden_units: int = 2048
    """Units of the hidden fully connected layer (published code: 2048)."""
    image_size: int | None = None
    """Square side images are resized to by :meth:`TCN.preprocess`; None picks the
    backbone's native size (299 for inception, 224 for resnet18)."""
    pretrained: str | None = "imagenet"
    """Backbone weights: ``"imagenet"`` (torchvision weights API, from the torch hub cache
    or downloaded), a path to a ``.pth`` state dict (a full torchvision model's state dict
    is fine), or None for random initialisation."""
    freeze_backbone: bool = True
    """Keep the trunk fixed (no gradients, BatchNorm statistics frozen), as the published
    config does (``finetune: false``)."""
    learnable_temperature: bool = True
    """Learn the spatial soft-argmax temperature (initialised at 1), as the published code."""
    pose_joints: int = 0
    """Size of the linear pose head on the embedding (0: none); see :meth:`EmbeddingNet.pose`."""

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise SettingError(
                "backbone", f"must be one of {sorted(BACKBONES)}, got {self.backbone!r}"
            )
        self.head_channels = _positive_int_tuple("head_channels", self.head_channels)
        if not self.head_channels:
            raise SettingError("head_channels", "must name at least one conv layer, got ()")
        if not isinstance(self.learnable_temperature, bool):
            raise SettingError(
                "learnable_temperature", f"must be a bool, got {self.learnable_temperature!r}"
            )
        validate_embedding_fields(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain-python dict of the fields (tuples become lists)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["head_channels"] = list(self.head_channels)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TCNConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError`` naming them."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown TCNConfig fields {unknown}; known fields: {sorted(known)}")
        kwargs = dict(data)
        if "head_channels" in kwargs and kwargs["head_channels"] is not None:
            kwargs["head_channels"] = tuple(kwargs["head_channels"])
        return cls(**kwargs)


class SpatialSoftArgmax(nn.Module):
    """Expected image coordinates of each channel's spatial softmax (Levine et al. 2016).

    For each channel ``c`` the feature map is turned into a distribution over the ``H*W``
    positions, ``p = softmax(x[c].flatten() / temperature)``, and the output is the expected
    position ``(sum p * x_coord, sum p * y_coord)``, with x running over the width and y over
    the height, both from -1 (first pixel centre) to +1 (last pixel centre), as in
    ``tf.contrib.layers.spatial_softmax``.

    Input ``(B, C, H, W)``; output ``(B, 2C)`` laid out ``(x_0, y_0, x_1, y_1, ...)``.
    """

    def __init__(self, temperature: float = 1.0, learnable_temperature: bool = True) -> None:
        super().__init__()
        if not (math.isfinite(temperature) and temperature > 0):
            raise SettingError("temperature", f"must be positive and finite, got {temperature!r}")
        log_t = torch.tensor(math.log(temperature), dtype=torch.float32)
        # Parametrised in log space so the temperature stays positive while it is learned.
        if learnable_temperature:
            self.log_temperature = nn.Parameter(log_t)
        else:
            self.register_buffer("log_temperature", log_t)

    @property
    def temperature(self) -> float:
        """The current softmax temperature."""
        return float(self.log_temperature.detach().exp())

    @staticmethod
    def _coords(n: int, like: Tensor) -> Tensor:
        if n == 1:
            return torch.zeros(1, dtype=like.dtype, device=like.device)
        return torch.linspace(-1.0, 1.0, n, dtype=like.dtype, device=like.device)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, H, W)`` features -> ``(B, 2C)`` expected (x, y) per channel in [-1, 1]."""
        if x.dim() != 4:
            raise ValueError(f"expected a (B, C, H, W) tensor, got shape {tuple(x.shape)}")
        b, c, h, w = x.shape
        logits = x.reshape(b, c, h * w) / self.log_temperature.exp().to(x.dtype)
        p = torch.softmax(logits, dim=-1).reshape(b, c, h, w)
        xs = self._coords(w, x)
        ys = self._coords(h, x)
        expected_x = (p.sum(dim=2) * xs).sum(dim=-1)  # marginal over rows, (B, C)
        expected_y = (p.sum(dim=3) * ys).sum(dim=-1)  # marginal over columns, (B, C)
        return torch.stack((expected_x, expected_y), dim=-1).reshape(b, 2 * c)


class InceptionTrunk(nn.Module):
    """Inception-v3 from ``Conv2d_1a_3x3`` to ``Mixed_5d``, as ``Inception3._forward`` runs it.

    Attribute names equal torchvision's, so an ``inception_v3`` state dict loads by key.
    Input ``(B, 3, H, W)`` ImageNet-normalised; output ``(B, 288, h, w)`` (299 -> 35).

    The ImageNet weights were ported from Google's checkpoint, which expects inputs scaled
    to [-1, 1]; torchvision therefore builds them with ``transform_input=True``, which maps
    ImageNet-normalised input to that range. This trunk always applies the same mapping,
    so one preprocessing (ImageNet mean/std) serves every backbone.
    """

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.maxpool1 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.maxpool2 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        # x_google = x_imagenet * std / 0.5 + (mean - 0.5) / 0.5 (torchvision's _transform_input)
        self.register_buffer("input_scale", std / 0.5, persistent=False)
        self.register_buffer("input_shift", (mean - 0.5) / 0.5, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, 3, H, W)`` -> ``(B, 288, h, w)``."""
        x = x * self.input_scale + self.input_shift
        x = self.Conv2d_1a_3x3(x)
        x = self.Conv2d_2a_3x3(x)
        x = self.Conv2d_2b_3x3(x)
        x = self.maxpool1(x)
        x = self.Conv2d_3b_1x1(x)
        x = self.Conv2d_4a_3x3(x)
        x = self.maxpool2(x)
        x = self.Mixed_5b(x)
        x = self.Mixed_5c(x)
        return self.Mixed_5d(x)


class ResNet18Trunk(nn.Module):
    """ResNet-18 from ``conv1`` to ``layer2`` (stride 8); keys equal torchvision's ``resnet18``.

    Input ``(B, 3, H, W)`` ImageNet-normalised; output ``(B, 128, H/8, W/8)``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = nn.Sequential(BasicBlock(64, 64), BasicBlock(64, 64))
        downsample = nn.Sequential(
            nn.Conv2d(64, 128, kernel_size=1, stride=2, bias=False), nn.BatchNorm2d(128)
        )
        self.layer2 = nn.Sequential(BasicBlock(64, 128, 2, downsample), BasicBlock(128, 128))
        for m in self.modules():  # torchvision ResNet's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        """``(B, 3, H, W)`` -> ``(B, 128, h, w)``."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer2(self.layer1(x))


def build_trunk(backbone: str) -> nn.Module:
    """A randomly initialised trunk for ``backbone`` (see :data:`BACKBONES`)."""
    if backbone == "inception":
        return InceptionTrunk()
    if backbone == "resnet18":
        return ResNet18Trunk()
    raise SettingError("backbone", f"must be one of {sorted(BACKBONES)}, got {backbone!r}")


def imagenet_weights_file(backbone: str) -> str:
    """Where the torch hub cache keeps ``backbone``'s ImageNet weights file."""
    url = BACKBONES[backbone].weights.url
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url))


def _how_to_get_weights(backbone: str) -> str:
    spec = BACKBONES[backbone]
    name = os.path.basename(spec.weights.url)
    return (
        f"On a machine with internet access run\n"
        f'    python -c "import torchvision; torchvision.models.{spec.builder}'
        f"(weights='IMAGENET1K_V1')\"\n"
        f"then either copy ~/.cache/torch/hub/checkpoints/{name} to "
        f"{imagenet_weights_file(backbone)} on this machine, or pass the file's path as "
        f"pretrained=<path>; pretrained=None trains from random initialisation."
    )


def imagenet_state_dict(backbone: str) -> dict[str, Tensor]:
    """ImageNet weights of ``backbone``'s full torchvision model, via torchvision's weights API.

    Uses the torch hub cache (``$TORCH_HOME/hub/checkpoints``) and downloads only when the
    file is not cached. Raises :class:`WeightsUnavailableError` saying how to supply the file
    when neither works.
    """
    spec = BACKBONES[backbone]
    cached = imagenet_weights_file(backbone)
    if not os.path.isfile(cached):
        logger.info("ImageNet weights for %s not cached at %s; downloading", backbone, cached)
    try:
        return spec.weights.get_state_dict(
            progress=False, check_hash=True, map_location="cpu", weights_only=True
        )
    except Exception as exc:  # noqa: BLE001 - offline, proxy, hash and unpickling errors alike
        raise WeightsUnavailableError(
            f"could not load the ImageNet weights of {spec.builder} ({spec.weights.url}): "
            f"{type(exc).__name__}: {exc}\n{_how_to_get_weights(backbone)}"
        ) from exc


def read_state_dict_file(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """A state dict from ``path`` (``torch.load(..., weights_only=True)``).

    A ``{"state_dict": {...}}`` wrapper is unwrapped.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise WeightsUnavailableError(f"backbone weights file not found: {path!r}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - corrupt file or non-tensor pickle
        raise WeightsUnavailableError(
            f"could not read backbone weights from {path!r} with torch.load(weights_only=True): "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping):
        raise IncompatibleWeightsError(
            f"expected a state dict (mapping of names to tensors) in {path!r}, "
            f"found {type(state).__name__}"
        )
    return dict(state)


def load_trunk_state_dict(trunk: nn.Module, state: Mapping[str, Tensor], source: str) -> None:
    """Copy the trunk's entries of ``state`` into ``trunk``; other keys (fc, Mixed_6a...) are
    ignored. Missing trunk keys or wrong shapes raise :class:`IncompatibleWeightsError`."""
    expected = trunk.state_dict()
    missing = [k for k in expected if k not in state]
    if missing:
        raise IncompatibleWeightsError(
            f"{source} lacks {len(missing)} of the {len(expected)} backbone entries, e.g. "
            f"{missing[:5]}; it holds e.g. {list(state)[:5]}. Expected a state dict of "
            f"torchvision's {type(trunk).__name__} layers (a full torchvision model is fine)."
        )
    bad = [
        f"{k}: expected {tuple(v.shape)}, found {tuple(state[k].shape)}"
        for k, v in expected.items()
        if not isinstance(state[k], Tensor) or state[k].shape != v.shape
    ]
    if bad:
        raise IncompatibleWeightsError(
            f"{source} has {len(bad)} backbone entries of the wrong shape, e.g. {bad[:3]}"
        )
    trunk.load_state_dict({k: state[k] for k in expected}, strict=True)
    ignored = len(state) - len(expected)
    logger.info(
        "loaded %d backbone tensors from %s (%d others ignored)", len(expected), source, ignored
    )


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters in ``module`` (only ``requires_grad`` ones if asked)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def preprocess_frames(
    frames: np.ndarray | Tensor,
    image_size: int,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
    device: torch.device | str | None = None,
) -> Tensor:
    """uint8 RGB frames ``(N, H, W, 3)`` (or one ``(H, W, 3)``) -> float ``(N, 3, S, S)``.

    Frames whose size differs from ``S = image_size`` are resized to ``S x S`` (bilinear,
    antialiased), stretching non-square frames rather than cropping them so the whole scene
    stays in view. Values are scaled to [0, 1] and normalised with ``mean``/``std``.
    """
    x = (
        torch.from_numpy(np.ascontiguousarray(frames))
        if isinstance(frames, np.ndarray)
        else frames
    )
    if not isinstance(x, Tensor):
        raise TypeError(f"expected a numpy array or tensor of frames, got {type(frames).__name__}")
    if x.dtype != torch.uint8:
        raise TypeError(f"expected uint8 RGB frames, got dtype {x.dtype}")
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[-1] != 3:
        raise ValueError(
            f"expected frames shaped (N, H, W, 3) or (H, W, 3), got {tuple(frames.shape)}"
        )
    x = x.to(device=device).permute(0, 3, 1, 2).float().div_(255.0)
    if x.shape[-2:] != (image_size, image_size):
        x = F.interpolate(
            x,
            size=(image_size, image_size),
            mode="bilinear",
            align_corners=False,
            antialias=True,
        ).clamp_(0.0, 1.0)
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - m) / s


class EmbeddingNet(nn.Module):
    """What every embedding network shares: a trunk with its weights, a fully connected head
    to the embedding, alpha-normalisation, preprocessing, batched embedding, checkpoints.

    A subclass builds its layers between trunk and head, implements :meth:`features`
    (images -> ``(B, F)``) and calls :meth:`_finish` with ``F`` at the end of ``__init__``.
    ``config`` needs ``backbone``, ``pretrained``, ``freeze_backbone``, ``image_size``,
    ``hidden_units``, ``embedding_dim``, ``alpha``, ``to_dict`` and ``from_dict``.
    """

    ARCHITECTURE = ""
    """Name stored in checkpoints ("tcn", "smak"); checkpoints without one are TCN's."""

    def __init__(self, config: Any, trunk: nn.Module, load_pretrained: bool) -> None:
        super().__init__()
        self.config = config
        self.backbone = trunk
        if load_pretrained and config.pretrained is not None:
            spec = BACKBONES[config.backbone]
            if config.pretrained == "imagenet":
                state, source = imagenet_state_dict(config.backbone), f"ImageNet {spec.builder}"
            else:
                state, source = read_state_dict_file(config.pretrained), repr(config.pretrained)
            load_trunk_state_dict(self.backbone, state, source)

    def _finish(self, features: int, description: str) -> None:
        """Add the head (FC + BatchNorm + ReLU, FC to the embedding) and freeze the trunk."""
        cfg = self.config
        self.fc = nn.Sequential(
            nn.Linear(features, cfg.hidden_units, bias=False),
            nn.BatchNorm1d(cfg.hidden_units),
            nn.ReLU(inplace=True),
            nn.Linear(cfg.hidden_units, cfg.embedding_dim),
        )
        self.pose_head = nn.Linear(cfg.embedding_dim, cfg.pose_joints) if cfg.pose_joints else None
        if cfg.freeze_backbone:
            self.backbone.requires_grad_(False)
            self.backbone.eval()
        logger.info(
            "%s(%s, image %d px, embedding %d): %d parameters, %d trainable",
            type(self).__name__,
            description,
            cfg.image_size,
            cfg.embedding_dim,
            count_parameters(self),
            count_parameters(self, trainable_only=True),
        )

    def train(self, mode: bool = True) -> EmbeddingNet:
        """Set training mode; a frozen backbone stays in eval mode (fixed BatchNorm stats)."""
        super().train(mode)
        if self.config.freeze_backbone:
            self.backbone.eval()
        return self

    @property
    def image_size(self) -> int:
        """Side of the square images :meth:`preprocess` produces."""
        assert self.config.image_size is not None  # resolved by the config's __post_init__
        return self.config.image_size

    def preprocess(self, frames: np.ndarray | Tensor) -> Tensor:
        """uint8 RGB ``(N, H, W, 3)`` -> normalised float ``(N, 3, S, S)`` on the model's
        device (see :func:`preprocess_frames`)."""
        device = self.fc[-1].weight.device
        return preprocess_frames(frames, self.image_size, IMAGENET_MEAN, IMAGENET_STD, device)

    def trunk(self, x: Tensor) -> Tensor:
        """The trunk's output for images ``(B, 3, H, W)`` (no gradients when frozen)."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"expected images shaped (B, 3, H, W), got {tuple(x.shape)}")
        if self.config.freeze_backbone:
            with torch.no_grad():
                return self.backbone(x)
        return self.backbone(x)

    def features(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        """Normalised images ``(B, 3, H, W)`` -> embeddings ``(B, embedding_dim)``, norm alpha."""
        return self.embedding_of(self.features(x))

    def embedding_of(self, features: Tensor) -> Tensor:
        """Embeddings of norm alpha for :meth:`features` output (the FC head, normalised)."""
        return self.config.alpha * F.normalize(self.fc(features), p=2.0, dim=1)

    @torch.no_grad()
    def embed(self, frames: np.ndarray | Tensor, batch_size: int = 64) -> Tensor:
        """Embeddings ``(N, embedding_dim)`` on the CPU of uint8 frames ``(N, H, W, 3)``, in
        eval mode and without gradients (the previous mode is restored)."""
        _check_positive_int("batch_size", batch_size)
        was_training = self.training
        self.eval()
        try:
            chunks = [
                self(self.preprocess(frames[i : i + batch_size])).cpu()
                for i in range(0, len(frames), batch_size)
            ]
        finally:
            self.train(was_training)
        if not chunks:
            return torch.zeros(0, self.config.embedding_dim)
        return torch.cat(chunks)

    def pose(self, embeddings: Tensor) -> Tensor:
        """The pose head's joint positions ``(B, pose_joints)`` for embeddings ``(B, D)``.

        Self-regression (Sermanet et al. 2018, pose imitation): trained on the robot's own
        frames against its own joint readings, a linear map, so it also forces the
        embedding to be linearly decodable into the robot's pose.
        """
        if self.pose_head is None:
            raise ValueError(
                "this embedding has no pose head; train it with self-regression "
                "(tcn train-embedding --objectives.self-regression WEIGHT)"
            )
        return self.pose_head(embeddings)

    def pose_decoder(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The pose head as numpy ``(weight (J, D), bias (J,))``, or None without one."""
        if self.pose_head is None:
            return None
        return (
            self.pose_head.weight.detach().cpu().double().numpy(),
            self.pose_head.bias.detach().cpu().double().numpy(),
        )

    def checkpoint_state(self) -> dict[str, Any]:
        """``{"architecture", "config", "model"}``: plain data that
        ``torch.load(weights_only=True)`` reads back."""
        return {
            "architecture": self.ARCHITECTURE,
            "config": self.config.to_dict(),
            "model": self.state_dict(),
        }

    @classmethod
    def config_type(cls) -> type:
        raise NotImplementedError

    @classmethod
    def from_checkpoint_state(cls, state: Mapping[str, Any]) -> EmbeddingNet:
        """Rebuild a model from :meth:`checkpoint_state` output without fetching backbone
        weights (the checkpoint holds them)."""
        for key in ("config", "model"):
            if key not in state:
                raise KeyError(f"checkpoint state lacks {key!r}; it has {sorted(state)}")
        architecture = state.get("architecture", TCN.ARCHITECTURE)
        if architecture != cls.ARCHITECTURE:
            raise ValueError(
                f"checkpoint holds architecture {architecture!r}, not {cls.ARCHITECTURE!r}; "
                f"load it with tcn_embedding.factory.load_model_state"
            )
        model = cls(cls.config_type().from_dict(state["config"]), load_pretrained=False)
        model.load_state_dict(state["model"])
        return model


class TCN(EmbeddingNet):
    """Time-Contrastive Network embedder: images -> embeddings of norm ``alpha``.

    Trunk, two 3x3 conv + BatchNorm + ReLU layers, spatial soft-argmax, the shared FC head.
    ``forward`` takes ImageNet-normalised float images ``(B, 3, H, W)`` (use
    :meth:`preprocess` on uint8 frames) and returns ``(B, embedding_dim)``.

    Args:
        config: hyperparameters; ``TCNConfig()`` when None.
        load_pretrained: load ``config.pretrained`` into the backbone. Pass False when the
            whole model's weights come from a checkpoint next (see :meth:`from_checkpoint_state`).
    """

    ARCHITECTURE = "tcn"

    def __init__(self, config: TCNConfig | None = None, *, load_pretrained: bool = True) -> None:
        cfg = config if config is not None else TCNConfig()
        super().__init__(cfg, build_trunk(cfg.backbone), load_pretrained)
        layers: list[nn.Module] = []
        in_ch = BACKBONES[cfg.backbone].out_channels
        for out_ch in cfg.head_channels:
            layers += [
                nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(out_ch),
                nn.ReLU(inplace=True),
            ]
            in_ch = out_ch
        self.head_convs = nn.Sequential(*layers)
        self.spatial_softargmax = SpatialSoftArgmax(
            learnable_temperature=cfg.learnable_temperature
        )
        self._finish(2 * in_ch, cfg.backbone)

    @classmethod
    def config_type(cls) -> type:
        return TCNConfig

    def features(self, x: Tensor) -> Tensor:
        """Spatial soft-argmax features ``(B, 2 * head_channels[-1])`` of images ``(B,3,H,W)``."""
        return self.spatial_softargmax(self.head_convs(self.trunk(x)))
