"""TCN network: spatial soft-argmax, backbones, weights loading, freezing, preprocessing."""

from __future__ import annotations

import os
import urllib.error

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

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
)

SMALL_HEAD = {"head_channels": (8, 6), "hidden_units": 16}


def small_config(backbone: str = "resnet18", **kw) -> TCNConfig:
    size = {"inception": 75, "resnet18": 48}[backbone]
    fields = {"backbone": backbone, "image_size": size, "pretrained": None, **SMALL_HEAD}
    fields.update(kw)
    return TCNConfig(**fields)


# --- spatial soft-argmax -------------------------------------------------------------------


@pytest.mark.parametrize("h,w", [(5, 7), (4, 4), (1, 6)])
def test_softargmax_finds_a_known_peak(h: int, w: int) -> None:
    """A sharply peaked map at (row, col) yields the coordinates of that pixel."""
    peaks = [(h - 1, 0), (0, w - 1), (h // 2, w // 3)]
    x = torch.zeros(2, len(peaks), h, w)
    for c, (r, col) in enumerate(peaks):
        x[0, c, r, col] = 100.0
        x[1, c, h - 1 - r, w - 1 - col] = 100.0
    out = SpatialSoftArgmax(learnable_temperature=False)(x)
    assert out.shape == (2, 2 * len(peaks))

    def coord(i: int, n: int) -> float:
        return 0.0 if n == 1 else -1.0 + 2.0 * i / (n - 1)

    for c, (r, col) in enumerate(peaks):
        assert out[0, 2 * c].item() == pytest.approx(coord(col, w), abs=1e-5)
        assert out[0, 2 * c + 1].item() == pytest.approx(coord(r, h), abs=1e-5)
        assert out[1, 2 * c].item() == pytest.approx(coord(w - 1 - col, w), abs=1e-5)
        assert out[1, 2 * c + 1].item() == pytest.approx(coord(h - 1 - r, h), abs=1e-5)


def test_softargmax_matches_a_plain_loop_and_a_flat_map_gives_the_centre() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4, 5)
    layer = SpatialSoftArgmax(temperature=0.7, learnable_temperature=False)
    out = layer(x)
    for b in range(2):
        for c in range(3):
            weights = [[0.0] * 5 for _ in range(4)]
            z = sum(float(torch.exp(x[b, c, i, j] / 0.7)) for i in range(4) for j in range(5))
            ex = ey = 0.0
            for i in range(4):
                for j in range(5):
                    weights[i][j] = float(torch.exp(x[b, c, i, j] / 0.7)) / z
                    ex += weights[i][j] * (-1 + 2 * j / 4)
                    ey += weights[i][j] * (-1 + 2 * i / 3)
            assert out[b, 2 * c].item() == pytest.approx(ex, abs=1e-5)
            assert out[b, 2 * c + 1].item() == pytest.approx(ey, abs=1e-5)
    flat = layer(torch.full((1, 2, 6, 3), 4.0))
    assert torch.allclose(flat, torch.zeros(1, 4), atol=1e-6)


def test_softargmax_temperature_is_learnable() -> None:
    layer = SpatialSoftArgmax(temperature=2.0)
    assert layer.temperature == pytest.approx(2.0)
    layer(torch.randn(2, 3, 4, 4)).pow(2).sum().backward()
    assert layer.log_temperature.grad is not None and layer.log_temperature.grad != 0
    fixed = SpatialSoftArgmax(learnable_temperature=False)
    assert count_parameters(fixed) == 0


# --- the network ---------------------------------------------------------------------------


@pytest.mark.parametrize("backbone", ["inception", "resnet18"])
def test_embeddings_have_norm_alpha_and_the_configured_size(backbone: str) -> None:
    torch.manual_seed(0)
    model = TCN(small_config(backbone, alpha=3.5, embedding_dim=5, freeze_backbone=False))
    x = torch.randn(3, 3, model.image_size, model.image_size)
    out = model(x)
    assert out.shape == (3, 5)
    assert torch.allclose(out.norm(dim=1), torch.full((3,), 3.5), atol=1e-4)
    model.eval()
    with torch.no_grad():
        assert torch.allclose(model(x).norm(dim=1), torch.full((3,), 3.5), atol=1e-4)


def test_a_frozen_backbone_gets_no_gradient_and_keeps_its_batchnorm_statistics() -> None:
    torch.manual_seed(0)
    model = TCN(small_config("resnet18", freeze_backbone=True))
    model.train()
    assert not model.backbone.training and model.head_convs.training
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    model(torch.randn(4, 3, 48, 48)).sum().backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert all(p.grad is not None for p in model.fc.parameters())
    for k, v in model.backbone.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert count_parameters(model, trainable_only=True) == count_parameters(
        model
    ) - count_parameters(model.backbone)


def test_an_unfrozen_backbone_trains() -> None:
    torch.manual_seed(0)
    model = TCN(small_config("resnet18", freeze_backbone=False)).train()
    assert model.backbone.training
    model(torch.randn(2, 3, 48, 48)).sum().backward()
    assert model.backbone.conv1.weight.grad is not None
    assert count_parameters(model, trainable_only=True) == count_parameters(model)


def test_count_parameters_counts_scalars() -> None:
    layer = nn.Linear(3, 4)
    assert count_parameters(layer) == 16
    layer.bias.requires_grad_(False)
    assert count_parameters(layer, trainable_only=True) == 12


def test_default_sizes_follow_the_published_config() -> None:
    cfg = TCNConfig(pretrained=None)
    assert (cfg.backbone, cfg.image_size, cfg.embedding_dim, cfg.alpha) == (
        "inception",
        299,
        32,
        10.0,
    )
    assert cfg.head_channels == (512, 512) and cfg.hidden_units == 2048
    assert TCNConfig(backbone="resnet18", pretrained=None).image_size == 224
    model = TCN(cfg)
    assert model.fc[0].in_features == 2 * 512
    assert model.fc[-1].out_features == 32


def test_embed_batches_uint8_frames_and_restores_the_mode() -> None:
    torch.manual_seed(0)
    model = TCN(small_config("resnet18")).train()
    frames = np.random.default_rng(0).integers(0, 256, size=(5, 30, 40, 3), dtype=np.uint8)
    emb = model.embed(frames, batch_size=2)
    assert emb.shape == (5, model.config.embedding_dim)
    assert model.training
    model.eval()
    with torch.no_grad():
        direct = model(model.preprocess(frames))
    assert torch.allclose(emb, direct, atol=1e-5)


# --- preprocessing -------------------------------------------------------------------------


def test_preprocess_resizes_and_normalises_with_imagenet_statistics() -> None:
    model = TCN(small_config("resnet18"))
    frames = np.zeros((2, 30, 50, 3), dtype=np.uint8)
    frames[..., 0], frames[..., 1], frames[..., 2] = 255, 0, 128
    x = model.preprocess(frames)
    assert x.shape == (2, 3, 48, 48) and x.dtype == torch.float32
    for c, value in enumerate((255, 0, 128)):
        expected = (value / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]
        assert torch.allclose(x[:, c], torch.full((2, 48, 48), expected), atol=1e-5)
    single = model.preprocess(torch.from_numpy(frames[0]))
    assert single.shape == (1, 3, 48, 48)
    flipped = model.preprocess(frames[:, ::-1, ::-1])  # negative strides (a view) are fine
    assert torch.allclose(flipped, x, atol=1e-5)


def test_preprocess_keeps_frames_of_the_right_size_pixel_exact() -> None:
    model = TCN(small_config("resnet18"))
    frames = np.random.default_rng(1).integers(0, 256, size=(2, 48, 48, 3), dtype=np.uint8)
    x = model.preprocess(frames)
    back = x * torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) + torch.tensor(IMAGENET_MEAN).view(
        1, 3, 1, 1
    )
    assert torch.allclose(
        back * 255, torch.from_numpy(frames).permute(0, 3, 1, 2).float(), atol=1e-3
    )


