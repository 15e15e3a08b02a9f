"""Atomic checkpoint files readable with ``torch.load(..., weights_only=True)``.

A checkpoint is a dict of tensors and plain python data (dict, list, tuple, str, int,
float, bool, None), e.g. ``{"config": cfg.to_dict(), "model": model.state_dict(),
"step": 100}``. :func:`save_checkpoint` refuses anything else up front, so every file it
writes loads with ``weights_only=True`` (no arbitrary code runs on load), and replaces the
target only once the new file is complete: an interrupted save leaves the old file intact.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger(__name__)

_PLAIN = (str, int, float, bool, type(None))


def _check_plain(value: Any, where: str) -> None:
    """Raise ``TypeError`` naming the first entry ``weights_only`` loading would reject.

    Types are matched exactly: subclasses such as ``numpy.float64`` (a ``float``) or named
    tuples pickle as their own class, which ``weights_only`` refuses.
    """
    if isinstance(value, torch.Tensor) or type(value) in _PLAIN:
        return
    if type(value) in (dict, OrderedDict):
        for key, item in value.items():
            if type(key) not in _PLAIN:
                raise TypeError(
                    f"checkpoint key {where}[{key!r}] has type {type(key).__name__}; "
                    f"keys must be str, int, float, bool or None"
                )
            _check_plain(item, f"{where}[{key!r}]")
        return
    if type(value) in (list, tuple):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
        return
    raise TypeError(
        f"checkpoint entry {where} has type {type(value).__name__}; only tensors, dicts, "
        f"lists, tuples, str, int, float, bool and None load with weights_only=True "
        f"(convert dataclasses with to_dict(), arrays with torch.as_tensor, numpy scalars "
        f"with .item())"
    )


def save_checkpoint(path: str | os.PathLike[str], state: Mapping[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically; returns the path.

    The data goes to a temporary file in the same directory, is flushed to disk, and then
    renamed over ``path`` with ``os.replace``; on any error the temporary file is removed and
    an existing ``path`` is untouched. Missing parent directories are created.

    Raises:
        TypeError: ``state`` holds something other than tensors and plain python data.
    """
    if not isinstance(state, Mapping):
        raise TypeError(f"checkpoint state must be a dict, got {type(state).__name__}")
    _check_plain(state, "state")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(dict(state), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    logger.debug("saved checkpoint %s", path)
    return path


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` onto the CPU.

    Uses ``torch.load(path, map_location="cpu", weights_only=True)``.

    Raises:
        FileNotFoundError: no file at ``path`` (the message lists checkpoints next to it).
        ValueError: the file is not a checkpoint of plain data (corrupt or unsafe pickle).
    """
    path = Path(path)
    if not path.is_file():
        near = sorted(p.name for p in path.parent.glob("*.pt")) if path.parent.is_dir() else []
        raise FileNotFoundError(
            f"no checkpoint at {str(path)!r}; .pt files in {str(path.parent)!r}: {near or 'none'}"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unpickling errors have many types
        raise ValueError(
            f"could not load checkpoint {str(path)!r} with weights_only=True: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(state, dict):
        raise ValueError(
            f"checkpoint {str(path)!r} holds a {type(state).__name__}, expected a dict"
        )
    return state
