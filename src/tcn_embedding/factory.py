"""Build and load embedding networks by architecture: ``tcn`` (TCN) or ``smak`` (SMAK-Net).

Both share one interface (``config``, ``image_size``, ``preprocess``, ``forward``, ``embed``,
``checkpoint_state``, ``from_checkpoint_state``), so trainers, rewards and nodes take either.

Usage::

    model = build_embedding_model(SMAKConfig(backbone="resnet18", pretrained=None))
    model = build_embedding_model(train_config)      # anything with .model_config()
    model = load_model_state(load_checkpoint(path))  # dispatches on state["architecture"]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tcn_embedding.model import TCN, TCNConfig
from tcn_embedding.smak import SMAKConfig, SMAKNet

EmbeddingModel = TCN | SMAKNet
"""Either embedding network."""

ARCHITECTURES: dict[str, type[TCN] | type[SMAKNet]] = {"tcn": TCN, "smak": SMAKNet}
"""``architecture`` name -> network class; checkpoints without the key are ``tcn``."""


def build_embedding_model(config: Any, *, load_pretrained: bool = True) -> EmbeddingModel:
    """The network for ``config``: a :class:`TCNConfig`, a :class:`SMAKConfig`, or a
    training config with ``model_config()`` returning one of them."""
    if hasattr(config, "model_config"):
        config = config.model_config()
    if isinstance(config, SMAKConfig):
        return SMAKNet(config, load_pretrained=load_pretrained)
    if isinstance(config, TCNConfig):
        return TCN(config, load_pretrained=load_pretrained)
    raise TypeError(
        f"expected a TCNConfig, SMAKConfig or a config with model_config(), "
        f"got {type(config).__name__}"
    )


def load_model_state(state: Mapping[str, Any]) -> EmbeddingModel:
    """Rebuild the network saved by ``checkpoint_state()`` (a checkpoint holds it), choosing
    the class by ``state["architecture"]``; checkpoints from before SMAK-Net lack the key and
    load as TCN."""
    architecture = state.get("architecture", "tcn")
    if architecture not in ARCHITECTURES:
        raise ValueError(
            f"checkpoint architecture must be one of {sorted(ARCHITECTURES)}, got {architecture!r}"
        )
    return ARCHITECTURES[architecture].from_checkpoint_state(state)
