"""Run directories: ``config.yaml``, checkpoints, ``metrics.json``, history, logs, pictures.

Layout of a run ``RUN/``::

    config.yaml              the full configuration the run was started with
    checkpoints/last.pt      latest state (written atomically every checkpoint)
    checkpoints/best.pt      best validation score so far
    history.jsonl            one JSON line per epoch (rewritten from the checkpoint)
    logs/                    TensorBoard event files
    *.png, metrics.json      pictures and evaluations

``--model RUN_OR_CKPT`` anywhere takes a run directory (its latest checkpoint)
or a checkpoint file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tcn.atomic import atomic_path, write_yaml_atomic
from tcn.errors import TcnError

CONFIG = "config.yaml"
LAST = "last.pt"
BEST = "best.pt"


def checkpoint_dir(run: Path) -> Path:
    return Path(run) / "checkpoints"


def latest_checkpoint(run: Path) -> Path | None:
    path = checkpoint_dir(run) / LAST
    return path if path.is_file() else None


def resolve_checkpoint(run_or_checkpoint: Path | str) -> Path:
    """The checkpoint a ``--model`` argument names."""
    path = Path(run_or_checkpoint)
    if path.is_file():
        return path
    if path.is_dir():
        latest = latest_checkpoint(path)
        if latest is None:
            raise TcnError(f"{path}: run directory without {checkpoint_dir(path).name}/{LAST}")
        return latest
    raise TcnError(f"{path}: no such run directory or checkpoint file")


def run_of(checkpoint: Path) -> Path | None:
    """The run directory a checkpoint belongs to, if it sits in one."""
    run = checkpoint.parent.parent
    return run if (run / CONFIG).is_file() else None


def write_config(run: Path, config: dict[str, Any]) -> None:
    Path(run).mkdir(parents=True, exist_ok=True)
    write_yaml_atomic(Path(run) / CONFIG, config)


def read_config(run: Path) -> dict[str, Any]:
    return yaml.safe_load((Path(run) / CONFIG).read_text())


def stored_settings(run: Path | str, section: str, resume: bool) -> dict[str, Any] | None:
    """With ``resume``, the settings section (``train``, ``agent``) of ``run``'s config if the
    run exists, else None: what ``--resume`` starts from instead of a preset."""
    path = Path(run) / CONFIG
    if not resume or not path.is_file():
        return None
    return dict(read_config(run).get(section) or {})


def write_history(run: Path, history: list[dict[str, Any]]) -> None:
    """Rewrite ``history.jsonl`` (the checkpoint holds the same list, the source of truth)."""
    with atomic_path(Path(run) / "history.jsonl") as tmp:
        tmp.write_text("".join(json.dumps(record) + "\n" for record in history))


def check_resume(run: Path, saved: dict[str, Any], config: Any, may_change: set[str]) -> None:
    """Refuse to resume ``run`` with settings other than it was started with.

    ``saved`` is the run's config as stored, ``config`` the dataclass asked for now; settings
    in ``may_change`` (dotted within sections: ``ppo.timesteps``) may differ. A setting
    missing from ``saved`` (a run saved before it existed) ran with its default.
    """
    defaults = flat_settings(type(config)().to_dict())
    old, new = {**defaults, **flat_settings(saved)}, flat_settings(config.to_dict())
    changed = {
        k: (old.get(k), new.get(k))
        for k in sorted(set(old) | set(new))
        if k not in may_change and old.get(k) != new.get(k)
    }
    if changed:
        raise TcnError(
            f"{run}: --resume with settings that differ from the run's: "
            + ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items())
        )


def flat_settings(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A config's nested settings as ``{"section.name": value}``, tuples as lists."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            flat.update(flat_settings(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = list(value) if isinstance(value, tuple) else value
    return flat


def read_history(run: Path) -> list[dict[str, Any]]:
    path = Path(run) / "history.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
