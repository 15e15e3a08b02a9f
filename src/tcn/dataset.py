"""A dataset directory: one bag per episode plus ``dataset.yaml``, the index.

The index records how the episodes were made (seed, cameras, sim and demo
settings, and the task for a task dataset) and the train/validation split; an episode of
the reach task also names the target it reaches. It lists only complete episodes: it is
rewritten atomically after each episode's bag is in place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kuka_sim import CameraConfig, SimConfig
from tcn.atomic import write_yaml_atomic
from tcn.errors import DatasetError

INDEX_NAME = "dataset.yaml"
INDEX_FORMAT = "tcn-dataset/1"
SPLITS = ("train", "val")


@dataclass
class DatasetIndex:
    """Contents of ``dataset.yaml``."""

    seed: int
    settings: dict[str, Any]
    cameras: list[CameraConfig]
    episodes: dict[str, str] = field(default_factory=dict)  # name -> split
    targets: dict[str, int] = field(default_factory=dict)  # name -> reach target (a task's)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": INDEX_FORMAT,
            "seed": self.seed,
            "settings": self.settings,
            "cameras": [c.to_dict() for c in self.cameras],
            "episodes": [self._entry(name) for name in sorted(self.episodes)],
        }

    def _entry(self, name: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": name, "split": self.episodes[name]}
        if name in self.targets:
            entry["target"] = self.targets[name]
        return entry

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetIndex:
        if data.get("format") != INDEX_FORMAT:
            raise DatasetError(
                f"unknown dataset index format {data.get('format')!r}, expected {INDEX_FORMAT!r}"
            )
        return cls(
            seed=int(data["seed"]),
            settings=dict(data["settings"]),
            cameras=[CameraConfig.from_dict(c) for c in data["cameras"]],
            episodes={e["name"]: e["split"] for e in data["episodes"]},
            targets={e["name"]: int(e["target"]) for e in data["episodes"] if "target" in e},
        )

    def names(self, split: str | None = None) -> list[str]:
        return sorted(n for n, s in self.episodes.items() if split is None or s == split)


def episode_targets(directory: Path | str, names: Sequence[str]) -> list[int] | None:
    """The reach targets of episodes ``names`` of a task dataset (``tcn record --task
    reach``), from its index; ``None`` where ``directory`` is no task dataset (no index, or an
    episode without a target)."""
    directory = Path(directory)
    index = load_index(directory) if directory.is_dir() else None
    if index is None or any(name not in index.targets for name in names):
        return None
    return [index.targets[name] for name in names]


def write_index(directory: Path, index: DatasetIndex) -> None:
    write_yaml_atomic(Path(directory) / INDEX_NAME, index.to_dict())


def load_index(directory: Path) -> DatasetIndex | None:
    """The dataset index of ``directory``, or ``None`` if it has none."""
    path = Path(directory) / INDEX_NAME
    if not path.is_file():
        return None
    try:
        return DatasetIndex.from_dict(yaml.safe_load(path.read_text()))
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        raise DatasetError(f"{path}: unreadable dataset index ({exc})") from exc


def dataset_sim_config(directory: Path) -> SimConfig:
    """The sim settings ``directory`` was recorded with (its index; recordings from before
    the tool load without one), the defaults when it has no index."""
    index = load_index(directory)
    return SimConfig.from_dict(index.settings["sim"]) if index else SimConfig()


def is_bag(path: Path) -> bool:
    return path.is_dir() and (path / "metadata.yaml").is_file()


def episode_paths(data: Path | str, split: str | None = None) -> list[Path]:
    """Bags of a dataset: one bag, or the episodes of a directory.

    With an index, ``split`` (``train`` or ``val``) selects that split's
    episodes; a directory without an index has no split, so every bag below it
    is returned whatever ``split`` asks (the documented fallback).
    """
    data = Path(data)
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    if not data.exists():
        raise DatasetError(f"{data}: no such bag or dataset directory")
    if is_bag(data):
        return [data]
    index = load_index(data)
    if index is not None:
        paths = [data / name for name in index.names(split)]
        missing = [p for p in paths if not is_bag(p)]
        if missing:
            raise DatasetError(f"{data}: index lists episodes that are missing: {missing[:5]}")
        if not paths:
            raise DatasetError(
                f"{data}: the index lists no {split or ''} episodes".replace("  ", " ")
            )
        return paths
    paths = sorted(
        p.parent for p in data.rglob("metadata.yaml") if not p.parent.name.startswith(".")
    )
    if not paths:
        raise DatasetError(f"{data}: no rosbag2 bags (directories with metadata.yaml) found")
    return paths
