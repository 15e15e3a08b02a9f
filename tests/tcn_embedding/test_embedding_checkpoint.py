"""Atomic checkpoints that load with weights_only=True."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tcn_embedding.checkpoint as checkpoint
from tcn_embedding.checkpoint import load_checkpoint, save_checkpoint
from tcn_embedding.model import TCN, TCNConfig


def test_round_trip_of_tensors_and_plain_data(tmp_path) -> None:
    state = {
        "weights": {"w": torch.arange(6.0).reshape(2, 3), "b": torch.zeros(3, dtype=torch.int64)},
        "step": 12,
        "lr": 1e-3,
        "name": "run",
        "flags": [True, None, (1, 2.5)],
    }
    path = save_checkpoint(tmp_path / "sub" / "ckpt.pt", state)
    assert path == tmp_path / "sub" / "ckpt.pt"
    loaded = load_checkpoint(path)
    assert torch.equal(loaded["weights"]["w"], state["weights"]["w"])
    assert loaded["weights"]["b"].dtype == torch.int64
    assert {k: loaded[k] for k in ("step", "lr", "name", "flags")} == {
        "step": 12,
        "lr": 1e-3,
        "name": "run",
        "flags": [True, None, (1, 2.5)],
    }
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["ckpt.pt"]


def test_an_interrupted_save_leaves_the_old_file_intact(tmp_path, monkeypatch) -> None:
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"step": 1, "w": torch.ones(4)})
    before = path.read_bytes()

    def crash(obj, f, *args, **kwargs) -> None:
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt  # e.g. Ctrl-C while writing

    monkeypatch.setattr(checkpoint.torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"step": 2, "w": torch.zeros(4)})
    assert path.read_bytes() == before
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # no temp file left


def test_state_that_weights_only_cannot_load_is_refused_up_front(tmp_path) -> None:
    with pytest.raises(TypeError, match=r"state\['meta'\]\['frames'\].*ndarray"):
        save_checkpoint(tmp_path / "x.pt", {"meta": {"frames": np.zeros(3)}})
    with pytest.raises(TypeError, match=r"state\['loss'\].*float64"):
        save_checkpoint(tmp_path / "x.pt", {"loss": np.float64(0.5)})
    assert not (tmp_path / "x.pt").exists()


def test_loading_errors_are_clear(tmp_path) -> None:
    save_checkpoint(tmp_path / "other.pt", {"a": 1})
    with pytest.raises(FileNotFoundError, match="other.pt"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="weights_only"):
        load_checkpoint(tmp_path / "junk.pt")


def test_a_model_round_trips_through_a_checkpoint(tmp_path) -> None:
    torch.manual_seed(0)
    cfg = TCNConfig(
        backbone="resnet18", image_size=40, head_channels=(8,), hidden_units=8, pretrained=None
    )
    model = TCN(cfg).eval()
    save_checkpoint(tmp_path / "model.pt", model.checkpoint_state())
    restored = TCN.from_checkpoint_state(load_checkpoint(tmp_path / "model.pt")).eval()
    assert restored.config == cfg
    x = torch.randn(2, 3, 40, 40)
    with torch.no_grad():
        assert torch.equal(model(x), restored(x))
