"""Readings on disk: every demonstration of a dataset read once, cached, resumable.

``tcn read-demos`` and agent training and evaluation share :func:`read_demonstrations`.
A reading by ``render-compare`` or ``pose-head`` is cached as ``<name>-<key>.npy``, with
the camera it was read through (:meth:`~imitation_agent.readers.DemoReader.camera`: the
stored one, or the one self-calibration estimated) as ``<name>-<key>.camera.json``, in the
embedding run's ``readings/<reader>/`` (or ``readings/`` beside a checkpoint file outside a
run), where ``key`` digests what it depends on: the checkpoint's bytes, the demonstration
(its name, recorded joints and frames), its stored camera and scene, the reader's settings and
:data:`READING_VERSION`. A cached file that cannot be read is read again, with a warning.
The demonstrations come back with that reading and that camera, which the agent renders
with.
``recorded`` readings are the bags' own joints and are never cached. Each reading is written
as soon as it is done, so an interrupted run loses at most the demonstrations in flight.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import multiprocessing
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tcn.atomic import atomic_path
from tcn.errors import TcnError
from tcn.runs import run_of

log = logging.getLogger(__name__)

READINGS = "readings"
READING_VERSION = 13
"""Part of every cache key: raise it when a reader changes what it computes."""


def reading_cache_dir(checkpoint: Path | str, reader: str) -> Path:
    """Where ``reader``'s readings with ``checkpoint`` are cached."""
    checkpoint = Path(checkpoint)
    return (run_of(checkpoint) or checkpoint.parent) / READINGS / reader


def reading_key(model_digest: str, reader: str, settings: Mapping[str, Any], demo: Any) -> str:
    """A digest of what a demonstration's reading depends on. The demonstration enters as its
    name, recorded joints, camera and scene (exact numbers from its bag) and its frames
    (so the same demonstration filmed again, ``tcn perturb``, is read again); without its
    frames, its embeddings to 3 decimals (they carry float noise from run to run)."""
    key = hashlib.sha256()
    for part in (
        f"v{READING_VERSION}",
        model_digest,
        reader,
        json.dumps(dict(settings), sort_keys=True),
        demo.name,
        json.dumps(demo.camera.to_dict(), sort_keys=True),
        json.dumps(demo.sim.to_dict(), sort_keys=True),
    ):
        key.update(part.encode())
    key.update(np.ascontiguousarray(demo.joint_positions, dtype=np.float64).tobytes())
    if demo.frames is not None:
        key.update(np.ascontiguousarray(demo.frames, dtype=np.uint8).tobytes())
    else:
        key.update(np.round(np.asarray(demo.embeddings, dtype=np.float64), 3).tobytes())
    return key.hexdigest()[:20]


def _camera_path(path: Path) -> Path:
    return path.with_suffix(".camera.json")


def _load_cached(path: Path, length: int) -> tuple[np.ndarray, Any] | None:
    """The cached reading at ``path`` and its camera, or None (absent, or unreadable: then
    warned)."""
    from kuka_sim import CameraConfig

    if not path.is_file():
        return None
    try:
        joints = np.load(path, allow_pickle=False)
        camera = CameraConfig.from_dict(json.loads(_camera_path(path).read_text()))
    except (OSError, ValueError, EOFError, TypeError) as exc:
        log.warning("%s: unreadable reading (%s); reading it again", path, exc)
        return None
    if joints.shape != (length, 7) or not np.all(np.isfinite(joints)):
        log.warning(
            "%s: holds %s, not (%d, 7) finite joints; reading it again", path, joints.shape, length
        )
        return None
    return joints, camera


def _build_reader(model: Any, reader: str, settings: Mapping[str, Any] | None) -> Any:
    from imitation_agent.readers import make_reader
    from tcn.demonstrations import embedder_of, pose_decoder_of

    return make_reader(
        reader, embed=embedder_of(model), decoder=pose_decoder_of(model), settings=settings
    )


# One reader per worker process, built once by _init_worker.
_WORKER: dict[str, Any] = {}


def _init_worker(checkpoint: str, reader: str, settings: dict[str, Any] | None) -> None:
    """Build this worker's reader. A failure is kept for the first task to raise: raised
    here, it would end the worker, and the pool would start another forever."""
    import torch

    from tcn.embedding_run import load_embedding_model

    torch.set_num_threads(1)
    try:
        _WORKER["reader"] = _build_reader(load_embedding_model(checkpoint), reader, settings)
    except Exception as exc:  # noqa: BLE001 - re-raised in the parent by the first task
        _WORKER["error"] = exc