def test_preprocess_rejects_wrong_frames() -> None:
    model = TCN(small_config("resnet18"))
    with pytest.raises(TypeError, match="uint8"):
        model.preprocess(np.zeros((1, 8, 8, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        model.preprocess(np.zeros((1, 8, 8, 4), dtype=np.uint8))


# --- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field,value",
    [
        ("backbone", "vgg16"),
        ("embedding_dim", 0),
        ("alpha", -1.0),
        ("alpha", float("nan")),
        ("head_channels", ()),
        ("head_channels", (8, -3)),
        ("hidden_units", 2.5),
        ("image_size", 40),
        ("pretrained", ""),
        ("freeze_backbone", "yes"),
    ],
)
def test_config_rejects_bad_values_naming_them(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field) as info:
        TCNConfig(**{"pretrained": None, field: value})
    assert repr(value) in str(info.value) or str(value) in str(info.value)


def test_config_round_trips_through_a_plain_dict() -> None:
    cfg = TCNConfig(backbone="resnet18", head_channels=[16, 8], image_size=64, pretrained=None)
    data = cfg.to_dict()
    assert data["head_channels"] == [16, 8]
    assert all(isinstance(v, (str, int, float, bool, list, type(None))) for v in data.values())
    assert TCNConfig.from_dict(data) == cfg
    with pytest.raises(ValueError, match="bogus"):
        TCNConfig.from_dict({**data, "bogus": 1})


def test_config_minimum_image_sizes_run() -> None:
    """The smallest accepted image size still gives a usable feature map."""
    for name, spec in BACKBONES.items():
        model = TCN(small_config(name, image_size=spec.min_image_size)).eval()
        with torch.no_grad():
            feat = model.backbone(torch.zeros(1, 3, spec.min_image_size, spec.min_image_size))
        assert feat.shape[1] == spec.out_channels and min(feat.shape[-2:]) >= 4


# --- backbone weights ----------------------------------------------------------------------


def _torchvision_model(backbone: str) -> nn.Module:
    torch.manual_seed(1)
    if backbone == "inception":
        # init_weights=False: plain PyTorch init, fast (no truncated-normal pass).
        return torchvision.models.inception_v3(
            weights=None, aux_logits=True, init_weights=False, transform_input=True
        )
    return torchvision.models.resnet18(weights=None)


def _trunk_output_of(full: nn.Module, backbone: str, x: torch.Tensor) -> torch.Tensor:
    layer = full.Mixed_5d if backbone == "inception" else full.layer2
    out: dict[str, torch.Tensor] = {}
    handle = layer.register_forward_hook(lambda m, i, o: out.__setitem__("y", o))
    with torch.no_grad():
        full(x)
    handle.remove()
    return out["y"]


@pytest.mark.parametrize("backbone", ["inception", "resnet18"])
def test_a_local_torchvision_state_dict_loads_into_the_trunk(tmp_path, backbone: str) -> None:
    """A full torchvision state dict saved to disk becomes the trunk's weights, and the trunk
    computes what torchvision's own network computes up to the cut (Mixed_5d / layer2)."""
    full = _torchvision_model(backbone).eval()
    path = tmp_path / "weights.pth"
    torch.save(full.state_dict(), path)
    model = TCN(small_config(backbone, pretrained=str(path))).eval()
    reference = full.state_dict()
    trunk = model.backbone.state_dict()
    assert len(trunk) < len(reference)  # fc, later blocks ignored
    for key, value in trunk.items():
        assert torch.equal(value, reference[key]), key
    x = torch.randn(2, 3, model.image_size, model.image_size)
    with torch.no_grad():
        ours = model.backbone(x)
    assert torch.allclose(ours, _trunk_output_of(full, backbone, x), atol=1e-5)


def test_a_state_dict_missing_trunk_keys_is_refused_with_examples(tmp_path) -> None:
    state = {k: v for k, v in _torchvision_model("resnet18").state_dict().items()}
    del state["layer2.1.conv2.weight"]
    path = tmp_path / "partial.pth"
    torch.save(state, path)
    with pytest.raises(IncompatibleWeightsError, match=r"layer2\.1\.conv2\.weight"):
        TCN(small_config("resnet18", pretrained=str(path)))
    state = _torchvision_model("resnet18").state_dict()
    state["conv1.weight"] = torch.zeros(64, 3, 3, 3)
    torch.save(state, path)
    with pytest.raises(IncompatibleWeightsError, match="wrong shape"):
        TCN(small_config("resnet18", pretrained=str(path)))


def test_a_missing_weights_file_is_reported(tmp_path) -> None:
    missing = tmp_path / "nope.pth"
    with pytest.raises(WeightsUnavailableError, match="not found"):
        TCN(small_config("resnet18", pretrained=str(missing)))


@pytest.fixture
def offline_hub(tmp_path, monkeypatch) -> list[str]:
    """Empty torch hub cache under tmp_path; any download attempt fails like a dead network."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    attempts: list[str] = []

    def no_network(url: str, *args, **kwargs) -> None:
        attempts.append(url)
        raise urllib.error.URLError("network is unreachable (simulated)")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    return attempts


@pytest.mark.parametrize("backbone", ["inception", "resnet18"])
def test_imagenet_weights_unavailable_offline_raise_a_clear_error(offline_hub, backbone) -> None:
    with pytest.raises(WeightsUnavailableError) as info:
        TCN(small_config(backbone, pretrained="imagenet"))
    message = str(info.value)
    file_name = os.path.basename(BACKBONES[backbone].weights.url)
    assert file_name in message
    assert "weights='IMAGENET1K_V1'" in message
    assert imagenet_weights_file(backbone) in message
    assert "pretrained=<path>" in message
    assert offline_hub == [BACKBONES[backbone].weights.url]


def test_cached_imagenet_weights_load_without_network(offline_hub) -> None:
    full = _torchvision_model("resnet18")
    cached = imagenet_weights_file("resnet18")
    os.makedirs(os.path.dirname(cached))
    torch.save(full.state_dict(), cached)
    model = TCN(small_config("resnet18", pretrained="imagenet"))
    assert offline_hub == []
    assert torch.equal(model.backbone.layer2[1].conv2.weight, full.layer2[1].conv2.weight)
