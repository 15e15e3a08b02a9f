"""Demonstrations filmed again as a real camera would film them: off its calibration, in other
light, with sensor noise and JPEG compression.

:func:`perturb_dataset` renders each demonstration of a dataset again at its recorded joints,
in its recorded scene, through its camera moved ``camera_offset`` m in a random direction
and turned ``camera_degrees`` about a random axis, lit by the renderer's light turned
``light_degrees`` and each colour channel dimmed by up to ``light_color``; then adds Gaussian
noise of 8-bit standard deviation ``noise`` and compresses each frame as JPEG at quality
``jpeg``. Each episode draws its own perturbation from ``seed`` and its index.

The bags keep the *stored* camera, the nominal one, as a calibration file would: what a
reader is given is what it would be given on a real robot. The camera and light that filmed
each episode are kept in its episode info under ``perturbation``, for measurements only
(nothing in the package reads them). A zero perturbation reproduces the frames exactly.
"""

from __future__ import annotations

import dataclasses
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tcn.errors import TcnError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Perturbation:
    """How far a filming is from the dataset's own (all zero: not at all)."""

    camera_offset: float = 0.0
    """m, the camera's distance from its stored position."""
    camera_degrees: float = 0.0
    """Degrees the camera is turned from its stored orientation."""
    light_degrees: float = 0.0
    """Degrees the light is turned from the renderer's default direction."""
    light_color: float = 0.0
    """Each colour channel of the light dimmed by up to this fraction."""
    noise: float = 0.0
    """Standard deviation of Gaussian sensor noise, in 8-bit intensity levels."""
    jpeg: int | None = None
    """JPEG quality each frame is compressed at (1-95; None: not compressed)."""
    seed: int = 0
    """Seeds each episode's perturbation (with the episode's index)."""

    def __post_init__(self) -> None:
        for name in ("camera_offset", "camera_degrees", "light_degrees", "noise"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be >= 0, got {value!r}")
        if not 0.0 <= self.light_color <= 1.0:
            raise ValueError(f"light_color must be in [0, 1], got {self.light_color!r}")
        if self.jpeg is not None and not 1 <= int(self.jpeg) <= 95:
            raise ValueError(f"jpeg quality must be in [1, 95], got {self.jpeg!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def degrade_frames(
    frames: np.ndarray, noise: float, jpeg: int | None, rng: np.random.Generator
) -> np.ndarray:
    """``frames`` ``(T, H, W, 3)`` uint8 with Gaussian noise of 8-bit standard deviation
    ``noise``, then JPEG-compressed at quality ``jpeg`` (None: not)."""
    frames = np.asarray(frames)
    if noise > 0:
        noisy = frames.astype(np.float64) + rng.normal(0.0, noise, frames.shape)
        frames = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
    if jpeg is not None:
        from PIL import Image

        compressed = []
        for frame in frames:
            buffer = io.BytesIO()
            Image.fromarray(frame).save(buffer, format="JPEG", quality=int(jpeg))
            compressed.append(np.asarray(Image.open(buffer).convert("RGB")))
        frames = np.stack(compressed)
    return frames


def perturb_episode(sim: Any, episode: Any, perturbation: Perturbation, index: int) -> Any:
    """``episode`` (:class:`kuka_sim.Episode`) filmed again in ``sim`` (its scene) with its
    ``index``-th draw of ``perturbation``; its stored cameras unchanged."""
    from kuka_sim import Lighting, perturbed_camera, perturbed_lighting

    rng = np.random.default_rng([perturbation.seed, index])
    light = (
        perturbed_lighting(perturbation.light_degrees, perturbation.light_color, rng)
        if perturbation.light_degrees or perturbation.light_color
        else Lighting()
    )
    views, filmed_with = [], []
    for camera in episode.cameras:
        if camera is None:
            raise TcnError("an episode filmed by a camera we do not model cannot be filmed again")
        filming = perturbed_camera(
            camera, perturbation.camera_offset, perturbation.camera_degrees, rng
        )
        frames = []
        for joints in episode.joint_positions:
            sim.reset(joints)
            frames.append(sim.render(filming, light))
        views.append(degrade_frames(np.stack(frames), perturbation.noise, perturbation.jpeg, rng))
        filmed_with.append(filming.to_dict())
    kept = {k: v for k, v in episode.info.items() if k not in ("path", "camera_info")}
    info = {
        **kept,
        "perturbation": {
            **perturbation.to_dict(),
            "cameras": filmed_with,
            "light": light.to_dict(),
        },
    }
    return dataclasses.replace(episode, frames=views, info=info)


def perturb_dataset(
    data: Path | str,
    out: Path | str,
    perturbation: Perturbation,
    split: str | None = "val",
    on_episode: Any = None,
) -> list[str]:
    """Film ``data``'s ``split`` episodes (None: all) again with ``perturbation`` into
    ``out``, a dataset of the same split, scene and stored cameras; resumes where ``out``
    already holds some of them (with the same perturbation). Returns the episodes' names."""
    from kuka_sim import KukaSim
    from tcn.bags import read_episode, write_episode
    from tcn.dataset import DatasetIndex, dataset_sim_config, load_index, write_index

    data, out = Path(data), Path(out)
    index = load_index(data)
    if index is None:
        raise TcnError(f"{data} has no dataset.yaml: perturb a dataset `tcn record` wrote")
    names = index.names(split)
    if not names:
        raise TcnError(f"{data} has no {split!r} episodes")
    settings = {**index.settings, "perturbation": {**perturbation.to_dict(), "of": str(data)}}
    episodes = {name: index.episodes[name] for name in names}
    targets = {name: index.targets[name] for name in names if name in index.targets}
    new = DatasetIndex(index.seed, settings, index.cameras, episodes, targets)
    existing = load_index(out) if out.is_dir() else None
    if existing is not None and existing.settings != settings:
        raise TcnError(f"{out} holds a dataset filmed with other settings; pick another --out")
    out.mkdir(parents=True, exist_ok=True)
    write_index(out, new)
    sim = KukaSim(dataset_sim_config(data))
    try:
        for name in names:
            if (out / name / "metadata.yaml").is_file():
                continue
            episode = read_episode(data / name)
            index_of = index.names().index(name)
            write_episode(out / name, perturb_episode(sim, episode, perturbation, index_of))
            log.info("filmed %s again", name)
            if on_episode is not None:
                on_episode(name)
    finally:
        sim.close()
    return names
