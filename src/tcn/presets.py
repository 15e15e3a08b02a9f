"""Presets (``config/presets/<kind>_<name>.yaml``) and the command-line flags over them.

Every field of a config dataclass becomes a flag (``--lr``, ``--no-augment``,
``--net-arch 64 64``) whose default None means "keep the preset's value", and whose help is
the field's own documentation: the docstring under it, or its entry in the class
docstring's ``Attributes:`` section (or in that of a config it is passed on to).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import re
import textwrap
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


def field_docs(config_type: type) -> dict[str, str]:
    """Each field's documentation: the string literal right under it in the class body, or
    its entry in an ``Attributes:`` section of the class docstring; one line each."""
    docs: dict[str, str] = {}
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(config_type)))
    except (OSError, TypeError):
        return docs
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    for node, after in zip(body, body[1:], strict=False):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = " ".join(after.value.value.split())
    docs.update(
        {k: v for k, v in attribute_docs(config_type.__doc__ or "").items() if k not in docs}
    )
    return docs


def attribute_docs(docstring: str) -> dict[str, str]:
    """``name: text`` entries of a Google-style ``Attributes:`` section (``a, b: text`` gives
    both), each joined onto one line."""
    lines = inspect.cleandoc(docstring).splitlines()
    if "Attributes:" not in lines:
        return {}
    docs: dict[str, str] = {}
    names: list[str] = []
    for line in lines[lines.index("Attributes:") + 1 :]:
        if line and not line.startswith(" "):
            break
        match = re.match(r"^ {4}(\w[\w, ]*):\s*(.*)$", line)
        if match:
            names = [n.strip() for n in match.group(1).split(",")]
            for name in names:
                docs[name] = match.group(2)
        elif line.strip() and names:
            for name in names:
                docs[name] += " " + line.strip()
    return docs


def add_flags(parser: argparse.ArgumentParser, config_type: type, *more_docs: type) -> list[str]:
    """One flag per field of ``config_type``, its help from :func:`field_docs` (of
    ``config_type``, then of ``more_docs``: the configs its fields are passed on to); returns
    the field names."""
    group = parser.add_argument_group("configuration (each overrides the preset's value)")
    docs: dict[str, str] = {}
    for kind in reversed((config_type, *more_docs)):
        docs.update(field_docs(kind))
    names = []
    for field in dataclasses.fields(config_type):
        flag = "--" + field.name.replace("_", "-")
        default = field.default
        text = docs.get(field.name, "").replace("%", "%%")
        doc = f"{text} (default: the preset's; built-in {default!r})".strip()
        if isinstance(default, bool):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=doc)
        elif isinstance(default, tuple) or "tuple" in str(field.type):
            group.add_argument(flag, type=int, nargs="*", default=None, help=doc)
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
