"""Presets (``config/presets/<kind>_<name>.yaml``) and the command-line flags over them.

Every field of a config dataclass becomes a flag (``--lr``, ``--no-augment``,
``--net-arch 64 64``) whose default None means "keep the preset's value".
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tcn.errors import TcnError
from tcn.paths import share_path


def available(kind: str) -> list[str]:
    directory = share_path("config/presets")
    if directory is None:
        return []
    return sorted(p.stem.removeprefix(f"{kind}_") for p in directory.glob(f"{kind}_*.yaml"))


def preset_path(kind: str, name_or_path: str) -> Path:
    """A preset by name (``config/presets/<kind>_<name>.yaml``) or by YAML path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise TcnError(f"preset file {path} not found")
        return path
    candidate = share_path(f"config/presets/{kind}_{name_or_path}.yaml")
    if candidate is None:
        raise TcnError(
            f"unknown preset {name_or_path!r}; available: {', '.join(available(kind)) or 'none'}"
        )
    return candidate


def load(kind: str, name_or_path: str) -> dict[str, Any]:
    return yaml.safe_load(preset_path(kind, name_or_path).read_text()) or {}


def add_flags(parser: argparse.ArgumentParser, config_type: type) -> list[str]:
    """One flag per field of ``config_type``; returns the field names."""
    group = parser.add_argument_group("configuration (each overrides the preset's value)")
    names = []
    for field in dataclasses.fields(config_type):
        flag = "--" + field.name.replace("_", "-")
        default = field.default
        doc = f"(default from the preset; built-in {default!r})"
        if isinstance(default, bool):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=doc)
        elif isinstance(default, tuple):
            group.add_argument(flag, type=int, nargs="+", default=None, help=doc)
        elif isinstance(default, int):
            group.add_argument(flag, type=int, default=None, help=doc)
        elif isinstance(default, float):
            group.add_argument(flag, type=float, default=None, help=doc)
        else:
            group.add_argument(flag, type=str, default=None, help=doc)
        names.append(field.name)
    return names


def config_from_args(
    kind: str,
    args: argparse.Namespace,
    config_type: type,
    resume_from: Mapping[str, Any] | None = None,
) -> Any:
    """The preset ``args.preset`` of ``kind`` with every flag the user gave applied.

    ``resume_from`` (``--resume`` of a run that exists: its stored settings) replaces the
    preset, so a run resumes as it was started whatever the preset says today; flags
    still apply (the resume check refuses the ones that may not change).
    """
    values = load(kind, args.preset) if resume_from is None else dict(resume_from)
    names = [f.name for f in dataclasses.fields(config_type)]
    values.update({n: getattr(args, n) for n in names if getattr(args, n) is not None})
    return config_type.from_dict(values)