def _read_one(reader: Any, demo: Any) -> tuple[str, np.ndarray, Any, float]:
    """``demo`` read by ``reader``: its name, joints, camera and the seconds it took."""
    start = time.perf_counter()
    joints = reader.read(demo)
    return demo.name, joints, reader.camera(demo), time.perf_counter() - start


def _read_in_worker(demo: Any) -> tuple[str, np.ndarray, Any, float]:
    if "error" in _WORKER:
        raise _WORKER["error"]
    return _read_one(_WORKER["reader"], demo)


def read_demonstrations(
    demos: Sequence[Any],
    reader: str,
    model: Any,
    checkpoint: Path | str,
    *,
    settings: Mapping[str, Any] | None = None,
    cache: Path | None = None,
    workers: int = 1,
    progress: bool = False,
) -> list:
    """``demos`` (:class:`~imitation_agent.Demonstration`) with ``reading`` filled by
    ``reader`` (:data:`imitation_agent.readers.READERS`) in ``model``'s embedding (loaded
    from ``checkpoint``), from the cache where it holds them (module docstring).

    ``workers`` > 1 reads the missing ones in that many processes (each loads the checkpoint
    and runs one torch thread); ``render-compare`` needs each demonstration's frames.
    """
    from tqdm import tqdm

    from imitation_agent.readers import READERS

    if reader not in READERS:
        raise TcnError(f"unknown reader {reader!r}; expected one of {', '.join(READERS)}")
    if reader == "recorded":
        if settings:
            raise TcnError(f"the recorded reader takes no settings, got {sorted(settings)}")
        return [dataclasses.replace(d, reading=np.array(d.joint_positions)) for d in demos]
    if reader == "render-compare":
        missing = [d.name for d in demos if d.frames is None]
        if missing:
            raise TcnError(f"render-compare needs the demonstrations' frames: {missing[:3]}")
    checkpoint = Path(checkpoint)
    cache = reading_cache_dir(checkpoint, reader) if cache is None else Path(cache)
    built = _build_reader(model, reader, settings)  # validates the settings up front
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    keys = {d.name: reading_key(digest, reader, built.settings(), d) for d in demos}
    paths = {d.name: cache / f"{Path(d.name).stem}-{keys[d.name]}.npy" for d in demos}
    readings = {d.name: _load_cached(paths[d.name], len(d)) for d in demos}
    todo = [d for d in demos if readings[d.name] is None]
    if todo:
        log.info(
            "reading %d of %d demonstrations (%s, %d worker%s); %d cached in %s",
            len(todo),
            len(demos),
            reader,
            workers,
            "" if workers == 1 else "s",
            len(demos) - len(todo),
            cache,
        )
    cache.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=len(todo), unit="demo", desc=f"read-demos ({reader})", disable=not progress)

    def store(name: str, joints: np.ndarray, camera: Any, seconds: float) -> None:
        with atomic_path(_camera_path(paths[name]), suffix=".json") as tmp:
            tmp.write_text(json.dumps(camera.to_dict(), sort_keys=True))
        with atomic_path(paths[name], suffix=".npy") as tmp, tmp.open("wb") as f:
            np.save(f, joints)
        readings[name] = joints, camera
        bar.update(1)
        log.info("read %s in %.1f s", name, seconds)

    try:
        if workers > 1 and len(todo) > 1:
            context = multiprocessing.get_context("forkserver")
            with context.Pool(
                min(workers, len(todo)),
                initializer=_init_worker,
                initargs=(str(checkpoint), reader, dict(settings or {})),
            ) as pool:
                for read in pool.imap_unordered(_read_in_worker, todo):
                    store(*read)
        else:
            for demo in todo:
                store(*_read_one(built, demo))
    finally:
        built.close()
        bar.close()
    return [
        dataclasses.replace(d, reading=readings[d.name][0], camera=readings[d.name][1])
        for d in demos
    ]


def reading_report(demos: Sequence[Any]) -> dict[str, Any]:
    """Read ``demos`` against their recorded joints: the share of final poses within the
    success threshold, the median and mean final error and the mean per-frame error (rad),
    and the same per demonstration."""
    from imitation_agent.env import SUCCESS_THRESHOLD
    from imitation_agent.readers import reading_errors

    per_demo = {d.name: reading_errors(d.reading, d.joint_positions) for d in demos}
    final = np.array([e["final_error"] for e in per_demo.values()])
    mean = np.array([e["mean_error"] for e in per_demo.values()])
    return {
        "demos": len(per_demo),
        "final_success_rate": float(np.mean(final < SUCCESS_THRESHOLD)),
        "final_error_median": float(np.median(final)),
        "final_error_mean": float(final.mean()),
        "mean_error": float(mean.mean()),
        "per_demo": per_demo,
    }
