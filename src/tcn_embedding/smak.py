"""SMAK-Net: TCN with multi-level spatial attention instead of the spatial soft-argmax.

Ramachandrani et al. replace the TCN bottleneck (:class:`~tcn_embedding.model.TCN`) with the
trainable attention of "Learn to Pay Attention" (Jetley et al. 2018, arXiv:1804.02391)
over feature maps from several depths of the CNN::

    image (B, 3, H, W), ImageNet-normalised
      -> backbone trunk, three local feature maps L_1, L_2, L_3 (see LEVELS)
      -> top of the trunk [-> extended: 3x3 conv + BN + ReLU layers] -> global avg pool = g
      -> per chosen level i (attention variant att12 | att13 | att23 | att123):
           g_i = W_i g + b_i                  linear projection to L_i's channels C_i
           c_i = <u_i, L_i + g_i>             1x1 conv to one channel, no bias (Jetley eq. 2)
           a_i = sigmoid(c_i)                 or softmax(c_i) over the H_i x W_i positions
           f_i = sum_s a_i[s] L_i[s] / (H_i W_i)   (sigmoid)  |  sum_s a_i[s] L_i[s]  (softmax)
      -> concat(f_i)                                           (B, sum C_i)
      -> fully connected + BatchNorm + ReLU -> fully connected (B, embedding_dim)
      -> L2 normalise, times alpha                             exactly as TCN

Normalisation choice: with softmax the weights sum to one, so ``f_i`` is a convex
combination of the local features (Jetley et al.'s default). With sigmoid each position is
gated independently in [0, 1]; we then average over all ``H_i W_i`` positions (as the
widely used reference implementation of Jetley et al., ``adaptive_avg_pool2d(a * l)``)
rather than dividing by ``sum(a)``: the output keeps the scale of global average pooling
and stays smooth when few positions are switched on, and how much of the image is attended
remains visible in ``f_i`` instead of being divided away.

Levels (``LEVELS``), finest first:

- ``inception``: ``Conv2d_4a_3x3`` (192 ch, 299 px -> 71x71), ``Mixed_5b`` (256 ch, 35x35),
  ``Mixed_5d`` (288 ch, 35x35, the TCN trunk's output). Mixed_5b..5d all share one grid, so
  taking all three would give three near-identical resolutions; the last convolution before
  the trunk's second max-pool adds a level at twice the resolution with low-level
  (edge/part) features, Mixed_5b is the first Inception block, Mixed_5d the deepest feature
  the TCN uses. Nothing beyond Mixed_5d is needed, so the TCN's Inception trunk is reused
  unchanged (same weights, same preprocessing).
- ``resnet18``: ``layer1`` (64 ch, stride 4), ``layer2`` (128 ch, stride 8, the TCN trunk's
  output), ``layer3`` (256 ch, stride 16): the ends of three consecutive ResNet stages, one
  per resolution. The TCN's ResNet-18 trunk stops at layer2, so this trunk adds torchvision's
  ``layer3`` (same keys, so ImageNet ``resnet18`` weights load into it too).

Usage::

    cfg = SMAKConfig(backbone="resnet18", attention="att123", image_size=96, pretrained=None)
    model = SMAKNet(cfg)
    emb = model(model.preprocess(frames_uint8_nhwc))          # (B, 32), each row has norm 10
    maps = model.attention_maps(model.preprocess(frames))      # [(B, H_i, W_i)] per level
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock

from tcn_embedding.model import (
    BACKBONES,
    EmbeddingNet,
    InceptionTrunk,
    ResNet18Trunk,
    SettingError,
    _positive_int_tuple,
    validate_embedding_fields,
)

logger = logging.getLogger(__name__)

ARCHITECTURE = "smak"
"""Value of the ``"architecture"`` key of :meth:`SMAKNet.checkpoint_state`."""

LEVELS: dict[str, tuple[tuple[str, int], ...]] = {
    "inception": (("Conv2d_4a_3x3", 192), ("Mixed_5b", 256), ("Mixed_5d", 288)),
    "resnet18": (("layer1", 64), ("layer2", 128), ("layer3", 256)),
}
"""Per backbone: (trunk submodule, channels) of attention levels 1, 2, 3 (see module doc)."""

ATTENTION_VARIANTS: dict[str, tuple[int, ...]] = {
    "att12": (1, 2),
    "att13": (1, 3),
    "att23": (2, 3),
    "att123": (1, 2, 3),
}
"""Attention variant -> the levels (1 = finest) whose attended features are concatenated."""

NORMALIZATIONS = ("sigmoid", "softmax")


@dataclass
class SMAKConfig:
    """Hyperparameters of :class:`SMAKNet`; validated on construction.

    ``to_dict`` gives plain python values (safe for ``torch.load(weights_only=True)``
    and YAML); ``from_dict`` reverses it.
    """

    backbone: str = "inception"
    """Trunk: ``"inception"`` (Inception-v3 to Mixed_5d, as TCN) or ``"resnet18"``
    (ResNet-18 to layer3, the ResNet-backbone variant)."""
    attention: str = "att123"
    """Levels attended to: ``att12``, ``att13``, ``att23`` or ``att123`` (see :data:`LEVELS`)."""
    normalization: str = "sigmoid"
    """Attention weights: ``sigmoid`` (each position in [0, 1], features averaged over
    space) or ``softmax`` (weights sum to one over space)."""
    extended: bool = False
    """Put ``extended_channels`` 3x3 conv + BatchNorm + ReLU layers on top of the trunk before
    the global feature ``g`` is pooled (False: ``g`` pools the trunk's output directly)."""
    extended_channels: tuple[int, ...] = (512, 512)
    """Output channels of the extra conv layers (used only when ``extended``)."""
    embedding_dim: int = 32
    """Size of the embedding."""
    alpha: float = 10.0
    """Norm of every embedding: the output is ``alpha * x / ||x||``."""
    hidden_units: int = 2048
    """Units of the hidden fully connected layer (as TCN)."""
    image_size: int | None = None
    """Square side images are resized to; None picks the backbone's native size."""
    pretrained: str | None = "imagenet"
    """Backbone weights: ``"imagenet"``, a path to a ``.pth`` state dict, or None (random)."""
    freeze_backbone: bool = True
    """Keep the trunk fixed (no gradients, BatchNorm statistics frozen)."""
    pose_joints: int = 0
    """Size of the linear pose head on the embedding (0: none), as TCN's."""

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES or self.backbone not in LEVELS:
            raise SettingError(
                "backbone", f"must be one of {sorted(LEVELS)}, got {self.backbone!r}"
            )
        if self.attention not in ATTENTION_VARIANTS:
            raise SettingError(
                "attention",
                f"must be one of {sorted(ATTENTION_VARIANTS)}, got {self.attention!r}",
            )
        if self.normalization not in NORMALIZATIONS:
            raise SettingError(
                "normalization", f"must be one of {NORMALIZATIONS}, got {self.normalization!r}"
            )
        self.extended_channels = _positive_int_tuple("extended_channels", self.extended_channels)
        if self.extended and not self.extended_channels:
            raise SettingError(
                "extended_channels", "must name at least one layer with extended=True, got ()"
            )
        if not isinstance(self.extended, bool):
            raise SettingError("extended", f"must be a bool, got {self.extended!r}")
        validate_embedding_fields(self)

    @property
    def levels(self) -> tuple[tuple[str, int], ...]:
        """(trunk submodule, channels) of the levels this variant attends to, finest first."""
        return tuple(LEVELS[self.backbone][i - 1] for i in ATTENTION_VARIANTS[self.attention])

    def to_dict(self) -> dict[str, Any]:
        """Plain-python dict of the fields (tuples become lists)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["extended_channels"] = list(self.extended_channels)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SMAKConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError`` naming them."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown SMAKConfig fields {unknown}; known fields: {sorted(known)}")
        kwargs = dict(data)
        if kwargs.get("extended_channels") is not None:
            kwargs["extended_channels"] = tuple(kwargs["extended_channels"])
        return cls(**kwargs)


class ResNet18Layer3Trunk(ResNet18Trunk):
    """ResNet-18 from ``conv1`` to ``layer3`` (stride 16); keys equal torchvision's.

    The TCN's :class:`~tcn_embedding.model.ResNet18Trunk` plus torchvision's ``layer3``.
    Input ``(B, 3, H, W)`` ImageNet-normalised; output ``(B, 256, H/16, W/16)``.
    """

    def __init__(self) -> None:
        super().__init__()
        downsample = nn.Sequential(
            nn.Conv2d(128, 256, kernel_size=1, stride=2, bias=False), nn.BatchNorm2d(256)
        )
        self.layer3 = nn.Sequential(BasicBlock(128, 256, 2, downsample), BasicBlock(256, 256))
        for m in self.layer3.modules():  # torchvision ResNet's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        """``(B, 3, H, W)`` -> ``(B, 256, h, w)``."""
        return self.layer3(super().forward(x))


def build_smak_trunk(backbone: str) -> nn.Module:
    """A randomly initialised trunk reaching every level of ``LEVELS[backbone]``."""
    if backbone == "inception":
        return InceptionTrunk()
    if backbone == "resnet18":
        return ResNet18Layer3Trunk()
    raise SettingError("backbone", f"must be one of {sorted(LEVELS)}, got {backbone!r}")


class AttentionLevel(nn.Module):
    """Jetley et al.'s attention estimator and pooling for one local feature map.

    ``forward(local (B, C, H, W), g (B, G))`` returns the attended features ``(B, C)`` and
    the attention weights ``(B, H, W)`` (see the module docstring for the equations).
    """

    def __init__(self, local_channels: int, global_channels: int, normalization: str) -> None:
        super().__init__()
        if normalization not in NORMALIZATIONS:
            raise ValueError(
                f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}"
            )
        self.normalization = normalization
        self.project = nn.Linear(global_channels, local_channels)
        self.u = nn.Conv2d(local_channels, 1, kernel_size=1, bias=False)

    def forward(self, local: Tensor, g: Tensor) -> tuple[Tensor, Tensor]:
        """``(B, C, H, W), (B, G)`` -> attended features ``(B, C)``, weights ``(B, H, W)``."""
        b, _, h, w = local.shape
        scores = self.u(local + self.project(g)[:, :, None, None]).view(b, h * w)
        if self.normalization == "softmax":
            a = torch.softmax(scores, dim=1).view(b, 1, h, w)
            pooled = (a * local).sum(dim=(2, 3))
        else:
            a = torch.sigmoid(scores).view(b, 1, h, w)
            pooled = (a * local).mean(dim=(2, 3))
        return pooled, a.view(b, h, w)


class SMAKNet(EmbeddingNet):
    """SMAK-Net embedder: images -> embeddings of norm ``alpha``; the interface of ``TCN``.

    Trunk, optional extra conv layers (``extended``), one attention module per chosen level,
    the shared FC head. ``forward`` takes ImageNet-normalised float images ``(B, 3, H, W)``
    (use :meth:`preprocess` on uint8 frames) and returns ``(B, embedding_dim)``.

    Args:
        config: hyperparameters; ``SMAKConfig()`` when None.
        load_pretrained: load ``config.pretrained`` into the backbone. Pass False when the
            whole model's weights come from a checkpoint next (see :meth:`from_checkpoint_state`).
    """

    ARCHITECTURE = ARCHITECTURE

    def __init__(self, config: SMAKConfig | None = None, *, load_pretrained: bool = True) -> None:
        cfg = config if config is not None else SMAKConfig()
        super().__init__(cfg, build_smak_trunk(cfg.backbone), load_pretrained)
        layers: list[nn.Module] = []
        top_channels = LEVELS[cfg.backbone][-1][1]
        if cfg.extended:
            for out_ch in cfg.extended_channels:
                layers += [
                    nn.Conv2d(top_channels, out_ch, kernel_size=3, padding=1, bias=False),
                    nn.BatchNorm2d(out_ch),
                    nn.ReLU(inplace=True),
                ]
                top_channels = out_ch
        self.extended_convs = nn.Sequential(*layers)
        self.level_names = [name for name, _ in cfg.levels]
        self.attention = nn.ModuleList(
            AttentionLevel(channels, top_channels, cfg.normalization) for _, channels in cfg.levels
        )
        self._finish(
            sum(c for _, c in cfg.levels), f"{cfg.backbone}, {cfg.attention}, {cfg.normalization}"
        )

    @classmethod
    def config_type(cls) -> type:
        return SMAKConfig

    def _trunk(self, x: Tensor) -> tuple[list[Tensor], Tensor]:
        """Local feature maps of the chosen levels and the trunk's top ``(B, C_top, h, w)``.

        The levels are read with forward hooks around one run of the trunk's own forward,
        so the trunk is exactly the TCN's (same layers, same input transform).
        """
        captured: dict[str, Tensor] = {}
        handles = [
            self.backbone.get_submodule(name).register_forward_hook(
                lambda _m, _i, out, name=name: captured.__setitem__(name, out)
            )
            for name in self.level_names
        ]
        try:
            top = self.trunk(x)
        finally:
            for handle in handles:
                handle.remove()
        return [captured[name] for name in self.level_names], top

    def _attend(self, x: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """Attended features ``[(B, C_i)]`` and weights ``[(B, H_i, W_i)]`` per level."""
        locals_, top = self._trunk(x)
        g = self.extended_convs(top).mean(dim=(2, 3))  # global average pool, (B, C_top)
        pooled, weights = [], []
        for level, local in zip(self.attention, locals_, strict=True):
            f, a = level(local, g)
            pooled.append(f)
            weights.append(a)
        return pooled, weights

    def features(self, x: Tensor) -> Tensor:
        """Concatenated attended features ``(B, sum C_i)`` of images ``(B, 3, H, W)``."""
        return torch.cat(self._attend(x)[0], dim=1)

    @torch.no_grad()
    def attention_maps(self, x: Tensor) -> list[Tensor]:
        """Attention weights ``[(B, H_i, W_i)]`` per chosen level (finest first) of normalised
        images ``(B, 3, H, W)``, on the CPU, in eval mode (the previous mode is restored)."""
        was_training = self.training
        self.eval()
        try:
            return [a.cpu() for a in self._attend(x)[1]]
        finally:
            self.train(was_training)
