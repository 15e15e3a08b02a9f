"""Presets (``config/presets/<kind>_<name>.yaml``) and the command-line flags over them.

A config is a dataclass whose fields are settings or sections (config dataclasses of their
own); a preset holds the same nesting in YAML. Every leaf setting becomes one flag, with one
syntax for all verbs: ``--seed 1``, ``--ppo.learning-rate 3e-4``, ``--policy.net-arch 64
64``, ``--observation.no-pose-features``, ``--read.every 5``. A flag's default None means
"keep the preset's value"; its help is the field's own documentation (the docstring under
it, or its entry in the class docstring's ``Attributes:`` section, or in that of a config it
is passed on to), its allowed values where its type is a ``Literal``, and its built-in
default.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import re
import textwrap
import typing
from collections.abc import Callable, Mapping
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


def settings(config_type: type, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """Every leaf setting of the config dataclass ``config_type`` as ``(dotted name, type,
    default)``, depth first: a field whose type is itself a config dataclass is a section,
    and its fields are ``section.field``."""
    hints = typing.get_type_hints(config_type)
    leaves: list[tuple[str, Any, Any]] = []
    for field in dataclasses.fields(config_type):
        kind = hints[field.name]
        if dataclasses.is_dataclass(kind):
            leaves.extend(settings(kind, f"{prefix}{field.name}."))
            continue
        default = (
            field.default_factory()
            if field.default is dataclasses.MISSING
            and field.default_factory is not dataclasses.MISSING
            else field.default
        )
        leaves.append((prefix + field.name, kind, default))
    return leaves


def setting_docs(config_type: type, *more_docs: type, prefix: str = "") -> dict[str, str]:
    """:func:`field_docs` of every leaf setting, by dotted name: a section's own field docs,
    else those of ``more_docs`` (the configs its fields are passed on to) by the field's name."""
    hints = typing.get_type_hints(config_type)
    fallback: dict[str, str] = {}
    for kind in reversed(more_docs):
        fallback.update(field_docs(kind))
    own = field_docs(config_type)
    docs: dict[str, str] = {}
    for field in dataclasses.fields(config_type):
        kind = hints[field.name]
        if dataclasses.is_dataclass(kind):
            docs.update(setting_docs(kind, *more_docs, prefix=f"{prefix}{field.name}."))
        elif field.name in own or field.name in fallback:
            docs[prefix + field.name] = own.get(field.name) or fallback[field.name]
    return docs


def choices_of(kind: Any) -> tuple[Any, ...] | None:
    """The allowed values of a ``Literal[...]`` type (or of ``Literal[...] | None``)."""
    if typing.get_origin(kind) is typing.Literal:
        return typing.get_args(kind)
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    if len(args) == 1 and typing.get_origin(args[0]) is typing.Literal:
        return typing.get_args(args[0])
    return None


def _value_type(kind: Any, default: Any) -> Callable[[str], Any]:
    """How a flag's text becomes the setting's value: ints, floats, and for optional settings
    ``null`` as None."""
    args = typing.get_args(kind)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), kind) if optional else kind
    convert: Callable[[str], Any]
    if base is int or isinstance(default, int) and not isinstance(default, bool):
        convert = int
    elif base is float or isinstance(default, float):
        convert = float
    else:
        convert = str
    if not optional:
        return convert
    return lambda text: None if text.lower() in ("null", "none") else convert(text)


class _Switch(argparse.Action):
    """A bool setting's pair of flags, ``--x`` (True) and ``--no-x`` (False)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        setattr(namespace, self.dest, option != self.option_strings[-1])

    def format_usage(self) -> str:
        return " | ".join(self.option_strings)


def flag_name(name: str, negative: bool = False) -> str:
    """``ppo.learning_rate`` -> ``--ppo.learning-rate`` (``--ppo.no-normalize-obs``
    negative)."""
    *sections, leaf = name.split(".")
    leaf = ("no-" if negative else "") + leaf.replace("_", "-")
    return "--" + ".".join([*sections, leaf])


def add_flags(
    parser: argparse.ArgumentParser,
    config_type: type,
    *more_docs: type,
    title: str = "configuration (each overrides the preset's value)",
    prefix: str = "",
) -> list[str]:
    """One flag per leaf setting of ``config_type`` (:func:`settings`): ``--field`` or
    ``--section.field`` (``--section.no-field`` for a False), the one syntax every verb
    uses. Its help is the field's documentation (:func:`setting_docs`), its allowed values
    (``Literal`` types) and its built-in default; its value None means "keep the
    preset's". ``prefix`` puts every flag under one more section (``--read.every``).
    Returns the dotted names (the flags' ``dest``)."""
    group = parser.add_argument_group(title)
    docs = setting_docs(config_type, *more_docs)
    names = []
    for name, kind, default in settings(config_type):
        dest = prefix + name
        text = docs.get(name, "").replace("%", "%%")
        allowed = choices_of(kind)
        shown = f"one of {', '.join(map(str, allowed))}; " if allowed else ""
        doc = f"{text} ({shown}built-in {default!r})".strip()
        if kind is bool or isinstance(default, bool):
            group.add_argument(
                flag_name(dest),
                flag_name(dest, negative=True),
                dest=dest,
                action=_Switch,
                default=None,
                help=doc,
            )
        elif isinstance(default, tuple) or typing.get_origin(kind) is tuple:
            group.add_argument(
                flag_name(dest), dest=dest, type=int, nargs="*", default=None, help=doc
            )
        else:
            group.add_argument(
                flag_name(dest),
                dest=dest,
                type=_value_type(kind, default),
                choices=allowed,
                metavar=None if allowed else name.rsplit(".", 1)[-1].upper(),
                default=None,
                help=doc,
            )
        names.append(dest)
    return names


def given(args: argparse.Namespace, config_type: type, prefix: str = "") -> dict[str, Any]:
    """The settings of ``config_type`` the user gave as flags, nested by section
    (``{"ppo": {"learning_rate": 3e-4}}``)."""
    values: dict[str, Any] = {}
    for name, _, _ in settings(config_type):
        value = getattr(args, prefix + name, None)
        if value is not None:
            *sections, leaf = name.split(".")
            node = values
            for section in sections:
                node = node.setdefault(section, {})
            node[leaf] = tuple(value) if isinstance(value, list) else value
    return values


def merged(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` applied section by section."""
    out = dict(base)
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


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
    return config_type.from_dict(merged(values, given(args, config_type)))
